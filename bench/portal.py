"""How fast the portal's websockets are: live progress latency, console relay throughput.

    .venv/bin/python bench/portal.py [EVENTS] [MIB] [ROUNDS]

Both against the real web server (mlnweb/server.py: uvicorn serving mlnweb.asgi), started here on a free port,
with the real channels-redis layer (Redis of `make redis`, on a database
number of its own), on a throwaway SQLite database.

1. Latency: a job's event, stored with Build.log_event and sent with
   daemon.cluster.builds.broadcast exactly as the daemon sends it, to its arrival
   in a websocket client of /ws/progress/course/<id>/ (one at a time;
   EVENTS of them, default 1,000; target p99 under 50 ms).
2. Throughput: a local VNC-like display greets with "RFB 003.008\\n" and,
   once answered, streams MIB MiB (default 128). The same websocket client
   reads it through the console relay /ws/console/<host>/ and through
   websockify relaying the same display, alternately, ROUNDS times each
   (default 5); the best MB/s of each is compared, since other work on a
   shared machine only ever slows a round down (target: relay at least 0.8
   times websockify).
"""

import asyncio
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6390/13")
GREETING = b"RFB 003.008\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {seconds} s")


def clear_redis():
    """The bench's own Redis database starts empty: groups of an earlier run's server linger
    for a day (channels-redis group expiry), and every event would be sent to them too."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def setup_django(workdir):
    os.environ["MLN_VAR_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlnweb.settings"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a throwaway site's own
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_world(display_port):
    """An instructor's course with one project and one running host whose display is `display_port`."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth.models import User

    from daemon.cluster import builds
    from projects.choices import Action, HostState
    from projects.models import Course, Group, Host, Project

    ada = User.objects.create_user("ada", password="pw")
    course = Course.objects.create(name="Bench", short_name="bench", owner=ada, master_name="m.mln")
    project = Project.objects.create(name="bench01", group=Group.objects.create(course=course, row=1))
    host = Host.objects.create(
        project=project, name="server", state=HostState.RUNNING, vnc_port=display_port, service_host="localhost"
    )
    build = builds.submit(project, Action.BUILD, "localhost")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session.update(
        {
            "_auth_user_id": str(ada.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": ada.get_session_auth_hash(),
        }
    )
    session.create()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    return course, host, build, cookie


def start_server(port, log):
    # Its log goes to a file: a pipe nobody reads would fill up and stop the server.
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "mlnweb.server", "--port", str(port)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, process)
    return process


def start_websockify(port, display_port):
    process = subprocess.Popen(
        [str(BIN / "websockify"), f"127.0.0.1:{port}", f"127.0.0.1:{display_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process)
    return process


# --- 1. latency -------------------------------------------------------------------------------


async def bench_latency(url, origin, cookie, build, count):
    import websockets

    from daemon.cluster.builds import broadcast

    def emit(i):
        # What the daemon does for one event, in a thread of its own as a worker would.
        event = build.log_event("step", f"event {i}", host_name="server", done=i, total=count)
        broadcast(build.project, event)

    headers = {"Cookie": cookie, "Origin": origin}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        assert (await ws.recv()) == '{"type": "replayed"}'
        latencies = []
        for i in range(1, count + 1):
            started = time.perf_counter()
            await asyncio.to_thread(emit, i)
            message = await ws.recv()
            latencies.append(time.perf_counter() - started)
            assert f'"seq": {i},' in message, message
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"progress latency, {count} events (log_event + broadcast -> websocket client): "
        f"p50 {p50 * 1000:5.1f} ms, p99 {p99 * 1000:5.1f} ms, max {latencies[-1] * 1000:5.1f} ms"
        f"  (target p99 < 50 ms)"
    )
    return p99


# --- 2. throughput ----------------------------------------------------------------------------


def serve_display(listener, size):
    """A VNC-like display: greets, reads the client's version, streams `size` bytes, and stays
    until the client leaves, as a guest's display does."""
    chunk = os.urandom(1 << 16)
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(GREETING)
            got = b""
            while len(got) < len(GREETING):
                data = conn.recv(64)
                if not data:
                    break
                got += data
            left = size
            while left > 0:
                left -= conn.send(chunk[: min(left, len(chunk))])
            while conn.recv(64):
                pass


async def read_stream(url, size, headers=None):
    import websockets

    async with websockets.connect(
        url, subprotocols=["binary"], additional_headers=headers or {}, max_size=None, compression=None
    ) as ws:
        assert (await ws.recv()) == GREETING
        started = time.perf_counter()
        await ws.send(GREETING)
        got = 0
        while got < size:
            got += len(await ws.recv())
        return size / (time.perf_counter() - started) / 1e6


class StreamBroken(Exception):
    """A relay hung up before the whole stream came through."""


async def read_stream_or_fail(name, url, size, headers=None):
    import websockets

    try:
        return await read_stream(url, size, headers)
    except websockets.ConnectionClosed as exc:
        raise StreamBroken(f"{name}: {exc}") from exc


async def bench_throughput(relay_url, websockify_url, origin, cookie, size, rounds):
    relay, websockify = [], []
    headers = {"Cookie": cookie, "Origin": origin}
    for _ in range(rounds):
        relay.append(await read_stream_or_fail("console relay", relay_url, size, headers))
        websockify.append(await read_stream_or_fail("websockify", websockify_url, size))
    best_relay, best_websockify = max(relay), max(websockify)
    mib = size >> 20
    print(
        f"console relay, {mib} MiB VNC-like stream: best {best_relay:6.1f} MB/s "
        f"(rounds: {', '.join(f'{r:.0f}' for r in relay)})"
    )
    print(
        f"websockify,    {mib} MiB same stream:     best {best_websockify:6.1f} MB/s "
        f"(rounds: {', '.join(f'{r:.0f}' for r in websockify)})"
    )
    print(f"relay / websockify: {best_relay / best_websockify:4.2f}  (target >= 0.8)")


def main():
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    size = (int(sys.argv[2]) if len(sys.argv) > 2 else 128) << 20
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with tempfile.TemporaryDirectory(prefix="mln-bench-portal-") as workdir:
        clear_redis()
        setup_django(Path(workdir))
        listener = socket.create_server(("127.0.0.1", 0))
        # A process of its own, as a guest's display is: it must not share the client's interpreter.
        display = multiprocessing.get_context("fork").Process(target=serve_display, args=(listener, size), daemon=True)
        display.start()
        display_port = listener.getsockname()[1]
        course, host, build, cookie = make_world(display_port)
        server_port, websockify_port = free_port(), free_port()
        log = open(Path(workdir) / "server.log", "wb")  # noqa: SIM115 - the servers write it until they stop
        servers = [start_server(server_port, log), start_websockify(websockify_port, display_port)]
        try:
            base, origin = f"ws://127.0.0.1:{server_port}", f"http://127.0.0.1:{server_port}"
            asyncio.run(bench_latency(f"{base}/ws/progress/course/{course.pk}/", origin, cookie, build, events))
            asyncio.run(
                bench_throughput(
                    f"{base}/ws/console/{host.pk}/", f"ws://127.0.0.1:{websockify_port}/", origin, cookie, size, rounds
                )
            )
        except Exception:
            print((Path(workdir) / "server.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for process in servers:
                process.terminate()
                process.wait(10)
            display.terminate()


if __name__ == "__main__":
    main()
