"""The console relay's memory stays bounded whatever the browser or the display does.

A real web server process (mlnweb/server.py) relays real TCP displays to raw websocket clients
that misbehave as an attacker would: a browser that never reads while the display floods it and
it keeps asking for updates, a display that never reads while the browser floods it, and a
browser that floods pings and never reads the pongs. The server's resident memory
(/proc/PID/status VmRSS) may grow by at most BOUND over its warmed-up size: the consoles' buffers
(two console_buffer each) and the allocator's slack. Daphne, which the site used to run, grew by
hundreds of MB a second under the first two.
"""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from projects.choices import HostState

from .conftest import session_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # a server process, and seconds of traffic

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MiB = 1024 * 1024
CONSOLE_BUFFER = 1 * MiB
CONSOLES_EACH = 4  # of each kind of misbehaviour
SECONDS = 6
# Three kinds of console, each allowed its two buffers, and 16 MiB for the allocator and the
# connections' own state (measured: +9 to +11 MiB in all). Daphne passed it in under a second.
BOUND = 3 * CONSOLES_EACH * 2 * CONSOLE_BUFFER + 16 * MiB
GREETING = b"RFB 003.008\n"
UPDATE_REQUEST = bytes([3, 1, 0, 0, 0, 0, 0x04, 0x00, 0x03, 0x00])  # incremental, 1024x768


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def server(tmp_path):
    """mlnweb.server on a free port, on the test database, console_buffer 1M."""
    conf = tmp_path / "mln.conf"
    conf.write_text(f"console_buffer {CONSOLE_BUFFER}\n")
    port = free_port()
    env = {
        **os.environ,
        "MLN_CONF": str(conf),
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # our sessions
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - the process writes it after this returns
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "mlnweb.server", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            assert time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.1)
        process.port = port
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Display:
    """A VNC-ish display on 127.0.0.1 in threads of its own: greets, then floods (`flood`) or sits
    without ever reading (`stall`). Counts what it sent."""

    def __init__(self, behaviour):
        self.behaviour, self.sent, self.stop = behaviour, 0, threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            conn.sendall(GREETING)
            if self.behaviour == "flood":
                threading.Thread(target=self.flood, args=(conn,), daemon=True).start()
                threading.Thread(target=self.discard, args=(conn,), daemon=True).start()

    def flood(self, conn):
        screen = os.urandom(64 * 1024)
        conn.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.sent += conn.send(screen)
            except TimeoutError:
                continue
            except OSError:
                return

    def discard(self, conn):
        with contextlib.suppress(OSError):
            while not self.stop.is_set() and conn.recv(1 << 16):
                pass

    def close(self):
        self.stop.set()
        self.listener.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()


class RawConsole:
    """A websocket client over a plain socket with a small receive buffer, that never reads after
    the handshake: websockets' sans-I/O protocol writes its frames, nothing buffers for it."""

    def __init__(self, port, host_id, session_key):
        self.sent = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/ws/console/{host_id}/"),
            origin=f"http://127.0.0.1:{port}",
            subprotocols=["binary"],
        )
        request = self.protocol.connect()
        request.headers["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session_key}"
        self.protocol.send_request(request)
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        self.sock.settimeout(10)
        self.frames, answered = [], False
        while not answered:
            self.protocol.receive_data(self.sock.recv(4096))  # the response, maybe the greeting too
            for event in self.protocol.events_received():
                answered = answered or isinstance(event, Response)
                if isinstance(event, Frame):
                    self.frames.append(event.data)
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc
        self.sock.settimeout(0.2)

    def send_frames(self, frames):
        try:
            self.sock.sendall(frames)
            self.sent += len(frames)
        except TimeoutError:
            pass  # the server pushes back: try again, as long as the test runs

    def close(self):
        self.sock.close()


def misbehave(console, opcode, data, stop):
    # Frames by the hundred kilobytes per write: small ones one by one would measure Python's speed.
    count = max(1, (128 * 1024) // len(data))
    frames = b"".join(Frame(opcode, data).serialize(mask=True, extensions=[]) for _ in range(count))
    while not stop.is_set():
        console.send_frames(frames)


def running_on(host, port):
    host.state, host.vnc_port = HostState.RUNNING, port
    host.save()


def test_neither_a_browser_nor_a_display_that_never_reads_grows_the_server(server, world):
    flood, stall = Display("flood"), Display("stall")
    running_on(world.host1, flood.port)
    running_on(world.host2, stall.port)
    key = session_of(world.ada)
    stop, consoles, threads = threading.Event(), [], []
    try:
        warm_up(server.port, world.host1.pk, key)
        before = rss(server.pid)
        kinds = [
            (world.host1, Opcode.BINARY, UPDATE_REQUEST),  # floods us, we ask for more
            (world.host2, Opcode.BINARY, os.urandom(64 * 1024)),  # the display never reads
            (world.host1, Opcode.PING, b"p" * 125),
        ]  # pongs nobody reads
        consoles = [RawConsole(server.port, host.pk, key) for host, _, _ in kinds * CONSOLES_EACH]
        for console, (_, opcode, data) in zip(consoles, kinds * CONSOLES_EACH, strict=True):
            threads.append(threading.Thread(target=misbehave, args=(console, opcode, data, stop), daemon=True))
            threads[-1].start()
        peak, started = before, time.monotonic()
        while time.monotonic() < started + SECONDS:
            peak = max(peak, rss(server.pid))
            assert peak - before < BOUND, (
                f"the server grew by {(peak - before) / MiB:.0f} MiB in {time.monotonic() - started:.1f} s"
            )
            time.sleep(0.05)
        print(
            f"\nserver RSS {before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB (+{(peak - before) / MiB:.1f}, "
            f"bound {BOUND / MiB:.0f}); display flooded {flood.sent / MiB:.0f} MiB, browsers sent "
            f"{sum(c.sent for c in consoles) / MiB:.0f} MiB"
        )
        # Both ways were pushed on, and the relay carried what fit in its buffers.
        assert flood.sent > 2 * MiB and sum(c.sent for c in consoles[1::3]) > 2 * MiB
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        for console in consoles:
            console.close()
        flood.close()
        stall.close()
    # The server still relays a console that behaves.
    warm_up(server.port, world.host1.pk, key)


def warm_up(port, host_id, session_key):
    """A console that behaves: its greeting comes through."""
    console = RawConsole(port, host_id, session_key)
    try:
        console.sock.settimeout(10)
        received = b"".join(console.frames)
        while GREETING not in received:
            data = console.sock.recv(1 << 16)
            assert data, f"the server hung up: {console.protocol.close_rcvd}"
            console.protocol.receive_data(data)
            received += b"".join(e.data for e in console.protocol.events_received() if isinstance(e, Frame))
    finally:
        console.close()
