"""One settings file, driven by environment variables.

Every knob a deployment may turn is read here through a small typed helper, so
`env | grep MLN` on a server tells the whole story.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MLN_VAR_DIR", BASE_DIR / "var"))


def envbool(name, default):
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def envint(name, default):
    return int(os.environ.get(name, default))


def database_from_url(url):
    """sqlite:///path or postgres://user:pass@host:port/name -> a DATABASES entry."""
    parts = urlparse(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) if parts.path.startswith("//") else unquote(parts.path),
            # The web process and the daemon write at once: WAL lets readers go on
            # while one writes, IMMEDIATE transactions and a timeout make writers queue
            # instead of failing with "database is locked".
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r}")


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-secret-key-change-me")
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mlnweb.sqlite3'}")
    )
}
# Tests on SQLite use a file, not an in-memory database: the daemons that the cluster
# tests start as subprocesses (tests/cluster) open the same test database. One per
# pytest process, so two test runs on one checkout never share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("MLN_TEST_DATABASE") or str(
        Path(tempfile.gettempdir()) / f"mlnweb-test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
# The mln.conf of this machine's daemon and command line (article, Table 2):
# the system's when there is one, else this checkout's (written by set-up).
MLN_CONF = os.environ.get("MLN_CONF") or (
    "/etc/mln/mln.conf" if Path("/etc/mln/mln.conf").exists() else str(VAR_DIR / "mln.conf")
)

# No "daphne" app: it only swaps `runserver` for an ASGI one, and would make
# every `mln` command import twisted. `make run` starts daphne itself.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "channels",
    "projects",
    "templates_registry",
    "daemon",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mlnweb.urls"
WSGI_APPLICATION = "mlnweb.wsgi.application"
ASGI_APPLICATION = "mlnweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "projects.banners.banners",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
SERVE_STATIC = envbool("MLN_SERVE_STATIC", True)
MEDIA_ROOT = VAR_DIR / "media"

RQ_QUEUES = {"default": {"URL": REDIS_URL}}
# Where the console relay reaches each service host's VNC displays, when not by its name
# (projects/consumers.py): "host1=10.0.0.5,host2=10.0.0.6".
MLN_CONSOLE_ADDRESSES = dict(pair.split("=", 1) for pair in os.environ.get("MLN_CONSOLE_ADDRESSES", "").split(",")
                             if "=" in pair)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s timeout by default, and channels-redis blocks 5 s on each
        # read of a channel: every idle websocket was cut off (channels_redis issue #422).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
