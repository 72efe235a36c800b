"""The console relay /ws/console/<host>/: access first, then bytes both ways to a real TCP display."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from projects.choices import HostState
from projects.consumers import CLOSE_NO_ACCESS, CLOSE_NO_DISPLAY, CLOSE_NOT_RUNNING

from .conftest import asession, asynchronous, close_code, communicator, vnc_server

pytestmark = pytest.mark.django_db(transaction=True)

GREETING = b"RFB 003.008\n"


async def set_display(host, port, state=HostState.RUNNING):
    host.state, host.vnc_port = state, port
    await database_sync_to_async(host.save)()


async def open_console(host, session_key=None, subprotocols=("binary",)):
    ws = communicator(f"/ws/console/{host.pk}/", session_key, list(subprotocols))
    connected, subprotocol = await ws.connect()
    assert connected
    return ws, subprotocol


@asynchronous
async def test_the_relay_carries_bytes_both_ways_and_speaks_binary(world):
    async with vnc_server() as display:
        await set_display(world.host1, display.port)
        ws, subprotocol = await open_console(world.host1, await asession(world.ada))
        assert subprotocol == "binary"
        assert await ws.receive_from() == GREETING
        await ws.send_to(bytes_data=GREETING)
        assert await ws.receive_from() == GREETING
        big = bytes(range(256)) * 4096  # 1 MiB, echoed back whole
        await ws.send_to(bytes_data=big)
        echoed = b""
        while len(echoed) < len(big):
            echoed += await ws.receive_from()
        assert echoed == big and bytes(display.received) == GREETING + big
        await ws.disconnect()
        await asyncio.wait_for(display.closed.wait(), 2)  # the relay hung up on the display too


@asynchronous
async def test_when_the_display_closes_the_browser_gets_a_normal_close(world):
    async with vnc_server() as display:
        await set_display(world.host1, display.port)
        ws, _ = await open_console(world.host1, await asession(world.bob))
        assert await ws.receive_from() == GREETING
        display.writers[0].close()
        assert await close_code(ws) == 1000
        await ws.disconnect()  # the browser answers the close


@asynchronous
async def test_students_of_the_group_reach_the_console_by_link_or_membership(world):
    async with vnc_server() as display:
        await set_display(world.host1, display.port)
        for session in [
            await asession(tokens=[world.group1.token]),
            await asession(world.bob),
            await asession(world.root),
        ]:
            ws, _ = await open_console(world.host1, session)
            assert await ws.receive_from() == GREETING
            await ws.disconnect()


@asynchronous
async def test_strangers_other_groups_and_other_instructors_get_no_console(world):
    async with vnc_server() as display:
        await set_display(world.host1, display.port)
        sessions = [
            None,
            await asession(world.eve),
            await asession(tokens=[world.group2.token]),
            await asession(world.grace),
        ]
        for session in sessions:
            ws, _ = await open_console(world.host1, session)
            assert await close_code(ws) == CLOSE_NO_ACCESS
            await ws.disconnect()  # the browser answers the close
        assert display.writers == []  # the display never saw them


@asynchronous
async def test_a_host_that_is_not_running_gets_a_clear_close(world):
    for state, port in [(HostState.STOPPED, 5999), (HostState.DEFINED, None), (HostState.RUNNING, None)]:
        await set_display(world.host1, port, state)
        ws, _ = await open_console(world.host1, await asession(world.bob))
        assert await close_code(ws) == CLOSE_NOT_RUNNING
        await ws.disconnect()  # the browser answers the close


@asynchronous
async def test_a_running_host_whose_display_does_not_answer_says_so(world):
    async with vnc_server() as display:
        port = display.port
    await set_display(world.host1, port)  # the server is gone: nothing listens there any more
    ws, _ = await open_console(world.host1, await asession(world.bob))
    assert await close_code(ws) == CLOSE_NO_DISPLAY
    await ws.disconnect()  # the browser answers the close


@asynchronous
async def test_a_host_that_does_not_exist_looks_like_one_that_is_not_yours(world):
    ws = communicator("/ws/console/999999/", await asession(world.root))
    assert (await ws.connect())[0]
    assert await close_code(ws) == CLOSE_NO_ACCESS


@asynchronous
async def test_a_client_that_asks_for_no_subprotocol_is_relayed_all_the_same(world):
    async with vnc_server() as display:
        await set_display(world.host1, display.port)
        ws, subprotocol = await open_console(world.host1, await asession(world.bob), subprotocols=())
        assert subprotocol is None  # noVNC 1.7's default: no subprotocol at all
        assert await ws.receive_from() == GREETING
        await ws.disconnect()
