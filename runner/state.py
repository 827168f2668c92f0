"""The training state variables, the two checkpoint slots and the commit sequence."""

import logging
import re
import shutil

import tensorflow as tf

from runner.errors import CommitError, CorruptRunError, InvalidInputError
from runner.faults import fault_point
from runner.segments import read_segments
from runner.slot import Slot
from runner.state_file import UnreadableStateFile

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

    def variables(self):
        """Return every variable that a commit saves, in an order fixed by the job's model."""
        return [
            *self.model.variables,
            *self.optimizer.variables,
            self.step,
            self.best_accuracy,
            self.best_step,
            self.seed,
        ]

    def record_improvement(self, accuracy):
        """Make the current step the best one, with its validation accuracy."""
        self.best_accuracy.assign(accuracy)
        self.best_step.assign(self.step)


class Slots:
    """The `latest` and `best` slots of a run, and the commit sequence.

    Commit order: the best slot (when the chunk improved), then the metrics
    record, then the latest slot. The replacement of the latest slot's
    `checkpoint` state file is the commit point. Whatever a crash leaves
    before it is discarded on restore.
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
        self.latest = Slot(folder.latest, "latest")
        self.best = Slot(folder.best, "best")

    def restore(self):
        """Restore the newest readable commit and discard anything written after it.

        Returns:
            The restored step, or None when the run has no commit yet.

        Raises:
            CorruptRunError: the latest slot has checkpoints but none is
                readable; nothing is deleted.
        """
        step = newest_readable_step(self.latest, self._folder)
        if step is None:
            self._discard_after(0)
            return None

        self.restore_step(step)
        self._discard_after(step)
        return step

    def restore_step(self, step):
        """Restore the latest slot's commit at `step` and change no file.

        Raises:
            InvalidInputError: the commit does not match the job's model, or
                its optimizer and step counters disagree.
        """
        self._state.optimizer.build(self._state.model.trainable_variables)
        prefix = self.latest.prefix(step)
        try:
            status = self._state.latest_checkpoint.restore(prefix)
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as error:
            raise InvalidInputError(
                f"Cannot restore commit {prefix}: {error}. No file was changed; "
                "check that the job's model matches the one this run was started with."
            ) from None
        iterations = int(self._state.optimizer.iterations.numpy())
        if iterations != step or int(self._state.step.numpy()) != step:
            raise InvalidInputError(
                f"Commit {prefix} is inconsistent: the optimizer has run {iterations} iterations "
                f"but the commit is at step {step}. Resume from an intact copy of the run folder."
            )
        logger.debug("Restored %s", prefix)

    def commit(self, record, *, improved, state=None):
        """Write the commit for the current step: best slot, metrics record, latest slot.

        Args:
            record: The chunk's metrics record, or None for a commit forced
                between two chunk ends, which has no validation.
            improved: Whether the chunk improved the best validation accuracy.
            state: The `TrainingState` to save, when not the one restored
                into: a snapshot of it, for instance.

        Raises:
            CommitError: a write failed; the previous commit is still the run's state.
        """
        state = state if state is not None else self._state
        step = int(state.step.numpy())
        try:
            if improved:
                self.best.save(state.best_checkpoint, step, keep=lambda steps: steps[-COMMITS_KEPT:])
            if record is not None:
                fault_point("metrics_before", step)
                self._folder.append_metrics(record)
                fault_point("metrics_after", step)
            self.latest.save(state.latest_checkpoint, step, keep=self._latest_retention)
        except (OSError, tf.errors.OpError) as error:
            _remove_staging(self.best, self.latest)
            raise CommitError(
                f"Commit at step {step} failed in {self._folder.path}: {_describe_write_error(error)}. "
                "The previous commit is intact. Free disk space or fix permissions, then run "
                f"`runner resume {self._folder.run} --state-dir {self._folder.path.parent}`."
            ) from error
        logger.debug("Committed step %d", step)

    def _latest_retention(self, steps):
        """Keep the newest commit and the newest COMMITS_KEPT chunk ends."""
        chunk_ends = [step for step in steps if self._is_chunk_end(step)]
        return set(chunk_ends[-COMMITS_KEPT:]) | set(steps[-1:])

    def _discard_after(self, step):
        """Make every file describe the commit at `step`: drop newer checkpoints, records and leftovers."""
        for slot in (self.latest, self.best):
            try:
                listed = slot.listed_steps()
                state_readable = True
            except UnreadableStateFile:
                listed = [candidate for candidate in slot.stored_steps() if slot.problem(candidate) is None]
                state_readable = False
            kept = [
                candidate
                for candidate in listed
                if candidate <= step and (candidate == step or slot.problem(candidate) is None)
            ]
            if slot is self.latest and step > 0 and step not in kept:
                kept.append(step)
            if kept != listed or not state_readable or not (slot.directory / "checkpoint").exists():
                slot.write_state(sorted(kept))
            removed = slot.discard_unlisted(kept)
            if removed:
                logger.debug("Removed from the %s slot: %s", slot.name, ", ".join(removed))
        dropped = self._folder.discard_metrics_after(step)
        if dropped:
            logger.debug("Dropped %d metrics records of an uncommitted chunk", dropped)


def newest_readable_step(slot, folder):
    """Return the newest readable checkpoint step of `slot`, or None when it has none yet.

    Falls back past unreadable checkpoints with a WARNING that names them.
    Without a readable state file, the folder's checkpoints are the candidates.

    Raises:
        CorruptRunError: the slot has checkpoints but none is readable, or the
            run recorded commits but its slot is empty. Nothing is deleted.
    """
    try:
        candidates = slot.listed_steps() or slot.stored_steps()
    except UnreadableStateFile as error:
        logger.warning("Unreadable state file %s; looking for checkpoints in the folder", error)
        candidates = slot.stored_steps()

    problems = []
    for step in reversed(candidates):
        problem = slot.problem(step)
        if problem is None:
            if problems:
                logger.warning(
                    "Falling back to the %s commit at step %d, because newer ones are unreadable: %s",
                    slot.name,
                    step,
                    "; ".join(f"step {bad}: {text}" for bad, text in problems),
                )
            return step
        problems.append((step, problem))

    if problems:
        details = "; ".join(f"step {bad}: {text}" for bad, text in problems)
        raise CorruptRunError(
            f"No readable checkpoint in {slot.directory}: {details}. Nothing was deleted. "
            "Restore the run folder from a copy, or start a new run."
        )
    committed = [segment for segment in read_segments(folder) if (segment.get("end_step") or 0) > 0]
    if slot.name == "latest" and committed:
        raise CorruptRunError(
            f"Run {folder.run!r} committed up to step {committed[-1]['end_step']} but {slot.directory} "
            "has no checkpoint. Nothing was deleted. Restore the run folder from a copy, or start a new run."
        )
    return None


def _remove_staging(*slots):
    """Delete the staging files of a failed save, so that a full disk gets its space back."""
    for slot in slots:
        if not slot.directory.is_dir():
            continue
        for path in slot.directory.glob(".staging-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _describe_write_error(error):
    """Return the OS reason of a failed write, without TensorFlow's op-trace decorations."""
    if isinstance(error, OSError):
        return error.strerror or str(error)
    message = re.sub(r"\{\{.*?\}\}\s*", "", error.message).strip()
    return re.sub(r"\s*\[Op:\w+\]\s*$", "", message)
