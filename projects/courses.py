"""A course: one master .mln and a variable table -> one project per group.

Each table row becomes exactly what the article's Listing 4 is: a small file
holding the row's variable definitions, a `project` line when the master has
none, and `#include` of the master. That file's expansion is the group's
project, so a downloaded group file expands the same way with `mln expand`.

Every row is expanded and every problem collected before anything is kept;
problems name the table's row and column, or the .mln file, line and column.
No Django here: `mln course expand` runs without a database, and the models
call `expand_course` with what they stored.

Limits (projects.lang.Limits, from mln.conf through `limits_from_conf`) bound
every file, the table, each group's project and the hosts of the whole
course; the web site runs all of it in a child process bounded in time and
memory besides (projects/isolation.py).
"""

import re
import secrets
import string
from dataclasses import dataclass, field, fields

from daemon.agent import plan
from projects.lang import MemorySources, MlnError, build_spec, loads
from projects.lang.limits import Limits, shown_size
from projects.lang.spec import PROJECT_NAME
from projects.variable_table import MAX_PROBLEMS, CourseError, Problem, Table, read_table

RANDOM_CELL = "@random"
# No 0/O/o, 1/l/I: students copy these from paper. 16 characters, never 13,
# so a password can never be mistaken for a DES crypt hash by the daemon.
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0Oo1lI")
PASSWORD_LENGTH = 16
# A top-level `global {`: then the master names the project, not the group file.
GLOBAL_BLOCK = re.compile(r"(^|[;{}])[ \t]*global[ \t]*\{", re.MULTILINE)
# Characters that need the value quoted in a group file (language contract, lexical rules).
NEEDS_QUOTES = re.compile(r'[\s#{};"\\]')

# Settings whose values a change list must not show: they are students' passwords.
SECRET_KEYS = {"users", "root_passwd", "vncpasswd", "passwd", "password"}

__all__ = [
    "CourseError",
    "Problem",
    "CourseInputs",
    "CourseExpansion",
    "GroupExpansion",
    "Change",
    "expand_course",
    "expand_inputs",
    "course_changes",
    "random_password",
    "limits_from_conf",
    "resource_problems",
    "template_problems",
    "pending_changes",
]


def limits_from_conf(conf):
    """The language's Limits as an MlnConf (daemon/conf.py) sets them: the same key names."""
    return Limits(**{f.name: getattr(conf, f.name) for f in fields(Limits)})


def random_password():
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


@dataclass
class CourseInputs:
    """What an instructor uploads: the master, the files it may include, the variable table."""

    master_name: str
    files: dict  # name -> text, the master among them
    table_name: str
    table: bytes


@dataclass
class GroupExpansion:
    index: int  # 1-based group number, the built-in $index
    row: int  # the table's row, as a spreadsheet shows it
    project: str
    source_name: str  # "<project>.mln"
    source: str  # the Listing 4 file
    variables: dict  # every variable the group file defines, generated passwords included
    generated: dict  # column -> the password made for an @random cell
    tree: dict  # as `mln expand` prints it
    spec: object  # projects.lang.spec.ProjectSpec

    def summary(self):
        hosts = ", ".join(
            f"{h.name} ({_size(h.memory)}, {h.template or 'no template'})" for h in self.spec.hosts.values()
        )
        switches = ", ".join(self.spec.switches) or "none"
        placed = ", ".join(self.service_hosts) or "-"
        return f"{self.index:>4} {self.project}: hosts {hosts or 'none'}; switches {switches}; service hosts {placed}"

    @property
    def service_hosts(self):
        return sorted({h.service_host for h in self.spec.hosts.values() if h.service_host})

    def to_json(self):
        return {
            "index": self.index,
            "row": self.row,
            "project": self.project,
            "file": self.source_name,
            "variables": self.variables,
            "generated": sorted(self.generated),
            "tree": self.tree,
        }


@dataclass
class CourseExpansion:
    course: str
    master_name: str
    files: dict  # name -> text: the master and everything it may include
    table: Table
    groups: list = field(default_factory=list)

    def output_files(self):
        """name -> text of every file a standalone copy of the course needs."""
        out = dict(self.files)
        out.update((g.source_name, g.source) for g in self.groups)
        return out


