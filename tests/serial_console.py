"""A real guest's serial console as `virsh console` reaches it: its pty, opened by the test.

Tests log in and type there, as a student at the console would.
"""

import os
import re
import select
import subprocess
import time
import tty

import pytest

# The tiny guest's root prompt; ash may follow it with a request for the cursor position.
PROMPT = r"# (\x1b\[6n)?$"


class SerialConsole:
    def __init__(self, uri, domain):
        path = subprocess.run(["virsh", "-c", uri, "ttyconsole", domain], capture_output=True, text=True).stdout.strip()
        assert path.startswith("/dev/pts/"), f"{domain} has no serial pty on {uri}: {path!r}"
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.unread = ""

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, pattern, timeout, poke=None):
        """What the guest printed up to and including `pattern`; sends `poke` while it is quiet."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.unread)):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no {pattern!r} on the console in {timeout} s:\n{self.unread[-2000:]}")
            if select.select([self.fd], [], [], min(left, 2))[0]:
                self.unread += os.read(self.fd, 4096).decode(errors="replace")
            elif poke:
                self.send(poke)
        said, self.unread = self.unread[: found.end()], self.unread[found.end() :]
        return said

    def login(self, user, password):
        self.expect(r"login: $", 60, poke="\r")  # a fresh prompt: getty may have printed one to nobody
        self.send(f"{user}\r")
        self.expect(r"Password: $", 15)
        self.send(f"{password}\r")
        said = self.expect(PROMPT + "|Login incorrect", 30)
        assert "Login incorrect" not in said, said

    def run(self, command, timeout=60):
        """The command's output, and its exit status."""
        self.send(f"{command}; echo EXIT-STATUS-$?\r")
        said = self.expect(r"EXIT-STATUS-(\d+)", timeout)
        return said, int(re.search(r"EXIT-STATUS-(\d+)", said)[1])

    def close(self, log_out=True):
        if log_out:
            self.send("exit\r")
        os.close(self.fd)
