"""Which step function runs each action of a Build (daemon/agent/steps.py and the modules it leads to)."""

from daemon.agent import archive, migration, steps, upgrade
from daemon.agent.steps import Job
from projects.choices import Action

ACTIONS = {
    Action.BUILD: steps.build,
    Action.REBUILD: steps.rebuild,
    Action.START: steps.start,
    Action.STOP: steps.stop,
    Action.POWEROFF: steps.power_off,
    Action.REBOOT: steps.reboot,
    Action.RESET: steps.reset,
    Action.REMOVE: steps.remove,
    Action.EXPORT: archive.export_project,
    Action.IMPORT: archive.import_project,
    Action.UPGRADE: upgrade.upgrade_project,
    Action.MIGRATE_OUT: migration.migrate_out,
    Action.MIGRATE_IN: migration.migrate_in,
    Action.MIGRATE_LIVE: migration.migrate_live,
    Action.MIGRATE_ARRIVED: migration.migrate_arrived,
}


def run(job: Job) -> None:
    """Runs the job's action; on any failure, undoes what this run made, then lets the failure go on."""
    try:
        ACTIONS[job.order.action](job)
    except Exception:
        job.rollback()
        raise
    finally:
        job.events.flush()