def expand_inputs(course, inputs, previous=None, limits=Limits()):
    """Read the table and expand every row: what the web's bounded child process runs."""
    table = read_table(inputs.table_name, inputs.table, limits)
    return expand_course(course, inputs.master_name, inputs.files, table, previous, limits)


def expand_course(course, master_name, files, table, previous=None, limits=Limits()):
    """Expand every row of `table`; CourseError lists every problem found.

    `previous` maps a group index to (project name, generated passwords) of
    the course as last stored: @random cells keep the passwords their project
    already has, even when its row moved, so re-uploading a table changes no
    password a student already holds.
    """
    expander = _Expander(course, master_name, files, table, previous or {}, MemorySources(dict(files)), limits)
    return expander.run()


class _Expander:
    def __init__(self, course, master_name, files, table, previous, sources, limits):
        self.course, self.master_name, self.files, self.table = course, master_name, files, table
        self.previous = previous
        self.limits = limits
        self.kept_by_project = {project: generated for project, generated in previous.values()}
        self.sources = sources
        self.width = len(str(len(table.rows)))
        self.problems = []  # (Problem, group) before merging
        self.master_has_global = False

    def run(self):
        if self.master_name not in self.files:
            raise CourseError([Problem(self.master_name, 1, 1, "the master file is missing")])
        # The language allows one global block. A master without one (Listing
        # 5) gets the group's, as in Listing 4, with a project line; a master
        # with one names the project there, and the group's variables stand
        # at top level.
        self._check_sizes()
        self.master_has_global = any(GLOBAL_BLOCK.search(text) for text in self.files.values())
        groups = self._expand_rows()
        self._check_names(groups)
        if self.problems:
            raise CourseError(_merge(self.problems, self.table))
        return CourseExpansion(self.course, self.master_name, dict(self.files), self.table, groups)

    def _check_sizes(self):
        # Before any parse: the language refuses them too, but at the #include of a group file nobody sees.
        limit = self.limits.max_upload
        problems = [
            Problem(
                name,
                1,
                1,
                f"{name} is {shown_size(size)}: a .mln file may have at most "
                f"{shown_size(limit)} (max_upload in mln.conf)",
            )
            for name, size in ((n, len(t.encode("utf-8", "surrogatepass"))) for n, t in self.files.items())
            if size > limit
        ]
        if len(self.table.rows) > self.limits.max_table_rows:
            problems.append(
                Problem(
                    self.table.name,
                    self.table.lines[self.limits.max_table_rows],
                    1,
                    f"the table has more than {self.limits.max_table_rows} groups (max_table_rows in mln.conf)",
                )
            )
        if problems:
            raise CourseError(problems)

    def _expand_rows(self):
        """Every row's group; the course's hosts are counted as they are made, and stop at max_course_hosts."""
        groups, hosts = [], 0
        for index in range(1, len(self.table.rows) + 1):
            group = self._expand_row(index)
            if group is None:
                continue
            hosts += len(group.spec.hosts)
            if hosts > self.limits.max_course_hosts:
                row, _ = self.table.position(index)
                message = (
                    f"group {index}: the course has more than {self.limits.max_course_hosts} hosts with this "
                    "group (max_course_hosts in mln.conf)"
                )
                crossing = Problem(self.table.name, row, 1, message, index)
                raise CourseError([*_merge(self.problems, self.table), crossing])
            groups.append(group)
        return groups

    def _expand_row(self, index):
        guess_project, guess_kept = self.previous.get(index, (None, {}))
        group = self._expand(index, guess_kept)
        if group and group.project != guess_project and group.generated:
            # This row now holds another project (rows were added or removed
            # above it): its passwords are that project's, or new ones.
            kept = self.kept_by_project.get(group.project, {})
            if kept != guess_kept:
                group = self._expand(index, kept, quiet=True) or group
        return group

    def _expand(self, index, kept, quiet=False):
        values, generated = self._values(index, kept)
        text, lines = self._group_file(index, values)
        name = self._file_name(index)
        try:
            # No `variables=`: the group's project is its file's expansion and
            # nothing else, so the downloaded file expands the same anywhere.
            tree = loads(text, filename=name, sources=self.sources, limits=self.limits)
            spec = build_spec(tree)
        except MlnError as exc:
            if not quiet:
                for error in getattr(exc, "errors", None) or [exc]:
                    self._report_mln(error, index, name, lines)
            return None
        project = str(tree.get("project") or "")
        return GroupExpansion(
            index, self.table.lines[index - 1], project, f"{project}.mln", text, values, generated, tree, spec
        )

    def _file_name(self, index):
        # Errors name the group file only until its project is known; those
        # inside it are turned into table positions anyway.
        return f"{self.course}-group-{index:0{self.width}d}.mln"

    def _values(self, index, kept):
        values, generated = {}, {}
        for column, cell in zip(self.table.columns, self.table.rows[index - 1], strict=False):
            if not column or not cell:
                continue  # an empty cell leaves the variable to the master's own definition
            if cell.lower() == RANDOM_CELL:
                cell = generated[column] = kept.get(column) or random_password()
            values[column] = cell
        values["index"] = str(index)
        values["course"] = self.course
        return values, generated

    def _group_file(self, index, values):
        """Listing 4 for one row, and which table column each of its lines came from."""
        row = self.table.lines[index - 1]
        text = [
            f"# Group {index} of course {self.course}, row {row} of {self.table.name}: its variables, then the master."
        ]
        indent = "" if self.master_has_global else "    "
        if not self.master_has_global:
            text.append("global {")
        lines = {}
        for variable, value in values.items():
            lines[len(text) + 1] = variable
            text.append(f"{indent}${variable} = {_quote(value)}")
        if not self.master_has_global:
            text += [f"    project = {self.course}-{index:0{self.width}d}", "}"]
        text += ["", f"#include {self.master_name}", ""]
        return "\n".join(text), lines

    def _report_mln(self, error, index, name, lines):
        kind = getattr(error, "kind", None)
        variable = getattr(error, "name", None) if kind == "undefined-variable" else None
        if kind == "duplicate-variable" and error.name in lines.values() and error.file != name:
            # The language defines a variable once: the master cannot also give a default.
            source = (
                "a built-in variable of every group"
                if error.name in ("index", "course")
                else f"a column of {self.table.name}"
            )
            message = f"${error.name} is defined here and is {source}: define it in one place only"
            self.problems.append((Problem(error.file, error.line, error.col, message), index))
        elif kind == "missing-project":
            # Only a master with its own global block can leave the project unnamed.
            message = "no project name: the master's global block must name it, e.g. `project $course-$index`"
            self.problems.append((Problem(self.master_name, 1, 1, message), index))
        elif error.file == name and error.line in lines:
            # A problem in the group file is a problem of one table cell.
            column = lines[error.line]
            row, col = self.table.position(index, column)
            message = f"column {column!r}: {error.message}"
            self.problems.append((Problem(self.table.name, row, col, message), index))
        elif variable is not None and variable in self.table.columns:
            row, col = self.table.position(index, variable)
            message = (
                f"the cell of column {variable!r} is empty, and {error.file}:{error.line}:{error.col} uses ${variable}"
            )
            self.problems.append((Problem(self.table.name, row, col, message), index))
        elif variable is not None:
            message = f"{error.message}: the table has no column {variable!r}"
            self.problems.append((Problem(error.file, error.line, error.col, message), index))
        else:
            self.problems.append((Problem(error.file, error.line, error.col, error.message), index))

    def _check_names(self, groups):
        first = {}
        for group in groups:
            row, _ = self.table.position(group.index)
            if not PROJECT_NAME.match(group.project):
                message = f"project name {group.project!r} is not usable: letters, digits, '_' and '-', at most 100"
                self.problems.append((Problem(self.table.name, row, 1, message), group.index))
            elif group.project in first:
                other = first[group.project]
                message = (
                    f"project {group.project} is also the project of group {other.index} "
                    f"(row {other.row}): names must be unique in the course"
                )
                self.problems.append((Problem(self.table.name, row, 1, message), group.index))
            elif group.source_name in self.files:
                message = f"the group file {group.source_name} would replace the course file of that name"
                self.problems.append((Problem(self.table.name, row, 1, message), group.index))
            first.setdefault(group.project, group)


