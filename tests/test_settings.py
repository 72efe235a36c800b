"""Settings come from the environment: the DATABASE_URL forms we support."""

import pytest

from mlnweb.settings import database_from_url


def test_sqlite_url_with_absolute_path():
    db = database_from_url("sqlite:////srv/mln/db.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == "/srv/mln/db.sqlite3"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_postgres_url_names_every_part():
    db = database_from_url("postgres://mln:s%40cret@db.example:5433/mlnweb")
    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "mlnweb",
        "USER": "mln",
        "PASSWORD": "s@cret",
        "HOST": "db.example",
        "PORT": "5433",
    }


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="unsupported scheme"):
        database_from_url("mysql://x/y")
