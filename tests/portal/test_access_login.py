"""Logging in: throttled by django-axes, and passwords checked by Django's validators (issue 9, Low)."""

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.factories import make_user


def log_in(client, username, password, address="192.0.2.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_wrong_passwords_lock_that_username_out_from_that_address_even_with_the_right_one(client, db):
    make_user("ada", instructor=True)  # password "pw"
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "ada", "guess").status_code == 200  # the form again, with its error
    assert log_in(client, "ada", "guess").status_code == 429  # the last one allowed: locked out
    assert log_in(client, "ada", "pw").status_code == 429
    assert "_auth_user_id" not in client.session
    assert log_in(client, "ada", "pw", address="192.0.2.8").status_code == 302  # not a lockout of Ada


def test_a_right_password_before_the_limit_starts_the_count_again(client, db):
    make_user("ada", instructor=True)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "ada", "guess")
    assert log_in(client, "ada", "pw").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "ada", "guess")
    assert log_in(client, "ada", "pw").status_code == 302


@pytest.mark.parametrize("password", ["pw", "12345678901", "password123", "adalovelace"])
def test_weak_passwords_are_refused(db, password):
    user = make_user("adalovelace")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_generated_password_passes(db):
    from projects.management.commands.demo import Command

    user, password = Command().user("instructor", instructor=True)
    assert password and user.check_password(password)  # made now, and the account's own
    assert validate_password(password, user) is None  # raises ValidationError when a validator refuses it
