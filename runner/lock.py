"""One process per run: an exclusive file lock with its holder recorded."""

import datetime
import json
import logging
import os
import socket

import filelock

from runner.errors import RunBusyError, StateNotWritableError
from runner.files import write_atomically

logger = logging.getLogger(__name__)


class RunLock:
    """Exclusive, non-blocking lock on a run folder.

    The operating system releases the lock when the holding process dies, even
    by SIGKILL, so a crashed run never stays locked. `lock.json` beside it
    names the holder for error messages and `runner status`. It may outlive
    the holder, so it is read only while some process holds the lock.
    """

    def __init__(self, run_folder):
        self._folder = run_folder
        self._lock = filelock.FileLock(str(run_folder.lock), timeout=0)

    def acquire(self):
        """Take the lock or raise RunBusyError naming the holder."""
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise RunBusyError(describe_holder(self._folder)) from None
        except OSError as error:
            raise StateNotWritableError(
                f"Cannot create the lock file {self._folder.lock}: {error.strerror or error}. Nothing was trained. "
                "Fix the permissions or the mount, or move the state directory to a writable disk."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        write_atomically(self._folder.lock_holder, json.dumps(holder) + "\n")
        logger.debug("Locked %s for pid %d", self._folder.path, holder["pid"])

    def release(self):
        """Release the lock; the holder record stays for the next reader to ignore."""
        self._lock.release()
        logger.debug("Unlocked %s", self._folder.path)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()


def find_lock_holder(run_folder):
    """Return the lock holder record when a process holds the run, else None.

    NOTE: this probes by taking the lock for an instant, so a `start` or
    `resume` racing with that instant is rejected as busy.
    """
    if not run_folder.lock.exists():
        return None
    probe = filelock.FileLock(str(run_folder.lock), timeout=0)
    try:
        probe.acquire()
    except filelock.Timeout:
        return run_folder.read_lock_holder() or {"pid": None, "host": None, "since": None}
    except OSError:
        # A read-only run folder: no process can be training it.
        return None
    probe.release()
    return None


def describe_holder(run_folder):
    """Build the busy message for a run whose lock another process holds."""
    holder = run_folder.read_lock_holder() or {}
    return (
        f"Run {run_folder.run!r} is in use by pid {holder.get('pid', '?')} on host {holder.get('host', '?')} "
        f"(since {holder.get('since', '?')}). Wait for it to finish or stop it; do not start a second process."
    )
