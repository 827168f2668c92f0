"""The training state variables, the two checkpoint slots and the commit sequence."""

import logging
import os
import re
from pathlib import Path

import tensorflow as tf
from google.protobuf import text_format

from runner.errors import CommitError, InvalidInputError
from runner.files import write_atomically
from runner.run_folder import CHECKPOINT_PREFIX

logger = logging.getLogger(__name__)

# Two commits per slot: after a crash between the best slot's save and the
# latest slot's commit, the best weights named by the last commit are still
# the older of the two. The latest slot also keeps its newest commit when a
# stop request forced it between two chunk ends.
COMMITS_KEPT = 2


class TrainingState:
    """Everything a commit saves: model, optimizer, early-stopping counters and data seed.

    The data position is the step: the batch order follows from the seed and
    the step (see `runner.data.chunk_indices`), so no iterator is saved.
    """

    def __init__(self, model, optimizer, *, seed):
        self.model = model
        self.optimizer = optimizer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.best_accuracy = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="best_accuracy")
        self.best_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_step")
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")

        # Keras 3.15 leaves the states of layers' seed generators (Dropout and
        # the like) out of the model's checkpoint dependencies. Saving all
        # non-trainable variables keeps their random streams across a resume.
        self.latest_checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=optimizer,
            non_trainable=list(model.non_trainable_variables),
            step=self.step,
            best_accuracy=self.best_accuracy,
            best_step=self.best_step,
            seed=self.seed,
        )
        self.best_checkpoint = tf.train.Checkpoint(model=model, step=self.best_step, accuracy=self.best_accuracy)

    def record_improvement(self, accuracy):
        """Make the current step the best one, with its validation accuracy."""
        self.best_accuracy.assign(accuracy)
        self.best_step.assign(self.step)


class Slots:
    """The `latest` and `best` CheckpointManager folders of a run, and the commit sequence.

    Commit order: the best slot (when the chunk improved), then the metrics
    record, then the latest slot. CheckpointManager replaces the latest
    slot's `checkpoint` state file atomically, and that replacement is the
    commit point. Whatever a crash leaves before it is discarded on restore.
    """

    def __init__(self, folder, state, *, is_chunk_end=lambda step: True):
        """Open the slots of `folder`.

        Args:
            is_chunk_end: Tells whether a step ends a chunk. Commits at other
                steps, forced by stop requests, are dropped from the latest
                slot once a later chunk end is committed, so the slot ends up
                as if the run had never stopped.
        """
        self._folder = folder
        self._state = state
        self._is_chunk_end = is_chunk_end
        self.latest = self._open_latest()
        self.best = self._open_best()

    def restore(self):
        """Restore the newest commit and discard anything written after it.

        Returns:
            The restored step, or None when the run has no commit yet.
        """
        path = self.latest.latest_checkpoint
        if path is None:
            # A crash during the first commit can leave a best checkpoint and
            # a metrics record of a chunk that never committed.
            self._discard_best_after(0)
            self._folder.discard_metrics_after(0)
            return None

        self._state.optimizer.build(self._state.model.trainable_variables)
        try:
            status = self._state.latest_checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as error:
            raise InvalidInputError(
                f"Cannot restore commit {path}: {error}. No file was changed; "
                "check that the job's model matches the one this run was started with."
            ) from None
        step = int(self._state.step.numpy())
        iterations = int(self._state.optimizer.iterations.numpy())
        if iterations != step:
            raise InvalidInputError(
                f"Commit {path} is inconsistent: the optimizer has run {iterations} iterations "
                f"but the commit is at step {step}. Resume from an intact copy of the run folder."
            )
        logger.debug("Restored %s at step %d", path, step)

        self._discard_best_after(step)
        dropped = self._folder.discard_metrics_after(step)
        if dropped:
            logger.debug("Dropped %d metrics records of an uncommitted chunk", dropped)
        return step

    def commit(self, record, *, improved):
        """Write the commit for the current step: best slot, metrics record, latest slot.

        Args:
            record: The chunk's metrics record, or None for a commit forced
                between two chunk ends, which has no validation.
            improved: Whether the chunk improved the best validation accuracy.

        Raises:
            CommitError: a write failed; the previous commit is still the run's state.
        """
        step = int(self._state.step.numpy())
        try:
            if improved:
                _save_numbered(self.best, step)
            if record is not None:
                self._folder.append_metrics(record)
            _save_numbered(self.latest, step)
            self._apply_latest_retention()
        except (OSError, tf.errors.OpError) as error:
            raise CommitError(
                f"Commit at step {step} failed in {self._folder.path}: {_describe_write_error(error)}. "
                "The previous commit is intact. Free disk space or fix permissions, then run "
                f"`runner resume {self._folder.run} --state-dir {self._folder.path.parent}`."
            ) from error
        logger.debug("Committed step %d", step)

    def _discard_best_after(self, step):
        """Delete best-slot checkpoints newer than `step`, left by a chunk that never committed."""
        stale = _keep_checkpoints(self._folder.best, lambda checkpoint_step: checkpoint_step <= step)
        if stale:
            logger.debug("Discarded uncommitted best checkpoints %s", stale)
            self.best = self._open_best()

    def _apply_latest_retention(self):
        """Keep the newest commit and the newest COMMITS_KEPT chunk ends of the latest slot."""
        steps = sorted(_checkpoint_step(path) for path in self.latest.checkpoints)
        chunk_ends = [step for step in steps if self._is_chunk_end(step)]
        kept = set(chunk_ends[-COMMITS_KEPT:]) | set(steps[-1:])
        if len(kept) < len(steps):
            _keep_checkpoints(self._folder.latest, lambda checkpoint_step: checkpoint_step in kept)
            self.latest = self._open_latest()

    def _open_latest(self):
        # Retention is applied by _apply_latest_retention, not by the manager.
        return tf.train.CheckpointManager(
            self._state.latest_checkpoint,
            str(self._folder.latest),
            max_to_keep=None,
            checkpoint_name=CHECKPOINT_PREFIX,
        )

    def _open_best(self):
        return tf.train.CheckpointManager(
            self._state.best_checkpoint,
            str(self._folder.best),
            max_to_keep=COMMITS_KEPT,
            checkpoint_name=CHECKPOINT_PREFIX,
        )


