"""What a job on this host can fail with, besides the errors of the modules it calls."""


class JobError(Exception):
    """A job cannot go on; the message says which host and why."""


class ArchiveError(JobError):
    """An export or import cannot go on; the message names the file or host."""
