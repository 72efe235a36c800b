import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlnweb.settings")
# Django must be set up before consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.SERVE_STATIC:
    # One machine, one process: serve /static/ ourselves rather than ask every
    # lab to set up a web server in front (a cluster may turn this off).
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from projects.consumers import SERVER_WRITE_PER_TURN  # noqa: E402
from projects.routing import websocket_urlpatterns  # noqa: E402
from twisted.internet import abstract  # noqa: E402

# Daphne serves through Twisted, which writes at most SEND_LIMIT bytes (128 KiB) to a socket
# per turn of its event loop; the console relay paces itself to that (projects/consumers.py).
# Consoles stream screens: at 1 MiB a turn the relay measured 0.91-0.94 of websockify's
# throughput, against 0.78-0.81 at 128 KiB (bench/portal.py, medians of three runs).
abstract.FileDescriptor.SEND_LIMIT = SERVER_WRITE_PER_TURN

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
