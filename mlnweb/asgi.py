import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlnweb.settings")
# Django must be set up before consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.SERVE_STATIC:
    # One machine, one process: serve /static/ ourselves rather than ask every
    # lab to set up a web server in front (a cluster may turn this off).
    from mlnweb.staticfiles import StaticFiles

    django_asgi_app = StaticFiles(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from mlnweb.origin import SameOriginValidator  # noqa: E402
from projects.routing import websocket_urlpatterns  # noqa: E402

# Served by uvicorn (mlnweb/server.py), whose websockets push back on a slow browser or display.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
