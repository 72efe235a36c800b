"""Settings shared by the whole suite."""

import pytest
from hypothesis import settings

# Speed is measured in bench/, not in tests: on a loaded two-core CI machine a
# deadline only measures the neighbours (the first example also builds the grammar).
settings.register_profile("mln", deadline=None, max_examples=200)
settings.load_profile("mln")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """The test database is a file, not SQLite's in-memory one: some tests run `mln daemon`
    and `mln build` as real processes (DATABASE_URL=sqlite:///<its name>), which must see it."""
    from django.conf import settings as django_settings

    test = django_settings.DATABASES["default"].setdefault("TEST", {})
    test["NAME"] = str(tmp_path_factory.mktemp("database") / "test.sqlite3")
