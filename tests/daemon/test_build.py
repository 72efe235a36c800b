"""Building a project on libvirt's test driver: what libvirt holds afterwards."""

from daemon import jobs
from projects.choices import Action, BuildStatus, HostState, ProjectState
from projects.models import Build

from .conftest import ldaptest, save_project


def run(project, action, conf, **fields):
    build = Build.objects.create(project=project, action=action, options={"service_host": "localhost"}, **fields)
    return jobs.run(build.pk, conf=conf)


def test_build_defines_one_domain_per_host_and_one_network_per_switch(libvirt_test, mln_conf, tiny):
    build = run(save_project(ldaptest()), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    objects = libvirt_test.project_objects("ldaptest")
    assert objects.domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
    assert objects.networks == ["ldaptest.LDAPlan"]
    assert objects.volumes == ["ldapclient.qcow2", "ldapserver.qcow2"]
    assert libvirt_test.domain_state("ldaptest.ldapserver").state == "shut off"
