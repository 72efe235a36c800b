"""Websockets open only from this site's own pages: the Origin's scheme, host and port are the
request's (mlnweb/origin.py), checked before any consumer runs."""

import pytest
from channels.testing import WebsocketCommunicator

from mlnweb.asgi import application
from mlnweb.origin import same_origin

from .conftest import asession, asynchronous

pytestmark = pytest.mark.django_db(transaction=True)


async def opens(world, host, origin, scheme="ws"):
    """Whether the server accepts a console websocket with these Host and Origin headers."""
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
    headers.append((b"cookie", f"sessionid={await asession(world.ada)}".encode()))
    ws = WebsocketCommunicator(application, f"/ws/console/{world.host1.pk}/", headers=headers)
    ws.scope["scheme"] = scheme  # the communicator builds no scheme; the app reads the scope when it runs
    accepted, _ = await ws.connect()
    await ws.disconnect()
    return accepted


@asynchronous
async def test_a_page_of_this_site_opens_a_websocket(world):
    assert await opens(world, "127.0.0.1:8000", "http://127.0.0.1:8000")
    assert await opens(world, "localhost", "http://localhost:80")  # the default port, written or not
    assert await opens(world, "127.0.0.1", "https://127.0.0.1", scheme="wss")


@asynchronous
async def test_a_page_on_another_port_of_the_same_host_is_refused(world):
    assert not await opens(world, "127.0.0.1:8000", "http://127.0.0.1:9000")
    assert not await opens(world, "127.0.0.1:8000", "http://127.0.0.1")


@asynchronous
async def test_another_scheme_or_host_or_no_origin_is_refused(world):
    assert not await opens(world, "127.0.0.1:8000", "https://127.0.0.1:8000")  # we are plain ws here
    assert not await opens(world, "127.0.0.1", "http://127.0.0.1", scheme="wss")
    assert not await opens(world, "127.0.0.1:8000", "http://localhost:8000")
    assert not await opens(world, "127.0.0.1:8000", "http://evil.example:8000")
    assert not await opens(world, "127.0.0.1:8000", None)
    assert not await opens(world, "127.0.0.1:8000", "null")


@asynchronous
async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_page(world):
    assert not await opens(world, "evil.example:8000", "http://evil.example:8000")


@asynchronous
async def test_behind_a_tls_proxy_the_trusted_header_makes_the_origin_https(world, settings):
    assert not await opens(world, "127.0.0.1", "https://127.0.0.1")  # no proxy trusted: plain http
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    headers = [(b"host", b"127.0.0.1"), (b"origin", b"https://127.0.0.1"), (b"x-forwarded-proto", b"https")]
    assert same_origin({"type": "websocket", "scheme": "ws", "headers": headers})
    assert not same_origin({"type": "websocket", "scheme": "ws", "headers": headers[:2]})
