"""Commits written by a worker thread from a snapshot, while training goes on."""

import concurrent.futures
import logging
import time

import tensorflow as tf

from runner.checkpoint_write import compile_checkpoint_write

logger = logging.getLogger(__name__)


class CommitWorker:
    """Writes each commit in a background thread, from a copy of the training state taken at the chunk end.

    A commit takes tens of milliseconds, mostly waiting for the disk to
    flush files, so the next chunk trains meanwhile. The commit sequence on disk is
    unchanged, and so is what a crash leaves: until the worker replaces the
    latest slot's state file, the previous commit is the run's state. At most
    one commit is in flight: `submit` first waits for the previous one, and
    re-raises its error (a `CommitError`, for instance) in the training thread.

    Args:
        slots: The run's `runner.state.Slots`.
        live: The `TrainingState` that training updates.
        snapshot: A second `TrainingState` of the same job, the one that the
            worker saves. Its variables receive the live values at `submit`.
    """

    def __init__(self, *, slots, live, snapshot):
        live_variables = live.variables()
        snapshot_variables = snapshot.variables()
        shapes = [tuple(variable.shape) for variable in live_variables]
        if shapes != [tuple(variable.shape) for variable in snapshot_variables]:
            raise ValueError("The snapshot state must have the variables of the live state, in the same order.")
        self._slots = slots
        self._snapshot = snapshot
        self._pairs = list(zip(snapshot_variables, live_variables))
        self._copy = tf.function(self._copy_eager)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self._pending = None

    def compile(self):
        """Trace the copy and the checkpoint writes, so that the first commit does not pay for it."""
        self._copy.get_concrete_function()
        compile_checkpoint_write(self._snapshot.latest_checkpoint)
        compile_checkpoint_write(self._snapshot.best_checkpoint)

    def submit(self, record, *, improved, then=None):
        """Copy the live state and start writing its commit; wait for the previous commit first.

        Args:
            record: The chunk's metrics record, or None for a commit between chunk ends.
            improved: Whether the chunk improved the best validation accuracy.
            then: Called in the worker thread after the commit, with the
                commit's duration in seconds.
        """
        self.wait()
        self._copy()
        self._pending = self._executor.submit(self._commit, record, improved, then)

    def wait(self):
        """Wait for the commit in flight, if any, and re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self):
        """Wait for the commit in flight and stop the worker thread."""
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)

    def _commit(self, record, improved, then):
        started = time.monotonic()
        self._slots.commit(record, improved=improved, state=self._snapshot)
        if then is not None:
            then(time.monotonic() - started)

    def _copy_eager(self):
        for snapshot, live in self._pairs:
            snapshot.assign(live)
