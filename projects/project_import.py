"""`mln import`'s Project row: made only once the folder has passed the agent's checks, and put
back as it was when the import fails (the job undoes what it made on the host)."""

from django.db import transaction

from daemon.agent import archive
from daemon.agent.errors import ArchiveError
from projects.models import Project


def project_from_folder(name, folder, conf):
    """The Project row the import builds, named `name` (a new name imports a copy), and what
    `undo_import` needs to put the database back as it was. Nothing is written unless every check passes."""
    archive.check_project_name(name)
    export = archive.verify(folder, conf)
    tree, spec = archive.spec_from_manifest(export, name, conf)
    missing = sorted(set(spec.hosts) - set(export.disks))
    if missing:
        raise ArchiveError(f"{export.folder / archive.MANIFEST}: no disk for host {', '.join(missing)}")
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(name=name).first()
        previous = check_importable(project, name)
        project = project or Project(name=name)
        project.source_name, project.source = f"{name}.mln", export.source
        project.tree, project.spec = tree, spec.to_dict()
        project.save()
    return project, previous


def check_importable(project, name):
    """What the existing row held (None for a new project); refuses a course's or a built project."""
    if project is None:
        return None
    if project.group_id:
        raise ArchiveError(f"project {name} belongs to a course")
    if project.state not in archive.IMPORTABLE_STATES:
        raise ArchiveError(f"project {name} is {project.state}: remove it first (mln remove -p {name})")
    return {
        "source_name": project.source_name,
        "source": project.source,
        "tree": project.tree,
        "spec": project.spec,
        "state": project.state,
    }


def undo_import(project, previous):
    """After a failed import: a new project's row goes (with its builds, hosts and switches); an
    existing one gets back what it held. The job itself has undone what it made on the host."""
    with transaction.atomic():
        if previous is None:
            project.delete()
            return
        for field, value in previous.items():
            setattr(project, field, value)
        project.save()
        kept = set(previous["spec"].get("hosts", {}))
        project.hosts.exclude(name__in=kept).delete()
        project.switches.exclude(name__in=set(previous["spec"].get("switches", {}))).delete()
