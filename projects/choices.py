"""Named states and actions, shared by models, jobs and pages."""

from django.db import models


class ProjectState(models.TextChoices):
    NEW = "new", "not built"
    BUILDING = "building", "building"
    BUILT = "built", "built"
    RUNNING = "running", "running"
    STOPPED = "stopped", "stopped"
    FAILED = "failed", "failed"
    REMOVED = "removed", "removed"


class HostState(models.TextChoices):
    # What libvirt last said about the guest, as reported by its daemon.
    ABSENT = "absent", "not defined"
    DEFINED = "defined", "defined"
    RUNNING = "running", "running"
    STOPPED = "stopped", "stopped"
    FAILED = "failed", "failed"


class Action(models.TextChoices):
    BUILD = "build", "build"
    REBUILD = "rebuild", "rebuild"
    START = "start", "start"
    STOP = "stop", "shut down"  # ACPI, then powered off after mln.conf `shutdown_timeout`
    POWEROFF = "poweroff", "power off"
    REBOOT = "reboot", "reboot"
    RESET = "reset", "reset"
    REMOVE = "remove", "remove"
    EXPORT = "export", "export"
    IMPORT = "import", "import"
    UPGRADE = "upgrade", "upgrade"
    # The four steps of moving hosts between service hosts (daemon/agent/migration.py).
    MIGRATE_OUT = "migrate_out", "export a moving host"
    MIGRATE_IN = "migrate_in", "import a moved host"
    MIGRATE_LIVE = "migrate_live", "migrate live"
    MIGRATE_ARRIVED = "migrate_arrived", "confirm a live arrival"


class BuildStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


class EventLevel(models.TextChoices):
    INFO = "info", "info"
    WARNING = "warning", "warning"
    ERROR = "error", "error"


# The four steps of a move, and the side of the move each is (what the pages and tests name them by).
MIGRATION_SIDES = {
    Action.MIGRATE_OUT: "out",
    Action.MIGRATE_IN: "in",
    Action.MIGRATE_LIVE: "live",
    Action.MIGRATE_ARRIVED: "arrived",
}
