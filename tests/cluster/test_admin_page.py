"""The admin's daemons page: staff only, one row per daemon, linked from the admin index."""

from tests.factories import student, superuser


def test_staff_see_the_daemons_and_others_are_sent_to_log_in(cluster, client):
    alive = cluster.start("alpha")
    assert client.get("/admin/daemons/").status_code == 302
    client.force_login(student("student"))
    assert client.get("/admin/daemons/").status_code == 302
    client.force_login(superuser("admin"))
    page = client.get("/admin/daemons/").content.decode()
    assert alive in page and "test:///default" in page and "<td>yes</td>" in page
    assert 'href="/admin/daemons/"' in client.get("/admin/").content.decode()