def _describe_write_error(error):
    """Return the OS reason of a failed write, without TensorFlow's op-trace decorations."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    message = re.sub(r"\{\{.*?\}\}\s*", "", error.message).strip()
    return re.sub(r"\s*\[Op:\w+\]\s*$", "", message)


def _save_numbered(manager, step):
    """Save the manager's checkpoint as `ckpt-STEP`, with its save counter equal to the step.

    tf.train.Checkpoint saves its save counter inside every checkpoint. Left
    alone, it would count this process's saves, so a resumed process, or
    one that made an extra commit on a stop request, would write checkpoints
    that differ byte for byte from an uninterrupted run's. Tying it to the
    step makes each checkpoint depend on the training state alone.
    """
    manager.checkpoint.save_counter.assign(step - 1)
    manager.save(checkpoint_number=step)


def _keep_checkpoints(directory, keep):
    """Delete the checkpoints of a CheckpointManager folder whose step fails `keep`.

    The state file is rewritten first, so that it never names a deleted file.
    Returns the deleted checkpoint paths.
    """
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None:
        return []
    entries = list(zip(state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps))
    kept = [(path, stamp) for path, stamp in entries if keep(_checkpoint_step(path))]
    stale = [path for path, _ in entries if not keep(_checkpoint_step(path))]
    if not stale:
        return []

    # get_checkpoint_state made the paths absolute; the file keeps them
    # relative so the run folder stays movable.
    state_file = Path(directory) / "checkpoint"
    if kept:
        del state.all_model_checkpoint_paths[:]
        state.all_model_checkpoint_paths.extend(os.path.basename(path) for path, _ in kept)
        del state.all_model_checkpoint_timestamps[:]
        state.all_model_checkpoint_timestamps.extend(stamp for _, stamp in kept)
        state.model_checkpoint_path = state.all_model_checkpoint_paths[-1]
        write_atomically(state_file, text_format.MessageToString(state))
    else:
        state_file.unlink()
    for path in stale:
        for name in tf.io.gfile.glob(path + ".*"):
            tf.io.gfile.remove(name)
    return stale


def _checkpoint_step(path):
    return int(str(path).rsplit("-", 1)[1])
