"""The web server: uvicorn serving mlnweb.asgi, its websockets bounded by mln.conf's `console_buffer`.

    python -m mlnweb.server [--host 127.0.0.1] [--port 8000]

Why uvicorn and not daphne: a console relays a guest's display, and either
end may stop reading. Daphne takes every message an application sends and
every frame a browser sends with no back-pressure (django/daphne#170): a
browser that never read made it grow by hundreds of MB a second. uvicorn's
websockets protocol awaits the socket before an application's send
returns, and stops reading the socket until the application has taken the
last message, so the console relay (projects/consumers.py) holds at most a
few messages per console, each way.
"""

import argparse

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from daemon import conf as mlnconf

# What a browser may send in one websocket message: noVNC's largest is a clipboard paste.
# A quarter of console_buffer, so the message being read, the one the relay holds and the
# display's write buffer together stay under it (projects/consumers.py).
MESSAGE_SHARE = 4


class BoundedWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol, with its answers to pings under back-pressure too.

    It writes a pong for every ping as it reads it and reads on, so a browser that sends pings
    and never reads would fill our write buffer without bound (measured: +75 MiB in 15 s from
    four test clients). While the write buffer is over its limit, read nothing: the browser's
    own socket then fills, and it can send no more. (uvicorn's deprecated `websockets`
    implementation awaits the socket before each pong; this is the same for its successor.)
    """

    def data_received(self, data):
        super().data_received(data)
        self._hold_reading()

    async def receive(self):
        message = await super().receive()  # may resume reading: the app took the last message
        self._hold_reading()
        return message

    def resume_writing(self):
        super().resume_writing()
        if not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def _hold_reading(self):
        if not self.writable.is_set() and not self.transport.is_closing():
            self.transport.pause_reading()


def options(conf):
    """uvicorn's settings for this site, from mln.conf."""
    return {
        "ws": "mlnweb.server:BoundedWebSockets",
        # libuv's event loop: the relay carries screens at 1.1-1.3 times websockify's rate
        # with it, 0.8-1.0 with asyncio's own (bench/portal.py).
        "loop": "uvloop",
        "ws_max_size": max(conf.console_buffer // MESSAGE_SHARE, 64 * 1024),
        # Screens are compressed by VNC already; deflate would spend CPU and a zlib state per
        # console for nothing, and let a small frame inflate to ws_max_size.
        "ws_per_message_deflate": False,
        "lifespan": "off",  # Channels' router speaks http and websocket only
        # Access links carry their token in the URL: the server keeps URLs out of its log.
        "access_log": False,
        # Like daphne: X-Forwarded-For/-Proto are believed only when a deployment says so.
        "proxy_headers": False,
        # Ctrl-C must not wait for browsers that keep a console open.
        "timeout_graceful_shutdown": 5,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve MLN web (mlnweb.asgi) with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run("mlnweb.asgi:application", host=args.host, port=args.port, **options(mlnconf.load()))


if __name__ == "__main__":
    main()
