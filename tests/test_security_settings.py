"""Secrets and HTTPS settings come from the environment (issue 9, Medium #6 and Low).

Each check runs `manage.py` in a process of its own, with an environment the test sets: settings are
read once per process, and what is checked is precisely whether a process starts.
"""

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

ROOT = Path(__file__).resolve().parent.parent
SETTING_VARIABLES = (
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DEBUG",
    "HTTPS",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
)
HTTPS_DEPLOYMENT = {
    "HTTPS": "1",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "ALLOWED_HOSTS": "mln.example.org",
}


def manage(var_dir, *args, **env):
    """`manage.py ARGS` with MLN_VAR_DIR=var_dir and only the settings variables given in `env`."""
    environment = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    environment.update(MLN_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="mlnweb.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def strong_key():
    return secrets.token_urlsafe(50)


PRINT_KEY = ("shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")


@pytest.mark.slow  # manage.py or make in a process of its own
def test_without_a_secret_key_the_site_refuses_to_start(tmp_path):
    result = manage(tmp_path, "check")
    assert result.returncode != 0
    assert "no SECRET_KEY" in result.stderr and str(tmp_path / "secret_key") in result.stderr


@pytest.mark.slow  # manage.py or make in a process of its own
def test_in_debug_it_starts_with_a_key_that_check_deploy_calls_insecure(tmp_path):
    assert manage(tmp_path, "check", DEBUG="1").returncode == 0
    assert "security.W009" in manage(tmp_path, "check", "--deploy", DEBUG="1").stderr


@pytest.mark.slow  # manage.py or make in a process of its own
def test_the_key_comes_from_the_environment_or_a_file_or_var_secret_key(tmp_path):
    key_file = tmp_path / "elsewhere"
    key_file.write_text("from-the-named-file\n")
    (tmp_path / "secret_key").write_text("from-var\n")
    assert manage(tmp_path, *PRINT_KEY, SECRET_KEY="from-env").stdout.strip() == "from-env"
    assert manage(tmp_path, *PRINT_KEY, SECRET_KEY_FILE=str(key_file)).stdout.strip() == "from-the-named-file"
    assert manage(tmp_path, *PRINT_KEY).stdout.strip() == "from-var"


@pytest.mark.slow  # manage.py or make in a process of its own
def test_make_makes_the_secret_once_readable_by_its_owner_only(tmp_path):
    target = tmp_path / "var" / "secret_key"
    made = []
    for _ in range(2):
        subprocess.run(["make", "-s", f"MLN_VAR_DIR={target.parent}", str(target)], cwd=ROOT, check=True, timeout=60)
        made.append(target.read_text())
    first = made[0]
    assert made[1] == first
    assert target.read_text() == first and len(first.strip()) >= 50
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.slow  # manage.py or make in a process of its own
def test_check_deploy_is_clean_for_an_https_deployment_and_not_without_it(tmp_path):
    clean = manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=strong_key(), **HTTPS_DEPLOYMENT
    )
    assert clean.returncode == 0, clean.stderr
    plain = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECRET_KEY=strong_key())
    for warning in ("W004", "W008", "W012", "W016"):  # HSTS, https redirect, secure session and CSRF cookies
        assert f"security.{warning}" in plain.stderr


@pytest.mark.slow  # manage.py or make in a process of its own
def test_secure_cookies_and_hsts_reach_the_responses(tmp_path):
    script = (
        "from django.test import Client; r = Client().get('/login/', secure=True, HTTP_HOST='mln.example.org'); "
        "print(r.headers['Strict-Transport-Security']); print(r.cookies['csrftoken']['secure'])"
    )
    result = manage(tmp_path, "shell", "--no-imports", "-c", script, SECRET_KEY=strong_key(), **HTTPS_DEPLOYMENT)
    assert result.stdout.split("\n")[:2] == ["max-age=31536000; includeSubDomains; preload", "True"], result.stderr


# --- /static/ ---------------------------------------------------------------------------------


def static_status(path):
    """The status the ASGI application (as `make run` serves it) answers for GET `path`."""
    from mlnweb.asgi import application

    async def get():
        messages, requested = [], False

        async def receive():
            nonlocal requested
            if requested:  # the client stays connected while the response is sent
                import asyncio

                await asyncio.Event().wait()
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            messages.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
        }
        await application(scope, receive, send)
        return next(m["status"] for m in messages if m["type"] == "http.response.start")

    return async_to_sync(get)()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../etc/passwd",
        "/static/css/../../../etc/passwd",
        "/static/..%2f..%2fetc/passwd",
        "/static/../mlnweb/settings.py",
        "/static/no-such-file.css",
    ],
)
def test_static_paths_outside_the_static_folders_are_not_found(db, path):
    assert static_status(path) == 404


def test_static_files_are_served(db):
    assert static_status("/static/css/site.css") == 200


# --- the demo's logins ---------------------------------------------------------------------------


def test_demo_accounts_get_a_generated_password_shown_once_and_lose_the_old_public_one(db):
    from django.contrib.auth.models import User

    from projects.management.commands.demo import PUBLIC_PASSWORDS, Command

    user, password = Command().user("instructor", instructor=True)
    assert password and password not in PUBLIC_PASSWORDS.values() and user.check_password(password)
    assert Command().user("instructor", instructor=True) == (user, None)  # kept, and not shown again
    admin, _ = Command().user("admin", staff=True)
    admin.set_password(PUBLIC_PASSWORDS["admin"])  # made by an earlier version
    admin.save()
    _, new = Command().user("admin", staff=True)
    admin = User.objects.get(username="admin")
    assert new and admin.check_password(new) and not admin.check_password(PUBLIC_PASSWORDS["admin"])
    assert admin.is_superuser and not user.is_staff
