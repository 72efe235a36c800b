"""Two private libvirtds on one machine, as two service hosts of a cluster (tests only).

Each libvirtd runs in network, mount and UTS namespaces of its own:

- network: `ip netns` `<prefix>-left` and `-right`, joined by one veth pair,
  10.255.0.1/30 and 10.255.0.2/30. Those addresses exist only inside the two
  namespaces; the host's own network is not touched.
- mount: private /run/libvirt, /var/lib/libvirt, /etc/libvirt,
  /var/log/libvirt and /var/cache/libvirt, bind-mounted from folders under
  `root`, so the machine's own libvirtd (qemu:///system) and its guests are
  neither seen nor disturbed. Everything else (/boot, the checkout, `root`
  itself) is the host's, at the same paths in both: that is the shared
  storage live migration needs.
- UTS: hostnames `left` and `right`.

libvirtd.conf gives each a host UUID of its own (migration refuses to go to
the "same host"), TCP without authentication on its veth address only, and
`--listen` turns TCP on (libvirt 9 without systemd socket activation).
qemu.conf runs guests as root with no relabelling and no cgroups (nothing of
the machine's libvirtd is shared), writes serial logs itself
(`stdio_handler = "file"`: no virtlogd), and names the veth address as the
migration address, so the peer's qemu connects there and not to whatever the
machine's hostname resolves to.

The daemons of the product, in the host's namespaces, reach each libvirtd
through its UNIX socket (`qemu+unix:///system?socket=...`), which a network
namespace does not hide; the libvirtds reach each other over TCP, peer to
peer. `close()` destroys every guest, stops both libvirtds, deletes the
namespaces (and with them the veth pair) and the folders, whatever failed.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

SIDES = {"left": "10.255.0.1", "right": "10.255.0.2"}
FOLDERS = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "etc": "/etc/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}

LIBVIRTD_CONF = """listen_tls = 0
listen_tcp = 1
listen_addr = "{address}"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0700"
host_uuid = "{host_uuid}"
log_outputs = "3:file:{log}"
"""
QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
migration_address = "{address}"
migration_host = "{address}"
vnc_listen = "127.0.0.1"
"""


class PairError(Exception):
    """A step of the set-up failed; the message names it and what the command said."""


def run(*command):
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise PairError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


class Libvirtd:
    def __init__(self, pair, side):
        self.side, self.address = side, SIDES[side]
        self.netns = f"{pair.prefix}-{side}"
        self.folder = pair.root / side
        self.uri = f"qemu+unix:///system?socket={self.folder / 'run' / 'libvirt-sock'}"
        self.migration_uri = f"qemu+tcp://{self.address}/system"  # how the other libvirtd reaches this one
        self.process = None

    def write_config(self):
        for name in FOLDERS:
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        (self.folder / "etc" / "libvirtd.conf").write_text(
            LIBVIRTD_CONF.format(address=self.address, host_uuid=uuid.uuid4(), log=FOLDERS["log"] + "/libvirtd.log")
        )
        (self.folder / "etc" / "qemu.conf").write_text(QEMU_CONF.format(address=self.address))

    def start(self):
        mounts = "; ".join(f"mount --bind {self.folder / name} {target}" for name, target in FOLDERS.items())
        script = (
            f"set -e; hostname {self.side}; {mounts}; exec libvirtd --listen "
            f"--pid-file {FOLDERS['run']}/libvirtd.pid --config {FOLDERS['etc']}/libvirtd.conf"
        )
        # ip netns exec and unshare exec what follows: the process started here is libvirtd itself.
        self.process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
            ],
            stdout=open(self.folder / "stdout.log", "w"),  # noqa: SIM115 - the process writes it after this returns
            stderr=subprocess.STDOUT,
        )

    def wait(self, seconds=30):
        import libvirt

        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                raise PairError(f"libvirtd {self.side} exited ({self.process.returncode}): {self.log()}")
            try:
                libvirt.open(self.uri).close()
                return
            except libvirt.libvirtError as exc:
                if time.monotonic() > deadline:
                    raise PairError(f"libvirtd {self.side} does not answer on {self.uri}: {exc}") from exc
            time.sleep(0.1)

    def log(self):
        texts = [
            p.read_text(errors="replace")[-3000:]
            for p in (self.folder / "stdout.log", self.folder / "log" / "libvirtd.log")
            if p.exists()
        ]
        return "\n".join(texts)

    def in_netns(self, *command):
        """A command run in this libvirtd's network namespace (e.g. virsh over TCP to the peer)."""
        return run("ip", "netns", "exec", self.netns, *command)

    def destroy_guests(self):
        """Every guest this libvirtd runs, through libvirt, else by its qemu's pid file."""
        import libvirt

        try:
            with_connection = libvirt.open(self.uri)
        except libvirt.libvirtError:
            with_connection = None
        if with_connection is not None:
            for domain in with_connection.listAllDomains(0):
                try:
                    if domain.isActive():
                        domain.destroy()
                    domain.undefine()
                except libvirt.libvirtError:
                    pass
            with_connection.close()
        for pid_file in (self.folder / "run" / "qemu").glob("*.pid"):
            kill(pid_file)

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout and self.process.stdout.close()


def kill(pid_file):
    with contextlib.suppress(ValueError, OSError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


class LibvirtPair:
    """`left` and `right`: two libvirtds a live migration can go between."""

    def __init__(self, root):
        self.root = Path(root)
        self.prefix = f"mlnlm-{uuid.uuid4().hex[:6]}"
        self.left, self.right = Libvirtd(self, "left"), Libvirtd(self, "right")
        self.made_netns = []

    def __iter__(self):
        return iter((self.left, self.right))

    def start(self):
        for libvirtd in self:
            run("ip", "netns", "add", libvirtd.netns)
            self.made_netns.append(libvirtd.netns)
        ends = {side: f"mln{side[0]}{self.prefix[-6:]}" for side in SIDES}  # at most 15 characters
        run(
            "ip",
            "-n",
            self.left.netns,
            "link",
            "add",
            ends["left"],
            "type",
            "veth",
            "peer",
            "name",
            ends["right"],
            "netns",
            self.right.netns,
        )
        for libvirtd in self:
            run("ip", "-n", libvirtd.netns, "addr", "add", f"{libvirtd.address}/30", "dev", ends[libvirtd.side])
            run("ip", "-n", libvirtd.netns, "link", "set", "lo", "up")
            run("ip", "-n", libvirtd.netns, "link", "set", ends[libvirtd.side], "up")
        for libvirtd in self:
            libvirtd.write_config()
            libvirtd.start()
        for libvirtd in self:
            libvirtd.wait()
        return self

    def close(self):
        """Leaves nothing: guests, libvirtds, namespaces (the veth pair goes with them), folders."""
        for libvirtd in self:
            for step in (libvirtd.destroy_guests, libvirtd.stop):
                with contextlib.suppress(Exception):  # a failed step must not keep the next from running
                    step()
        for netns in self.made_netns:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self):
        """What of the pair is still on the machine: for the test that the teardown is whole."""
        names = run("ip", "netns", "list")
        found = [n for n in self.made_netns if n in names]
        found += [f"libvirtd {daemon.side}" for daemon in self if daemon.process and daemon.process.poll() is None]
        found += [str(self.root)] if self.root.exists() else []
        return found
