"""The admin names the models as people say them."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db


def test_the_admin_lists_switches_not_switchs(client):
    client.force_login(factories.superuser())
    project = factories.make_project(factories.ldaptest())
    for url in ("/admin/", f"/admin/projects/project/{project.pk}/change/", "/admin/projects/switch/"):
        page = client.get(url).content.decode()
        assert "Switches" in page and "Switchs" not in page, url
