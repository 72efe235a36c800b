"""A course's expansion in a child process, bounded in time and memory.

The limits of mln.conf bound what an upload can make the language do, but
the web server must not depend on every bound being right: one expansion
that still ran away would take the site, and every course on it, down. So
the site expands in a child forked from a small forkserver process (started
once, with the language imported; forking the threaded web server itself
would not be safe), with its address space capped at `expand_memory`
(RLIMIT_AS) and killed after `expand_timeout` seconds. A child that runs out
of either is a clear problem on the upload page, never a traceback.

The command line expands in its own process with the same limits.
"""

import logging
import multiprocessing
import resource
import traceback

from projects.courses import expand_inputs, limits_from_conf, resource_problems
from projects.lang.limits import shown_size
from projects.variable_table import CourseError, Problem

log = logging.getLogger(__name__)

_context = multiprocessing.get_context("forkserver")
# Imported once in the forkserver, so each child starts in milliseconds with the language ready.
# "__main__" (multiprocessing's default) too: a child otherwise imports the server's main
# module (daphne's, manage.py, mln) anew, as multiprocessing must; each has the __main__ guard.
_context.set_forkserver_preload(["__main__", "projects.isolation"])


class Overrun(Exception):
    """The child ran out of time or memory, or died; the message says which, for the user."""


def expand_bounded(course, inputs, previous, conf):
    """Course.expand's work: a CourseExpansion, or CourseError with every problem (limits included)."""
    try:
        expansion = run_bounded(
            expand_inputs, (course, inputs, previous, limits_from_conf(conf)), conf.expand_timeout, conf.expand_memory
        )
    except Overrun as exc:
        raise CourseError([Problem(inputs.master_name, 1, 1, str(exc))]) from None
    problems = resource_problems(expansion, conf)
    if problems:
        raise CourseError(problems)
    return expansion


def run_bounded(function, args, timeout, memory):
    """function(*args) in a child process; its CourseError is raised here, as it was."""
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(sender, memory, function, args), daemon=True)
    child.start()
    sender.close()  # the child holds the only writer: its death is an EOF here
    try:
        if not receiver.poll(timeout):
            raise Overrun(f"expanding the course took longer than {timeout:g} s (expand_timeout in mln.conf)")
        outcome, value = receiver.recv()
    except EOFError:
        raise Overrun("expanding the course stopped without an answer (it was killed; see the server's log)") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()
    return _result(outcome, value, memory)


def _result(outcome, value, memory):
    if outcome == "ok":
        return value
    if outcome == "problems":
        raise CourseError(value)
    if outcome == "memory":
        raise Overrun(
            f"expanding the course needed more than {shown_size(memory)} of memory (expand_memory in mln.conf)"
        )
    log.error("course expansion failed in its child process:\n%s", value)
    raise Overrun("the course could not be expanded: an internal error (the server's log has the details)")


def _child(sender, memory, function, args):
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        answer = ("ok", function(*args))
    except CourseError as exc:
        answer = ("problems", exc.problems)  # CourseError itself does not pickle back into the same problems
    except MemoryError:
        answer = ("memory", None)
    except Exception:  # noqa: BLE001 - a bug: its traceback goes to the log, never to the user
        answer = ("crash", traceback.format_exc())
    try:
        sender.send(answer)
    except MemoryError:  # the expansion fit, its pickle did not
        sender.send(("memory", None))
    finally:
        sender.close()
