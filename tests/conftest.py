"""Settings shared by the whole suite."""

import os

import pytest
from hypothesis import settings

# Speed is measured in bench/, not in tests: on a loaded two-core CI machine a
# deadline only measures the neighbours (the first example also builds the grammar).
settings.register_profile("mln", deadline=None, max_examples=200)
# make check: the same properties, fewer examples each (make test keeps 200).
settings.register_profile("quick", deadline=None, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "mln"))


@pytest.fixture(autouse=True)
def fast_password_hashing(request, settings):
    """Passwords hashed with MD5 in the test process: Django's PBKDF2 costs about 0.25 s a user here.

    PBKDF2 stays second, so hashes made by a manage.py the test started still check. Not for the browser
    tests, whose server (another process, Django's own hashers) checks the password typed in Chromium.
    """
    if request.node.get_closest_marker("browser") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def pytest_collection_modifyitems(items):
    """A test on the `cluster` fixture starts `mln daemon` processes (tests/cluster/conftest.py): slow."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI nothing is skipped: `make test` starts libvirtd, builds tiny, installs Chromium.

    A test that skips for want of them there would hide a broken set-up behind a green run.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, where make test sets up everything tests need: {reason}"