def resource_problems(expansion, conf):
    """What the administrator's mln.conf does not allow in any group (memory, disks, bridges, ...), as Problems.

    The checks themselves are the daemon's (daemon.agent.plan.resource_problems), the
    same that a build runs; here they run at upload, so a course that no
    daemon would build is refused before it is stored.
    """
    # The one call site of daemon.agent.plan.resource_problems (another part of issue 9);
    # until that function exists, uploads are not checked against mln.conf's resources.
    problems_of = getattr(plan, "resource_problems", None)
    if problems_of is None:
        return []
    found = []
    for group in expansion.groups:
        for line in problems_of(group.spec, conf):
            found.append((_problem_of_line(line), group.index))
    return _merge(found, expansion.table)


def template_problems(expansion, known, default_template):
    """Every host whose template (or, naming none, mln.conf's default_template) is not in `known`, as
    Problems at the `template` line that names it, or else where the host is defined; merged per place."""
    listed = ", ".join(sorted(known)) or "none is registered yet"
    found = []
    for group in expansion.groups:
        for host in group.spec.hosts.values():
            name = host.template or default_template
            if name in known:
                continue
            if host.template:
                where = _template_line(expansion.files, name) or _host_place(host)
                message = f"template {name!r} is not registered (templates you may use: {listed})"
            else:
                where = _host_place(host)
                message = (
                    f"host {host.name} names no template and default_template {name!r} of mln.conf is not "
                    f"registered (templates you may use: {listed})"
                )
            found.append((Problem(*where, message), group.index))
    return _merge(found, expansion.table)


