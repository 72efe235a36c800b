"""Websockets only from this site's own pages: the Origin must be the scheme, host and port the
browser reached us at.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS and ignores
its port, so a page served by anything else on an allowed host (another port of the same
machine) could open a student's console with the student's cookies.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


class SameOriginValidator:
    """ASGI middleware: refuses (HTTP 403 at the handshake) a websocket whose Origin is not its Host."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin(scope):
    headers = {name: value.decode("latin-1") for name, value in scope.get("headers", [])}
    host, origin = headers.get(b"host"), headers.get(b"origin")
    if not host or not origin:
        return False  # browsers send both; anything else is not one of our pages
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts()):
        return False
    scheme = "https" if is_secure(scope, headers) else "http"
    try:
        parsed = urlsplit(origin)
        origin_port = parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:  # a port that is not a number
        return False
    return (
        parsed.scheme == scheme
        and parsed.hostname == domain.strip("[]")
        and origin_port == (int(port) if port else DEFAULT_PORTS[scheme])
    )


def allowed_hosts():
    # As Django's request.get_host(): DEBUG with no ALLOWED_HOSTS means the local names.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def is_secure(scope, headers):
    """wss, or a proxy that terminated TLS says so in the header Django is told to trust."""
    if scope.get("scheme") == "wss":
        return True
    trusted = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not trusted:
        return False
    name, value = trusted
    header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
    return headers.get(header, "").split(",")[0].strip() == value
