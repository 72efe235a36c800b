"""What every page says about the site's daemons (the banners of base.html), and whether to show Courses.

Read from the daemons' heartbeats (daemon/cluster/heartbeat.py), lazily: a page that
shows no banner reads nothing from Redis.
"""

import logging

from django.utils.functional import SimpleLazyObject

from daemon import conf as mlnconf
from daemon.cluster import dispatch, heartbeat
from projects.views import is_instructor

log = logging.getLogger(__name__)


def banners(request):
    return {
        "banners": SimpleLazyObject(lambda: daemon_banners(request.user)),
        "is_instructor": SimpleLazyObject(lambda: is_instructor(request.user)),
    }


def daemon_banners(user):
    """This site's own service host (mln.conf `service_host`): down, or on libvirt's test driver."""
    try:
        service_host = mlnconf.load().service_host
        status = heartbeat.statuses(dispatch.connection(), [service_host])[0]
    except Exception as exc:  # a banner must never break a page
        log.warning("daemon banners: %s", exc)
        return [("error", "The queue server (Redis) does not answer: nothing can be built, started or stopped.")]
    if not status.alive:
        return (
            [
                (
                    "warning",
                    f"No daemon is running for service host {service_host}: what is queued for it "
                    "waits until one starts.",
                )
            ]
            if user.is_authenticated
            else []
        )
    if status.facts.get("libvirt_uri", "").startswith("test:"):
        if not is_instructor(user) and not user.is_staff:  # students read plain words
            return [
                ("warning", "This site runs in test mode: your machines are simulated and their screens stay blank.")
            ]
        return [
            (
                "warning",
                f"Service host {service_host} runs on libvirt's test driver (libvirtd could not "
                "be started here): its guests are simulated and their consoles show nothing.",
            )
        ]
    return []
