"""Websockets: the live progress of builds, and the console relay to a guest's VNC display.

Both check access first, through projects.access, and say why they close
with a close code (the code is what a page can rely on; the reason is sent
too, for people reading the browser's console):
"""

import asyncio
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.db.models import F, Max

from daemon import conf as mlnconf
from daemon.cluster import builds
from projects.access import NoAccess, course_for_instructor, host_for_viewer, project_for_watcher, session_tokens
from projects.choices import BuildStatus, HostState
from projects.models import Build, BuildEvent

log = logging.getLogger(__name__)

CLOSE_NO_ACCESS = 4403  # no such object, or not yours
CLOSE_NOT_RUNNING = 4404  # the host is not running (as its daemon last reported)
CLOSE_NO_DISPLAY = 4502  # the host runs but its VNC display does not answer


def group_name(kind, pk):
    """The channel-layer group the daemon sends a course's or a project's events to (daemon/cluster/builds.py)."""
    return builds.course_group(pk) if kind == "course" else builds.project_group(pk)


# --- progress -------------------------------------------------------------------------------


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/progress/<course|project>/<id>/?after=<build>.<seq>,...`: stored events, then the live tail.

    The client gives the last seq it holds of each build (`after`); it gets
    every later event of the builds on show exactly once, in seq order per
    build. No gap: the consumer joins the group before it reads the stored
    events, and keeps live events aside until the replay is sent. No
    duplicate: it remembers the last seq sent per build and drops what is not
    newer. The daemon sends only the last event of each batch it stores, so a
    live event that skips seqs is preceded by the missing ones, read back.

    Messages to the client: {"type": "builds", "builds": [{project, build, status}, ...]} first,
    the latest build of each project as it stands (a queued one has no events yet, and an older
    build of its project then counts no more), {"type": "events", "events": [EVENT, ...]}, and
    {"type": "replayed"} once, when the stored events are all sent. EVENT:
    project, build, seq, step, host, level, message, done, total, time (ISO 8601).
    """

    async def connect(self):
        kind, pk = self.scope["url_route"]["kwargs"]["kind"], int(self.scope["url_route"]["kwargs"]["pk"])
        await self.accept()
        try:
            await database_sync_to_async(_watchable)(self.scope, kind, pk)
        except NoAccess:
            await self.close(code=CLOSE_NO_ACCESS, reason="no access")
            return
        self.sent = parse_after(self.scope.get("query_string", b""))
        self.held = []  # live events that arrived during the replay
        self.replaying = True
        self.group = group_name(kind, pk)
        # Join first: an event stored while we read is then also on its way to us.
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.groups.append(self.group)  # so the base class leaves the group on disconnect
        self.replay = asyncio.create_task(self.send_replay(kind, pk))

    async def send_replay(self, kind, pk):
        try:
            latest = await database_sync_to_async(latest_builds)(kind, pk)
            if latest:
                await self.send_json({"type": "builds", "builds": latest})
            events = await database_sync_to_async(stored_events)(kind, pk, dict(self.sent))
            await self.send_new(events)
            # Handlers run while we await: take what they held until none is left, then go live
            # (no await between the last check and the switch, so nothing slips between).
            while self.held:
                held, self.held = self.held, []
                for event in held:
                    await self.send_live(event)
            self.replaying = False
            await self.send_json({"type": "replayed"})
        except Exception:  # the page reconnects with its cursor and loses nothing
            log.exception("progress replay failed")
            await self.close(code=1011)

    async def build_event(self, message):
        """A daemon's event (daemon.cluster.builds.broadcast)."""
        event = {k: message.get(k) for k in EVENT_FIELDS}
        if self.replaying:
            self.held.append(event)
        else:
            await self.send_live(event)

    async def send_live(self, event):
        build, seq = event["build"], event["seq"]
        last = self.sent.get(build, 0)
        if seq <= last:
            return  # sent already, by the replay or an earlier read-back
        if seq == last + 1 and event["time"] and event["project"]:
            await self.send_new([event])
        else:
            await self.send_new(await database_sync_to_async(events_between)(build, last, seq))

    async def send_new(self, events):
        fresh = []
        for event in events:
            if event["seq"] > self.sent.get(event["build"], 0):
                self.sent[event["build"]] = event["seq"]
                fresh.append(event)
        if fresh:
            await self.send_json({"type": "events", "events": fresh})

    async def receive(self, text_data=None, bytes_data=None):
        pass  # the stream is one way (the cursor comes with the URL): whatever a client sends is ignored

    async def disconnect(self, code):
        replay = getattr(self, "replay", None)
        if replay and not replay.done():
            replay.cancel()


EVENT_FIELDS = ("project", "build", "seq", "step", "host", "level", "message", "done", "total", "time")


def _watchable(scope, kind, pk):
    """A course's progress is its instructor's; a project's is also for the students of its group
    (their page and their consoles follow it), checked like the console."""
    user = scope.get("user")
    if kind == "course":
        course_for_instructor(user, pk)
        return
    # The session is read here, in a thread: reading it loads it from the database.
    project_for_watcher(user, pk, session_tokens(scope.get("session")))


def parse_after(query_string):
    """`after=12.40,13.7` -> {12: 40, 13: 7}; anything malformed is ignored (the client gets more, not less)."""
    after = {}
    for value in parse_qs(query_string.decode("latin-1")).get("after", []):
        for pair in value.split(","):
            build, _, seq = pair.partition(".")
            if build.isdigit() and seq.isdigit():
                after[int(build)] = int(seq)
    return after


def builds_on_show(kind, pk):
    """The latest build of each project, and any still queued or running: what the bars show."""
    shown = Build.objects.filter(**({"project__group__course_id": pk} if kind == "course" else {"project_id": pk}))
    latest = shown.values("project_id").annotate(last=Max("pk")).values_list("last", flat=True)
    active = shown.filter(status__in=[BuildStatus.QUEUED, BuildStatus.RUNNING]).values_list("pk", flat=True)
    return {*latest, *active}


def latest_builds(kind, pk):
    """The latest build of each project on show, with its status: what the bars count."""
    shown = Build.objects.filter(**({"project__group__course_id": pk} if kind == "course" else {"project_id": pk}))
    latest = shown.values("project_id").annotate(last=Max("pk")).values_list("last", flat=True)
    rows = Build.objects.filter(pk__in=list(latest)).order_by("pk").values_list("project_id", "pk", "status")
    return [{"project": project, "build": build, "status": status} for project, build, status in rows]


def stored_events(kind, pk, after):
    rows = BuildEvent.objects.filter(build_id__in=builds_on_show(kind, pk)).order_by("pk")
    return [e for e in _event_dicts(rows) if e["seq"] > after.get(e["build"], 0)]


def events_between(build_id, after_seq, up_to_seq):
    rows = BuildEvent.objects.filter(build_id=build_id, seq__gt=after_seq, seq__lte=up_to_seq).order_by("seq")
    return list(_event_dicts(rows))


def _event_dicts(rows):
    """Stored events in the format the daemons send them live (builds.event_message)."""
    for event in rows.annotate(project_pk=F("build__project_id")):
        yield {k: v for k, v in builds.event_message(event, event.project_pk).items() if k in EVENT_FIELDS}


# --- console --------------------------------------------------------------------------------

# Bytes in flight per console, each way, stay under mln.conf's console_buffer whatever either end
# does: the server (mlnweb/server.py, uvicorn) returns from a send only once the browser's socket
# takes more, and reads no next message from the browser until the relay took the last one; the
# relay reads the display one chunk at a time and writes to it only while its buffer has room.
# A quarter of console_buffer for each of: the browser's message being read, the one the relay
# holds, the display's write buffer (mlnweb.server.MESSAGE_SHARE).
CONNECT_TIMEOUT = 5


class DisplayLink(asyncio.Protocol):
    """The TCP side of a console: one chunk from the display at a time, handed over as it came
    (no stream buffer to copy through), and back-pressure on what the browser sends."""

    def __init__(self, write_buffer):
        self.write_buffer = write_buffer
        self.chunks, self.arrived, self.ended = [], asyncio.Event(), False
        self.writable = asyncio.Event()
        self.writable.set()

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=self.write_buffer)

    def data_received(self, data):
        self.chunks.append(data)
        self.transport.pause_reading()  # until the relay has forwarded it
        self.arrived.set()

    def connection_lost(self, exc):
        self.ended = True
        self.arrived.set()
        self.writable.set()

    def pause_writing(self):
        self.writable.clear()

    def resume_writing(self):
        self.writable.set()

    async def next_chunk(self):
        """What the display sent since the last call, or b"" once it hung up."""
        while not self.chunks and not self.ended:
            self.arrived.clear()
            await self.arrived.wait()
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        # Read the next chunk while the server sends this one: one chunk ahead, no more.
        self.transport.resume_reading()
        return data

    async def write(self, data):
        await self.writable.wait()  # a slow display slows the browser, not our memory
        if not self.ended:
            self.transport.write(data)

    def close(self):
        self.transport.close()


class ConsoleConsumer(AsyncWebsocketConsumer):
    """`/ws/console/<host_id>/`: relays bytes between the browser's noVNC and the host's VNC display.

    The relay never asks libvirt: it trusts Host.state and Host.vnc_port as
    the host's daemon last reported them, read from the running domain's XML
    (daemon.agent.hypervisor.Hypervisor.domain_state), never computed from a course file.
    """

    # The relay uses no channel layer: without an alias there is no Redis
    # channel to create and listen on for each console.
    channel_layer_alias = "no channel layer"

    async def connect(self):
        self.display = self.pump = None
        host_id = int(self.scope["url_route"]["kwargs"]["host_id"])
        # noVNC asks for "binary" when told to (older versions always did); answer in kind.
        await self.accept("binary" if "binary" in self.scope.get("subprotocols", ()) else None)
        try:
            host, console_buffer = await database_sync_to_async(_console_of)(self.scope, host_id)
        except NoAccess:
            await self.close(code=CLOSE_NO_ACCESS, reason="no access to this console")
            return
        if host.state != HostState.RUNNING or not host.vnc_port:
            await self.close(code=CLOSE_NOT_RUNNING, reason=f"{host.name} is not running")
            return
        loop = asyncio.get_running_loop()
        try:
            _, self.display = await asyncio.wait_for(
                loop.create_connection(lambda: DisplayLink(console_buffer // 4), vnc_address(host), host.vnc_port),
                CONNECT_TIMEOUT,
            )
        except (TimeoutError, OSError) as exc:
            log.info("console of %s: %s", host, exc)
            await self.close(code=CLOSE_NO_DISPLAY, reason=f"the display of {host.name} does not answer")
            return
        self.pump = asyncio.create_task(self.relay_display())

    async def relay_display(self):
        try:
            while data := await self.display.next_chunk():
                await self.send(bytes_data=data)  # returns when the browser's socket has room again
            # The close frame follows the data.
            await self.close(code=1000, reason="the display closed")
        except OSError:
            # The browser left while we sent (ASGI servers raise an OSError then); disconnect()
            # closes the display.
            pass

    async def dispatch(self, message):
        # The base class closes stale database connections (a thread hop) before every
        # message; the relay touches the database only in connect, so its bytes skip that.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data=None, bytes_data=None):
        if self.display is not None:
            await self.display.write(bytes_data if bytes_data is not None else text_data.encode())

    async def disconnect(self, code):
        if self.pump:
            self.pump.cancel()
        if self.display:
            self.display.close()


def _console_of(scope, host_id):
    """The host, if this user may see it, and mln.conf's console_buffer."""
    # The session is read here, in a thread: reading it loads it from the database.
    host = host_for_viewer(scope.get("user"), host_id, session_tokens(scope.get("session")))
    return host, mlnconf.load().console_buffer


def vnc_address(host):
    """Where the host's daemon has its guests' displays listen: this machine's loopback for the
    local service host, the service host's name otherwise (MLN_CONSOLE_ADDRESSES may say better)."""
    addresses = getattr(settings, "MLN_CONSOLE_ADDRESSES", {})
    service_host = host.service_host or "localhost"
    if service_host in addresses:
        return addresses[service_host]
    return "127.0.0.1" if service_host in ("localhost", "127.0.0.1") else service_host
