"""The progress stream /ws/progress/<course|project>/<id>/: stored events, then the live tail.

Events are made the way the daemon makes them: Build.log_event or the
daemon's EventLog (stored in batches, the last of each batch sent), and
daemon.cluster.builds.broadcast to the channel-layer groups.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async

from daemon.cluster.builds import EventLog, broadcast
from projects.consumers import CLOSE_NO_ACCESS

from .conftest import asession, asynchronous, close_code, communicator

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def emit(build, *steps, send=True):
    """Stores one event per step; sends each to the live pages unless `send` is false."""
    events = [
        build.log_event(step, f"{step} done", host_name="server", done=i + 1, total=9) for i, step in enumerate(steps)
    ]
    if send:
        for event in events:
            broadcast(build.project, event)
    return events


@database_sync_to_async
def emit_batch(build, *steps):
    """As the daemon's EventLog does: all stored in one go, only the last one sent."""
    log = EventLog(build)
    for step in steps:
        log.add(step, "", "server", "info", 0, 9)
    log.flush()


async def open_stream(path, user):
    ws = communicator(path, await asession(user) if user else None)
    assert (await ws.connect())[0]
    return ws


async def received(ws, count=None, until_replayed=False, timeout=3):
    """(build, seq) of every event received, until `count` of them (or the replay's end)."""
    got = []
    while count is None or len(got) < count:
        message = await ws.receive_json_from(timeout)
        if message["type"] == "replayed":
            if until_replayed:
                return got
            continue
        if message["type"] == "builds":
            continue  # the latest build of each project (tests/portal/test_live_pages.py)
        got += [(e["build"], e["seq"]) for e in message["events"]]
    return got


@asynchronous
async def test_strangers_students_and_other_instructors_cannot_watch(world):
    # Bob watches his own group's project (tests/portal/test_live_pages.py), never the course.
    for path, users in (
        (f"/ws/progress/course/{world.course.pk}/", (None, world.bob, world.grace)),
        (f"/ws/progress/project/{world.project1.pk}/", (None, world.eve, world.grace)),
    ):
        for user in users:
            ws = await open_stream(path, user)
            assert await close_code(ws) == CLOSE_NO_ACCESS
            await ws.disconnect()


@asynchronous
async def test_the_owner_and_staff_watch_their_course_and_projects(world):
    for path in (f"/ws/progress/course/{world.course.pk}/", f"/ws/progress/project/{world.project1.pk}/"):
        for user in (world.ada, world.root):
            ws = await open_stream(path, user)
            assert await ws.receive_json_from() == {"type": "replayed"}
            await ws.disconnect()


@asynchronous
async def test_stored_then_live_events_arrive_once_each_with_no_gap(world):
    build = await database_sync_to_async(world.build)(world.project1)
    stored = await emit(build, "storage", "switch", "disk")
    ws = await open_stream(f"/ws/progress/course/{world.course.pk}/", world.ada)
    # While the replay runs: new events, and a stored one sent again (a daemon's retry).
    await emit(build, "seed", "define")
    await database_sync_to_async(broadcast)(world.project1, stored[1])
    before_replayed = await received(ws, until_replayed=True)
    # After it: one by one, a batch of which only the last is sent, and a second project's build.
    await emit(build, "start")
    await emit_batch(build, "a", "b", "c")
    other = await database_sync_to_async(world.build)(world.project2)
    await emit(other, "storage", "disk")
    after = await received(ws, count=11 - len(before_replayed))
    events = before_replayed + after
    assert [seq for b, seq in events if b == build.pk] == list(range(1, 10))
    assert [seq for b, seq in events if b == other.pk] == [1, 2]
    assert await ws.receive_nothing(0.2)
    await ws.disconnect()


@asynchronous
async def test_events_carry_what_the_page_shows(world):
    build = await database_sync_to_async(world.build)(world.project1)
    await emit(build, "storage")
    ws = await open_stream(f"/ws/progress/project/{world.project1.pk}/", world.ada)
    assert (await ws.receive_json_from())["type"] == "builds"
    replayed = (await ws.receive_json_from())["events"][0]
    await ws.receive_json_from()  # replayed
    await emit(build, "disk")
    live = (await ws.receive_json_from())["events"][0]
    for event, seq, step in [(replayed, 1, "storage"), (live, 2, "disk")]:
        time = event.pop("time")
        assert event == {
            "project": world.project1.pk,
            "build": build.pk,
            "seq": seq,
            "step": step,
            "host": "server",
            "level": "info",
            "message": f"{step} done",
            "done": 1,
            "total": 9,
        }
        assert time.startswith("20")
    await ws.disconnect()


@asynchronous
async def test_a_page_that_reconnects_gets_only_what_it_lacks(world):
    build = await database_sync_to_async(world.build)(world.project1)
    await emit(build, "storage", "switch", "disk", "seed")
    ws = await open_stream(f"/ws/progress/course/{world.course.pk}/?after={build.pk}.2", world.ada)
    assert await received(ws, until_replayed=True) == [(build.pk, 3), (build.pk, 4)]
    await emit(build, "define")
    assert await received(ws, count=1) == [(build.pk, 5)]
    await ws.disconnect()


@asynchronous
async def test_many_live_events_during_a_long_replay_are_held_and_none_is_lost(world):
    build = await database_sync_to_async(world.build)(world.project1)
    await database_sync_to_async(lambda: [build.log_event(f"step {i}") for i in range(1500)])()
    ws = await open_stream(f"/ws/progress/course/{world.course.pk}/", world.ada)
    live = asyncio.ensure_future(emit(build, *(f"live {i}" for i in range(150))))
    events = await received(ws, count=1650)
    await live
    assert events == [(build.pk, seq) for seq in range(1, 1651)]
    await ws.disconnect()


@asynchronous
async def test_a_project_stream_shows_only_that_project_and_the_latest_build(world):
    old = await database_sync_to_async(world.build)(world.project1)
    await emit(old, "storage")
    await database_sync_to_async(old.succeed)()  # finished: an older build is history, not progress
    build = await database_sync_to_async(world.build)(world.project1)
    await emit(build, "storage", "disk")
    other = await database_sync_to_async(world.build)(world.project2)
    await emit(other, "storage")
    ws = await open_stream(f"/ws/progress/project/{world.project1.pk}/", world.ada)
    assert await received(ws, until_replayed=True) == [(build.pk, 1), (build.pk, 2)]
    await emit(other, "disk")
    assert await ws.receive_nothing(0.2)
    await ws.disconnect()


@asynchronous
async def test_whatever_a_client_sends_is_ignored(world):
    build = await database_sync_to_async(world.build)(world.project1)
    ws = await open_stream(f"/ws/progress/project/{world.project1.pk}/", world.ada)
    await ws.send_to(text_data="not json")
    await ws.send_to(bytes_data=b"\x00")
    await emit(build, "storage")
    assert await received(ws, count=1) == [(build.pk, 1)]
    await ws.disconnect()
