"""The folders MLN makes for a project's files, and the mark that proves it made them.

The daemon runs as root and a course file chooses `filepath DIR`, so a folder
is only ever a project's when MLN made it: it writes a marker (`.mln-project`,
holding the project's name) into every folder it makes, reuses a folder only
when that marker names the project, deletes only files it names, and removes
a folder only when nothing but its marker is left. A folder someone else made
is refused, never adopted, and never emptied.
"""

import os
from pathlib import Path

MARKER = ".mln-project"


class FolderError(Exception):
    """A folder the project needs exists and was not made by MLN for it."""


def marked(folder, project):
    """True when MLN made `folder` for `project`."""
    if not folder:
        return False
    try:
        return (Path(folder) / MARKER).read_text() == project
    except (OSError, UnicodeDecodeError):
        return False


def not_ours(folder, project):
    return f"{folder} exists and was not made by MLN for project {project} (it has no {MARKER} naming it)"


def make(folder, project):
    """Makes the folder and marks it; True when made, False when MLN had made it already."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        if marked(folder, project):
            return False
        raise FolderError(not_ours(folder, project)) from None
    # Exclusive create: if another writer got there between mkdir and now, the folder is not ours alone.
    with open(folder / MARKER, "x") as marker:
        marker.write(project)
    return True


def remove(folder, project, names=()):
    """Deletes the files `names` of a folder MLN made for the project, then the folder when only its
    marker is left. Returns (removed anything, files left that MLN did not name)."""
    folder = Path(folder)
    if not marked(folder, project):
        return False, []
    removed = False
    for name in names:
        path = folder / Path(name).name  # a plain name: nothing outside the folder
        if path.is_symlink() or path.is_file():  # a link goes, never what it points to
            path.unlink()
            removed = True
    left = sorted(set(os.listdir(folder)) - {MARKER})
    if left:
        return removed, left
    (folder / MARKER).unlink()
    folder.rmdir()
    return True, []


def only_marker_left(folder):
    try:
        return set(os.listdir(folder)) <= {MARKER}
    except OSError:
        return False