def _template_line(files, name):
    """(file, line, col) of the first `template NAME` written in the course's files."""
    pattern = re.compile(r"(^|[;{]|\s)(template[ \t]+" + re.escape(name) + r")([ \t]*($|[;}#]))", re.MULTILINE)
    for file, text in files.items():
        match = pattern.search(text)
        if match:
            line = text.count("\n", 0, match.start(2)) + 1
            return file, line, match.start(2) - (text.rfind("\n", 0, match.start(2)) + 1) + 1
    return None


def _host_place(host):
    position = host.position
    return (position.file, position.line, position.col) if position else ("(course)", 1, 1)


# Host settings a running guest took as it started, in the words the pages use; passwords are never shown.
PENDING_SETTINGS = {
    "memory": "memory",
    "vcpus": "virtual CPUs",
    "nameserver": "name server",
    "root_passwd": "root password",
    "vncpasswd": "console password",
    "vncdisplay": "console display",
}
# Settings only a rebuild gives a guest: its disk is made from them.
REBUILD_SETTINGS = {"template": "template", "size": "disk size"}


@dataclass
class Pending:
    """One setting configured but not in effect in a running guest."""

    text: str
    rebuild: bool = False  # False: a restart of the host takes it; True: only a rebuild of its disk


def pending_changes(applied, wanted):
    """What `wanted` (a host spec as a dict) sets beyond `applied` (the spec its guest started with)."""
    found = []
    for key, label in {**PENDING_SETTINGS, **REBUILD_SETTINGS}.items():
        before, after = applied.get(key), wanted.get(key)
        if before == after:
            continue
        if key in SECRET_KEYS:
            text = f"{label} changed"
        elif key in ("memory", "size"):
            text = f"{label} {_size(before)} -> {_size(after)}"
        else:
            text = f"{label} {_shown(before)} -> {_shown(after)}"
        found.append(Pending(text, key in REBUILD_SETTINGS))
    found += _user_changes(applied.get("users") or {}, wanted.get("users") or {})
    found += _interface_changes(applied.get("interfaces") or [], wanted.get("interfaces") or [])
    return found


def _user_changes(before, after):
    lines = [Pending(f"new user {u}") for u in after if u not in before]
    lines += [Pending(f"user {u} removed") for u in before if u not in after]
    lines += [Pending(f"password of {u} changed") for u in after if u in before and before[u] != after[u]]
    return lines


def _interface_changes(before, after):
    old, new = ({i["name"]: i for i in nics} for nics in (before, after))
    lines = [Pending(f"network {n} added") for n in new if n not in old]
    lines += [Pending(f"network {n} removed") for n in old if n not in new]
    for name in (n for n in new if n in old and new[n] != old[n]):
        for key in ("switch", "address", "netmask", "gateway"):
            if old[name].get(key) != new[name].get(key):
                before, after = _shown(old[name].get(key)), _shown(new[name].get(key))
                lines.append(Pending(f"network {name} {key} {before} -> {after}"))
    return lines


