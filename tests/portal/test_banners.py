"""The banner of a site on libvirt's test driver: technical for staff, plain words for students."""

import pytest
from django.contrib.auth.models import AnonymousUser

from daemon import conf as mlnconf
from daemon.cluster import dispatch, heartbeat
from projects.banners import daemon_banners
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_the_test_driver():
    conf = mlnconf.load()
    redis = dispatch.connection()
    heartbeat.publish(redis, conf, {"libvirt_uri": "test:///default"})
    yield
    heartbeat.withdraw(redis, conf.service_host)
    redis.hdel(heartbeat.LAST, conf.service_host)


def test_students_read_test_mode_in_plain_words(on_the_test_driver):
    [(level, text)] = daemon_banners(AnonymousUser())
    assert level == "warning" and "test mode" in text and "service host" not in text.lower()


def test_staff_read_which_service_host_and_driver(on_the_test_driver):
    [(level, text)] = daemon_banners(factories.superuser())
    assert "Service host" in text and "test driver" in text
