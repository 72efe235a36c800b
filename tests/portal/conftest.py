"""Fixtures of the portal tests: a course with two groups, their people, and websockets to drive.

Consumers run in the real ASGI application (mlnweb.asgi: origin check, session
auth, routing) through Channels' WebsocketCommunicator, on the in-memory
channel layer (the issue allows it in unit tests; bench/portal.py uses Redis).
"""

import asyncio
import contextlib
import functools
from importlib import import_module

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from daemon.cluster import builds
from mlnweb.asgi import application
from projects.access import SESSION_TOKENS
from projects.choices import Action
from projects.models import Course
from tests.factories import make_group, make_user, superuser


def asynchronous(test):
    """Runs an async test in asgiref's loop, so database_sync_to_async runs on the test's own thread
    (and its database connection): the suite needs no asyncio plugin."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return async_to_sync(test)(*args, **kwargs)

    return run


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


class World:
    """Ada owns the course `os` (groups 1 and 2); Grace is another instructor; Bob is a student
    of group 1 by membership, Eve one of group 2; Root is a superuser."""

    def __init__(self):
        self.ada = make_user("ada", instructor=True)
        self.grace = make_user("grace", instructor=True)
        self.bob, self.eve = make_user("bob"), make_user("eve")
        self.root = superuser("root")  # sees every course: staff alone does not (projects.access)
        self.course = Course.objects.create(
            name="Operating systems", short_name="os", owner=self.ada, master_name="oscourse.mln"
        )
        self.group1, self.group2 = make_group(self.course, 1), make_group(self.course, 2)
        self.group1.students.add(self.bob)
        self.group2.students.add(self.eve)
        self.project1, self.project2 = self.group1.project, self.group2.project
        self.host1, self.host2 = self.project1.hosts.get(), self.project2.hosts.get()
        # Grace's own course, so she is an instructor with something of her own.
        Course.objects.create(name="Networks", short_name="net", owner=self.grace, master_name="n.mln")

    def build(self, project):
        return builds.submit(project, Action.BUILD, "localhost")


@pytest.fixture
def world(db):
    return World()


def session_of(user=None, tokens=()):
    """A stored session as a browser would hold it: logged in as `user`, holding access links `tokens`."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    if user is not None:
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
    if tokens:
        store[SESSION_TOKENS] = list(tokens)
    store.create()
    return store.session_key


# The same from a test's coroutine.
asession = database_sync_to_async(session_of)


def communicator(path, session_key=None, subprotocols=None):
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if session_key:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    return WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)


async def close_code(ws, timeout=2):
    """The close code the server sent, after an accept (or None if it sent data instead)."""
    message = await ws.receive_output(timeout)
    return message.get("code") if message["type"] == "websocket.close" else None


@contextlib.asynccontextmanager
async def vnc_server(greeting=b"RFB 003.008\n"):
    """A VNC-ish display on 127.0.0.1: greets like RFB 3.8, then echoes every byte back.

    Yields a record: `port`, `received` (bytes), `closed` (an Event set when the relay hung up).
    """

    class Record:
        received = bytearray()
        closed = asyncio.Event()
        writers = []

    async def serve(reader, writer):
        Record.writers.append(writer)
        writer.write(greeting)
        while data := await reader.read(1 << 16):
            Record.received += data
            writer.write(data)
            await writer.drain()
        Record.closed.set()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    Record.port = server.sockets[0].getsockname()[1]
    async with server:
        yield Record
