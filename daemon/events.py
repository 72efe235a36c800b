"""A job's BuildEvents, written in batches.

A thousand-host build makes thousands of steps: one INSERT and one channel
message each would cost more than the steps themselves. Events are numbered
as they happen, shown at once on the command line, and stored and sent to
the live pages at most every FLUSH_SECONDS (and at once for warnings and
errors). A page that sees a gap in `seq` reads the missing rows back.
"""

import time

from projects.choices import EventLevel
from projects.models import BuildEvent

from daemon import records

FLUSH_SECONDS = 0.25


class EventLog:
    def __init__(self, build, progress=None):
        self.build, self.progress = build, progress
        self.seq = build.events.order_by("-seq").values_list("seq", flat=True).first() or 0
        self.pending = []
        self.flushed_at = time.monotonic()

    def add(self, step, message, host, level, done, total):
        self.seq += 1
        event = BuildEvent(build=self.build, seq=self.seq, step=step, host_name=host, level=level,
                           message=message, done=done, total=total)
        self.pending.append(event)
        if self.progress:
            self.progress(event)
        if level != EventLevel.INFO or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()
        return event

    def flush(self):
        """Stores what is pending; the last one stands for all of them on the live pages."""
        if not self.pending:
            return
        BuildEvent.objects.bulk_create(self.pending)
        records.broadcast(self.build.project, self.pending[-1])
        self.pending = []
        self.flushed_at = time.monotonic()
