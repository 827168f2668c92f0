"""The layout of a run folder and the reads that need no TensorFlow.

A run folder contains:

    config.json      the resolved RunConfig
    latest/          checkpoint slot with the full training state
    best/            checkpoint slot with the best validation weights
    metrics.jsonl    one JSON record per committed chunk
    segments.json    one record per process that trained the run
    tensorboard/     TensorBoard scalars of each committed chunk
    lock             the process lock (filelock)
    lock.json        pid, host and start time of the lock holder

Every path inside is relative to the folder, so it can be moved or copied.
"""

import json
from pathlib import Path

from runner.config import RunConfig, validate_run_name
from runner.errors import RunNotFoundError, UsageError
from runner.files import append_line, write_atomically
from runner.state_file import read_state_file


class RunFolder:
    """Paths of one run's files inside the state directory."""

    def __init__(self, state_dir, run):
        check_state_dir(state_dir)
        validate_run_name(run)
        self.run = run
        self.path = Path(state_dir) / run
        self.config = self.path / "config.json"
        self.latest = self.path / "latest"
        self.best = self.path / "best"
        self.metrics = self.path / "metrics.jsonl"
        self.segments = self.path / "segments.json"
        self.tensorboard = self.path / "tensorboard"
        self.lock = self.path / "lock"
        self.lock_holder = self.path / "lock.json"

    def exists(self):
        """Return whether the run has been created (its configuration is saved)."""
        return self.config.is_file()

    def load_config(self):
        """Read the run's configuration.

        Raises:
            RunNotFoundError: the run does not exist.
        """
        if not self.exists():
            raise RunNotFoundError(
                f"No run named {self.run!r} in the state directory {self.path.parent}/. "
                "Start it with `runner start JOB --run NAME`, or see `runner list`."
            )
        return RunConfig.from_json(self.config.read_text(encoding="utf-8"), source=self.config)

    def committed_step(self):
        """Return the step of the latest slot's newest commit, or None before the first commit.

        Raises:
            UnreadableStateFile: the latest slot's state file cannot be parsed.
        """
        return read_state_file(self.latest)[0]

    def read_metrics(self, *, up_to_step=None):
        """Return the metrics records, oldest first, optionally only those up to a step."""
        if not self.metrics.is_file():
            return []
        records = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            # A line cut short by a crash is the tail of an uncommitted chunk.
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if up_to_step is None or record["step"] <= up_to_step:
                records.append(record)
        return records

    def discard_metrics_after(self, step):
        """Drop records newer than `step`, left by a chunk that never committed."""
        if not self.metrics.is_file():
            return 0
        kept = self.read_metrics(up_to_step=step)
        lines = self.metrics.read_text(encoding="utf-8").splitlines()
        if len(lines) == len(kept):
            return 0
        write_atomically(self.metrics, "".join(_format_record(record) + "\n" for record in kept))
        return len(lines) - len(kept)

    def append_metrics(self, record):
        """Append one chunk's record to the metrics log, flushed to disk."""
        append_line(self.metrics, _format_record(record))

    def read_lock_holder(self):
        """Return the recorded lock holder (pid, host, since), or None."""
        try:
            return json.loads(self.lock_holder.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None


def _format_record(record):
    # Sorted keys and fixed separators make the log byte-identical across runs.
    return json.dumps(record, sort_keys=True, separators=(", ", ": "))


def check_state_dir(state_dir):
    """Raise UsageError when `state_dir` exists but is not a folder."""
    if Path(state_dir).exists() and not Path(state_dir).is_dir():
        raise UsageError(
            f"Invalid value for --state-dir: {state_dir} is a file. Pass a folder; a missing one is created."
        )


def list_runs(state_dir):
    """Return the names of the runs in `state_dir`, sorted."""
    check_state_dir(state_dir)
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return []
    return sorted(child.name for child in state_dir.iterdir() if (child / "config.json").is_file())
