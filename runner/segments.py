"""The history of a run: one segment per process that trained it.

`segments.json` in the run folder is a list of records, rewritten atomically
when a segment begins, after each of its commits and when it ends:

    {"pid": 4242, "host": "node1", "began": "2026-12-04T20:00:00+00:00",
     "ended": "2026-12-04T20:05:00+00:00", "start_step": 0, "end_step": 1200,
     "outcome": "SIGTERM"}

`outcome` is `finished`, the name of the signal that stopped the process,
`time_limit`, `error`, `running` while the process lives, or `killed` for a
process that died without closing its segment (SIGKILL, power loss). A killed
segment ends at its last commit: steps after it were lost.
"""

import datetime
import json
import logging

from runner.files import write_atomically

logger = logging.getLogger(__name__)

RUNNING = "running"
KILLED = "killed"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def read_segments(folder):
    """Return the run's segment records, oldest first; an unreadable file counts as empty."""
    try:
        records = json.loads(folder.segments.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return records if isinstance(records, list) else []


def summarize_segments(records):
    """Return the number of resumes (segments after the first) and the training seconds."""
    seconds = 0.0
    for record in records:
        began = datetime.datetime.fromisoformat(record["began"])
        ended = datetime.datetime.fromisoformat(record["ended"])
        seconds += (ended - began).total_seconds()
    return {"resumes": max(0, len(records) - 1), "training_seconds": round(seconds, 3)}


def effective_outcome(record, *, running_pid=None):
    """Return the record's outcome, reading a dead process's `running` as `killed`."""
    if record["outcome"] == RUNNING and record.get("pid") != running_pid:
        return KILLED
    return record["outcome"]


class Segment:
    """The segment of this process; the caller holds the run's lock."""

    def __init__(self, folder, *, pid, host):
        self._folder = folder
        self._records = read_segments(folder)
        for record in self._records:
            if record["outcome"] == RUNNING:
                record["outcome"] = KILLED
        self._record = {
            "pid": pid,
            "host": host,
            "began": _now(),
            "ended": None,
            "start_step": None,
            "end_step": None,
            "outcome": RUNNING,
        }

    def begin(self, step):
        """Record that this process starts training at `step`."""
        self._record.update(began=_now(), ended=_now(), start_step=step, end_step=step)
        self._records.append(self._record)
        self._write()

    def update(self, step):
        """Record a commit at `step`."""
        self._record.update(ended=_now(), end_step=step)
        self._write()

    def end(self, outcome):
        """Close the segment with its outcome (`finished`, a signal name, `time_limit`, `error`).

        Does nothing when the segment never began, because the run was
        already finished.
        """
        if self._record["start_step"] is None:
            return
        self._record.update(ended=_now(), outcome=outcome)
        self._write()
        logger.debug("Segment of pid %s ended: %s", self._record["pid"], outcome)

    def _write(self):
        write_atomically(self._folder.segments, json.dumps(self._records, indent=1) + "\n")
