"""The relay connects only to a display the daemon read from libvirt for a running domain.

On libvirt's test driver no display runs, whatever a course's `vncdisplay` says: the relay used
to connect to 5900 + vncdisplay on this machine, a raw tunnel to any local port (a student got
`+PONG` from Redis). Here a real listener waits on the port a course pins; it must see nothing.
"""

import socket

import pytest
from asgiref.sync import async_to_sync

from daemon import conf as mlnconf
from daemon.cluster import builds, runner
from projects.choices import Action, BuildStatus, HostState
from projects.consumers import CLOSE_NOT_RUNNING
from tests.daemon.conftest import libvirt_test, mln_conf, tiny  # noqa: F401 (fixtures)
from tests.factories import ldaptest, save_project, superuser

from .conftest import close_code, communicator, session_of

pytestmark = pytest.mark.django_db(transaction=True)


def run(project, action, conf):
    build = runner.run(builds.submit(project, action, "localhost"), conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    return build


async def console_close_code(host, session_key):
    ws = communicator(f"/ws/console/{host.pk}/", session_key, ["binary"])
    assert (await ws.connect())[0]
    code = await close_code(ws)
    await ws.disconnect()
    return code


def test_a_pinned_vncdisplay_on_the_test_driver_is_no_display_and_no_tunnel(libvirt_test, mln_conf, tiny):  # noqa: F811
    with socket.create_server(("127.0.0.1", 0)) as listener:  # stands for Redis, or any local service
        display = listener.getsockname()[1] - 5900
        with open(mln_conf.path, "a") as conf:
            conf.write(f"vncdisplay_range {display}\n")  # allowed: the administrator's range is not the point
        spec = ldaptest()
        spec.hosts["ldapserver"].vncdisplay = display
        project = save_project(spec)
        conf = mlnconf.load()
        run(project, Action.BUILD, conf)
        run(project, Action.START, conf)
        assert libvirt_test.domain_state("ldaptest.ldapserver").state == "running"

        host = project.hosts.get(name="ldapserver")
        assert host.state == HostState.RUNNING
        assert host.vnc_port is None  # the daemon recorded no display: the test driver runs none
        root = superuser("root-display")
        assert async_to_sync(console_close_code)(host, session_of(root)) == CLOSE_NOT_RUNNING

        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody came: the relay opened no connection to the pinned port
