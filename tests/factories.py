"""Specs, projects, courses and users for tests, made one way.

A spec comes from .mln text through the language (`spec_from`) or from the
spec classes (`ldaptest`, `one_host`, `server_spec`): no test writes a spec
dict by hand, so a field added to `HostSpec` reaches every test's rows.
Rows are real rows of the test database; users log in with password "pw"
unless told otherwise.
"""

from pathlib import Path

from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import User

from projects.choices import HostState, ProjectState
from projects.courses import CourseInputs
from projects.lang import build_spec, loads
from projects.lang.spec import HostSpec, InterfaceSpec, Position, ProjectSpec, SwitchSpec
from projects.models import Course, Group, Host, Project, Switch

FILES = Path(__file__).resolve().parent / "projects" / "files"
OSCOURSE = (FILES / "oscourse.mln").read_text()  # the article's Listing 5
OSCOURSE_HEADER = ("gnum", "userpasswd", "rpasswd", "vncpasswd")
PASSWORD = "pw"

# --- specs ------------------------------------------------------------------------------------


def spec_from(text, filename="lab.mln"):
    """The ProjectSpec the language makes of `text`, as an upload would."""
    return build_spec(loads(text, filename=filename))


def ldaptest(template="tiny", nat=False):
    """The article's Listing 1, as build_spec makes it, with a registered template."""

    def here(line):
        return Position("ldaptest.mln", line, 1)

    client = HostSpec(
        "ldapclient",
        template=template,
        memory=128 << 20,
        size=2 << 30,
        virtualization="xen",
        lvm=True,
        nameserver="10.0.0.15",
        users={"kyrre": "l47/Y.NtB9p7w"},
        position=here(6),
        interfaces=[InterfaceSpec("eth0", switch="LDAPlan", address="dhcp")],
    )
    server = HostSpec(
        "ldapserver",
        template=template,
        memory=256 << 20,
        size=2 << 30,
        virtualization="xen",
        lvm=True,
        nameserver="10.0.0.15",
        position=here(22),
        interfaces=[
            InterfaceSpec("eth0", switch="LDAPlan", address="10.0.0.2", netmask="255.255.255.0", gateway="10.0.0.1")
        ],
    )
    return ProjectSpec(
        "ldaptest",
        hosts={"ldapclient": client, "ldapserver": server},
        switches={"LDAPlan": SwitchSpec("LDAPlan", nat=nat, position=here(38))},
    )


def one_host(name, host="h1", template="tiny", memory=128 << 20, service_host=None):
    """A project of one host and no switch, pinned to `service_host` if given."""
    return ProjectSpec(name, hosts={host: HostSpec(host, template=template, memory=memory, service_host=service_host)})


def server_spec(name):
    """A project whose host `server` sits on switch `lan` at 10.0.0.1, with a student and a root password."""
    server = HostSpec(
        "server",
        template="tiny",
        users={"student": f"pw-{name}"},
        root_passwd=f"root-{name}",
        interfaces=[InterfaceSpec("eth0", switch="lan", address="10.0.0.1")],
    )
    return ProjectSpec(name, hosts={"server": server}, switches={"lan": SwitchSpec("lan")})


# --- projects ---------------------------------------------------------------------------------


def make_project(spec, source="", state=ProjectState.NEW, group=None, rows=True):
    """A Project row holding `spec`, and (with `rows`) the Host and Switch rows it derives, as an upload leaves them."""
    project = Project.objects.create(
        name=spec.name, source_name=f"{spec.name}.mln", source=source, spec=spec.to_dict(), state=state, group=group
    )
    if rows:
        derived = project.derived_rows()
        Host.objects.bulk_create(r for r in derived if isinstance(r, Host))
        Switch.objects.bulk_create(r for r in derived if isinstance(r, Switch))
    return project


def save_project(spec, source="global { project ldaptest }\n"):
    """The Project row of `spec`, made or replaced, without host rows (the daemon makes them as it builds)."""
    project, _ = Project.objects.update_or_create(
        name=spec.name, defaults={"source_name": f"{spec.name}.mln", "source": source, "spec": spec.to_dict()}
    )
    return project


# --- courses ----------------------------------------------------------------------------------


def table_bytes(*rows, sep=","):
    return "".join(sep.join(row) + "\n" for row in rows).encode()


def oscourse_inputs(groups=1, master=OSCOURSE):
    """The article's course (Listing 5) with `groups` rows of fixed passwords."""
    rows = [(f"{n:02d}", "u" * 16, "r" * 16, "v" * 16) for n in range(1, groups + 1)]
    return CourseInputs("oscourse.mln", {"oscourse.mln": master}, "groups.csv", table_bytes(OSCOURSE_HEADER, *rows))


def make_course(owner, short_name="os", name=None, inputs=None, master_name="oscourse.mln"):
    """A Course of `owner`; with `inputs` (a CourseInputs), applied: its groups and projects made."""
    course = Course.objects.create(
        name=name or short_name.upper(), short_name=short_name, owner=owner, master_name=master_name
    )
    if inputs is not None:
        course.apply(inputs)
    return course


def make_group(course, row, host_state=HostState.RUNNING, vnc_port=None):
    """A group of `course` by hand (no expansion): its project `<short_name><row>` and one host `server`."""
    group = Group.objects.create(course=course, row=row)
    project = Project.objects.create(name=f"{course.short_name}{row:02}", group=group, source_name="p.mln")
    Host.objects.create(
        project=project,
        name="server",
        state=host_state,
        vnc_port=vnc_port,
        service_host="localhost",
        vnc_password="secret",
    )
    return group


# --- users ------------------------------------------------------------------------------------


def make_user(username, instructor=False, staff=False, superuser=False, password=PASSWORD):
    user = User.objects.create_user(username, password=password, is_staff=staff, is_superuser=superuser)
    if instructor:
        user.groups.add(AuthGroup.objects.get_or_create(name="instructors")[0])
    return user


def instructor(username="ada", password=PASSWORD):
    return make_user(username, instructor=True, password=password)


def student(username="bob", password=PASSWORD):
    return make_user(username, password=password)


def staff(username="staff", password=PASSWORD):
    return make_user(username, staff=True, password=password)


def superuser(username="root", password=PASSWORD):
    """A superuser: sees every course (staff alone does not, projects.access)."""
    return make_user(username, staff=True, superuser=True, password=password)