def _problem_of_line(line):
    """`file:line:col: message` -> Problem; a line without a place is the course's, at its first line."""
    match = re.match(r"(.+?):(\d+):(\d+): (?:error: )?(.*)\Z", line, re.DOTALL)
    if not match:
        return Problem("(course)", 1, 1, line)
    return Problem(match[1], int(match[2]), int(match[3]), match[4])


@dataclass
class Change:
    """What applying a new version of a course does to one project."""

    kind: str  # "added", "removed", "changed" or "unchanged"
    project: str
    index: int | None  # the group number after the change (None: removed)
    details: list = field(default_factory=list)


def course_changes(old, expansion):
    """old: project name -> (group index, tree) as stored. Projects are matched by name."""
    changes = []
    for group in expansion.groups:
        if group.project not in old:
            changes.append(Change("added", group.project, group.index, [f"new group {group.index}"]))
            continue
        index, tree = old[group.project]
        details = [f"group {index} becomes group {group.index}"] if index != group.index else []
        details += tree_changes(tree, group.tree)
        changes.append(Change("changed" if details else "unchanged", group.project, group.index, details))
    new = {group.project for group in expansion.groups}
    for name, (index, _) in old.items():
        if name not in new:
            changes.append(Change("removed", name, None, [f"group {index} and its project are deleted"]))
    return changes


def tree_changes(old, new):
    """One line per host, switch or global setting that differs, passwords masked."""
    lines = (
        [f"project name {old.get('project')} -> {new.get('project')}"]
        if old.get("project") != new.get("project")
        else []
    )
    lines += _block_changes("global", {"": old.get("global", {})}, {"": new.get("global", {})})
    lines += _block_changes("host", old.get("hosts", {}), new.get("hosts", {}))
    lines += _block_changes("switch", old.get("switches", {}), new.get("switches", {}))
    return lines


def _block_changes(kind, old, new):
    lines = [f"{kind} {name} added" for name in new if name not in old]
    lines += [f"{kind} {name} removed" for name in old if name not in new]
    for name in (n for n in new if n in old and new[n] != old[n]):
        before, after = _flat(old[name]), _flat(new[name])
        for key in dict.fromkeys([*before, *after]):
            if before.get(key) == after.get(key):
                continue
            where = f"{kind} {name}".rstrip() + ": " + " ".join(key)
            if SECRET_KEYS.intersection(key):
                lines.append(f"{where} changed")
            else:
                lines.append(f"{where} {_shown(before.get(key))} -> {_shown(after.get(key))}")
    return lines


def _flat(block, prefix=()):
    """{"network": {"eth0": {"address": x}}} -> {("network", "eth0", "address"): x}."""
    out = {}
    for key, value in block.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def _shown(value):
    return "(unset)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _merge(problems, table):
    """One line per distinct problem: a mistake in the master shows once, naming the groups it hits."""
    merged = {}
    for problem, index in problems:
        merged.setdefault(problem, []).append(index)
    out = []
    for problem, indexes in list(merged.items())[:MAX_PROBLEMS]:
        if problem.file != table.name:
            message = f"{problem.message} ({_groups_phrase(indexes, table)})"
            problem = Problem(problem.file, problem.line, problem.col, message, indexes[0])
        else:
            problem = Problem(
                problem.file, problem.line, problem.col, f"group {indexes[0]}: {problem.message}", indexes[0]
            )
        out.append(problem)
    return out


def _groups_phrase(indexes, table):
    rows = [table.lines[i - 1] for i in indexes]
    if len(indexes) == 1:
        return f"group {indexes[0]}, row {rows[0]} of {table.name}"
    if len(indexes) == len(table.rows):
        return f"every group, rows {rows[0]} to {rows[-1]} of {table.name}"
    shown = ", ".join(map(str, indexes[:5])) + (f" and {len(indexes) - 5} more" if len(indexes) > 5 else "")
    return f"groups {shown}"


def _quote(value):
    value = value.replace("$", "$$")  # a cell's text is literal, never a variable use
    if value and not NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _size(memory):
    if memory is None:
        return "memory unset"
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if memory >= factor and memory % factor == 0:
            return f"{memory // factor}{unit}"
    return f"{memory}B"
