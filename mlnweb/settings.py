"""One settings file, driven by environment variables.

Every knob a deployment may turn is read here through a small typed helper, so
`env | grep MLN` on a server tells the whole story.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from mlnweb.rq_queues import DaemonQueues

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


def secret_key(debug):
    """SECRET_KEY signs sessions and, unless mln.conf sets `cluster_secret`, the daemons' jobs.

    From the environment, else the file SECRET_KEY_FILE names, else var/secret_key (which
    `make run` and `make test` make once, mode 0600), so the site, the daemon and the `mln`
    command line of one machine share it. A public default would let anyone sign jobs the
    root daemon runs: outside DEBUG there is none, and the site refuses to start.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(os.environ.get("SECRET_KEY_FILE") or VAR_DIR / "secret_key")
    if path.is_file():
        return path.read_text().strip()
    if debug:
        return "django-insecure-debug-only"  # check --deploy names it; a DEBUG site is a developer's

    raise ImproperlyConfigured(
        f"no SECRET_KEY: set SECRET_KEY or SECRET_KEY_FILE, or write {path} (`make run` makes one)"
    )


DEBUG = envbool("DEBUG", False)
SECRET_KEY = secret_key(DEBUG)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mlnweb.sqlite3'}"))}
# Tests on SQLite use a file, not an in-memory database: the daemons that the cluster
# tests start as subprocesses (tests/cluster) open the same test database. One per
# pytest process, so two test runs on one checkout never share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("MLN_TEST_DATABASE")
        or str(Path(tempfile.gettempdir()) / f"mlnweb-test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
# The mln.conf of this machine's daemon and command line (article, Table 2):
# the system's when there is one, else this checkout's (written by set-up).
MLN_CONF = os.environ.get("MLN_CONF") or (
    "/etc/mln/mln.conf" if Path("/etc/mln/mln.conf").exists() else str(VAR_DIR / "mln.conf")
)

# No ASGI server app: `make run` starts the web server itself (mlnweb/server.py).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
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
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it turns a lockout into its answer
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from
# one address, that pair is refused (429) for AXES_COOLOFF_MINUTES; a right password resets the
# count. By the pair, so a stranger cannot lock an instructor out from elsewhere.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its start-up banner would open the output of every `mln` command; lockouts still log
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

# HTTPS deployments (behind a TLS proxy, or daphne with a TLS endpoint): HTTPS=1 makes the
# cookies secure, redirects http to https and sends HSTS; `manage.py check --deploy` is clean
# with HTTPS=1 SECURE_HSTS_INCLUDE_SUBDOMAINS=1 SECURE_HSTS_PRELOAD=1 (each a promise about
# the whole domain, so neither is implied).
HTTPS = envbool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", HTTPS)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# Behind a proxy that terminates TLS: trust its X-Forwarded-Proto (only then: a client could send it).
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# django-rq's dashboard also lists every daemon's queue, mln.<service host> (mlnweb/rq_queues.py).
RQ_QUEUES = DaemonQueues({"default": {"URL": REDIS_URL}})
# Where the console relay reaches each service host's VNC displays, when not by its name
# (projects/consumers.py): "host1=10.0.0.5,host2=10.0.0.6".
MLN_CONSOLE_ADDRESSES = dict(
    pair.split("=", 1) for pair in os.environ.get("MLN_CONSOLE_ADDRESSES", "").split(",") if "=" in pair
)

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
