"""The chunked training loop: train, validate, early stopping, commit."""

import contextlib
import logging
import time

import keras
import numpy as np
import tensorflow as tf

from runner.commit_worker import CommitWorker
from runner.data import chunk_indices
from runner.distribution import Agreement, peer_timeout
from runner.errors import InvalidInputError, PeerLostError
from runner.placement import MULTI_WORKER, Placement
from runner.signals import StopRequest
from runner.state import Slots, TrainingState
from runner.stopping import finished_reason, is_validation_step
from runner.summary import RunSummary
from runner.tensorboard_log import (
    COMMIT_SECONDS,
    STEPS_PER_SECOND,
    VALIDATION_SECONDS,
    TensorBoardLog,
    scalars_of_record,
)

logger = logging.getLogger(__name__)

# Validation runs in batches of this many images: large enough to keep the
# per-batch overhead small, small enough to bound the activations' memory.
VALIDATION_BATCH = 1000

# Training steps run in compiled blocks of this many, so that the Python
# overhead of a call is paid once per block. Stop requests are checked
# between blocks: at 10 ms a step, a stop waits about 0.1 s at most.
STEPS_PER_CALL = 10


def enable_determinism(seed):
    """Seed every random generator and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class Trainer:
    """Trains one run in chunks, committing after each chunk.

    Args:
        job: The `runner.job.Job` to train.
        config: The run's `RunConfig`.
        folder: The run's `RunFolder`; the caller holds its lock.
        splits: The data set, as returned by `job.load_data`.
        stop: A `runner.signals.StopRequest`, checked before every block of
            STEPS_PER_CALL steps. When it is set, the trainer commits at the
            current step and returns.
        segment: A `runner.segments.Segment` updated when training begins
            and after every commit, or None.
        progress: A `runner.progress.LiveProgress` given the step before
            every block of steps, or None.
        strategy: The `tf.distribute.Strategy` to train with; the default
            strategy (one device) when None.
        placement: The `runner.placement.Placement` of this process. Only
            the chief writes the run folder; the other workers of a
            multi-worker run read the chief's commits and write nothing.
    """

    def __init__(
        self, *, job, config, folder, splits, stop=None, segment=None, progress=None, strategy=None, placement=None
    ):
        self._config = config
        self._folder = folder
        self._splits = splits
        self._stop = stop if stop is not None else StopRequest()
        self.segment = segment
        self._progress = progress
        self._placement = placement if placement is not None else Placement()
        self._strategy = strategy if strategy is not None else tf.distribute.get_strategy()
        self._is_chief = self._placement.is_chief
        self._agreement = Agreement(self._strategy) if self._placement.strategy == MULTI_WORKER else None
        self._tensorboard = TensorBoardLog(folder.tensorboard) if self._is_chief else None
        self._restored = False
        self._resumed_from = None
        self._enable_determinism(config.seed)

        replicas = self._strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise InvalidInputError(
                f"--batch-size {config.batch_size} does not split evenly over {replicas} replicas. "
                f"Pass a multiple of {replicas}, or train on fewer devices."
            )
        with self._strategy.scope():
            self.state = _build_state(job, config, seed=config.seed)
        check_model_output(self.state.model, splits, pixel_scale=job.pixel_scale)
        self.slots = Slots(folder, self.state, is_chunk_end=self._is_chunk_end)
        self._commits = None
        if self._is_chief:
            # Built after the live state, so its initializers leave the live
            # weights as they were. Outside the strategy's scope, it contains one
            # copy of each variable, and the worker saves it with no collective operation.
            snapshot = _build_state(job, config, seed=config.seed, optimizer_name=self.state.optimizer.name)
            self._commits = CommitWorker(slots=self.slots, live=self.state, snapshot=snapshot)
        # Each replica's loss is its share of the global batch's mean, so that
        # the summed gradients are the gradients of that mean.
        self._loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

        # Images stay in their stored dtype (uint8 for IDX files); each batch
        # is gathered and scaled inside the compiled step.
        self._pixel_scale = float(job.pixel_scale)
        self._train_images = tf.constant(splits.train_images)
        self._train_labels = tf.constant(splits.train_labels.astype(np.int32))
        self._val_images = tf.constant(splits.val_images)
        self._val_labels = tf.constant(splits.val_labels.astype(np.int32))
        # One signature for blocks of any length, so a short last block never retraces.
        self._train_block = tf.function(
            self._train_block_eager, input_signature=[tf.TensorSpec([None, None], tf.int32)]
        )
        self._count_correct = tf.function(
            self._count_correct_eager,
            input_signature=[
                tf.TensorSpec([None, *self._val_images.shape[1:]], self._val_images.dtype),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    @property
    def replicas(self):
        """The number of replicas that train in sync: devices times workers."""
        return self._strategy.num_replicas_in_sync

    @property
    def is_multi_worker(self):
        """Whether other worker processes train this run in lockstep with this one."""
        return self._agreement is not None

    def restore(self):
        """Restore the newest readable commit, once; return its step, or None for a new run.

        In a multi-worker run, the chief restores first and the other
        workers then restore the chief's step, read-only.
        """
        if self._restored:
            return self._resumed_from
        self._resumed_from = self.slots.restore() if self._is_chief else None
        if self._agreement is not None:
            with self._peer_errors():
                self._resumed_from = self._agree_on_start(self._resumed_from)
        self._restored = True
        return self._resumed_from

    def _agree_on_start(self, chief_step):
        """Give every worker the chief's restored step and check that their settings match the chief's."""
        config = self._config
        settings = [config.seed, config.batch_size, config.chunk_steps, config.max_steps, config.patience]
        step, *chief_settings = self._agreement.from_chief([chief_step or 0, *settings])
        if self._agreement.any(chief_settings != [float(value) for value in settings]):
            raise InvalidInputError(
                f"The workers of run {self._folder.run!r} disagree on seed, batch size, chunk, maximum steps "
                f"or patience: the chief has {[int(value) for value in chief_settings]}, "
                f"worker {self._placement.worker} has {settings}. Start every worker with the same options."
            )
        step = int(step)
        if not self._is_chief and step > 0:
            self.slots.restore_step(step)
        return step if step > 0 or chief_step is not None else None

    def _stop_agreed(self):
        """Return whether any worker has a stop request; in a multi-worker run, all of them learn it together."""
        if self._agreement is None:
            return self._stop.requested
        return self._agreement.any(self._stop.requested)

    def run(self):
        """Train from the last commit until the run is finished or a stop is requested.

        Returns:
            A RunSummary whose `finished_reason` is set when the run is
            finished and whose `stopped_by` names the stop request otherwise.
        """
        started = time.monotonic()
        resumed_from = self.restore()
        if resumed_from is not None:
            logger.info(
                "resumed at step %d (best val acc %.1f%% at step %d)",
                resumed_from,
                100 * float(self.state.best_accuracy.numpy()),
                int(self.state.best_step.numpy()),
            )
        first_step = self._step()
        if self._tensorboard is not None:
            self._tensorboard.repair(self._folder.read_metrics(up_to_step=first_step))
        reason = self._finished_reason()
        if reason is None:
            self._compile()
            if self.segment is not None:
                self.segment.begin(first_step)

        stopped_by = None
        try:
            with self._peer_errors():
                while reason is None:
                    if self._stop_agreed():
                        stopped_by = self._stop.reason or PEER_STOP
                        break
                    self._run_chunk()
                    reason = self._finished_reason()
            if self._commits is not None:
                self._commits.wait()
        finally:
            if self._commits is not None:
                self._commits.close()
            if self._tensorboard is not None:
                self._tensorboard.close()
            if self._progress is not None:
                self._progress.clear()

        return RunSummary(
            run=None,
            step=self._step(),
            finished_reason=reason,
            stopped_by=stopped_by,
            best_accuracy=float(self.state.best_accuracy.numpy()),
            best_step=int(self.state.best_step.numpy()),
            resumed_from=resumed_from,
            steps_trained=self._step() - first_step,
            elapsed_seconds=time.monotonic() - started,
            workers=self._placement.workers,
        )

    @contextlib.contextmanager
    def _peer_errors(self):
        """Turn the error of a collective operation whose peers are gone into a PeerLostError."""
        try:
            yield
        except _PEER_ERRORS as error:
            if self._agreement is None:
                raise
            raise PeerLostError(
                f"Worker {self._placement.worker} lost contact with the other workers of run "
                f"{self._folder.run!r} at step {self._step()}: {_describe_peer_error(error)}. "
                "The last commit is intact. Restart every worker, with `runner resume` or your requeue script."
            ) from None

    def _compile(self):
        """Trace and optimize the compiled functions with empty inputs, so that no chunk pays for it.

        The loops run zero times: no variable changes, and no random
        generator advances.
        """
        self._train_block(tf.zeros([0, self._config.batch_size], tf.int32))
        self._count_correct(self._val_images[:0], self._val_labels[:0])
        if self._commits is not None:
            self._commits.compile()

    def _run_chunk(self):
        config = self._config
        step = self._step()
        # Chunks end on multiples of chunk_steps, so validation happens at the
        # same steps whatever step a previous process stopped at.
        num_steps = min(config.chunk_steps - step % config.chunk_steps, config.max_steps - step)

        # Train.
        batches = chunk_indices(
            seed=config.seed,
            first_step=step,
            num_steps=num_steps,
            batch_size=config.batch_size,
            num_examples=len(self._splits.train_images),
        )
        chunk_end = step + num_steps
        trained = 0
        started = time.monotonic()
        while trained < num_steps and not self._stop_agreed():
            if self._progress is not None:
                self._progress.update(step=step + trained, next_validation=chunk_end, max_steps=config.max_steps)
            block = batches[trained : trained + STEPS_PER_CALL]
            loss, correct = self._train_block(tf.constant(block))
            trained += len(block)
        self.state.step.assign_add(trained)
        train_seconds = time.monotonic() - started
        if trained < num_steps:
            # Stopped inside the chunk: commit the steps trained so far,
            # without validation, which happens at chunk ends only.
            if trained:
                self._commit(None, improved=False)
                if self._commits is not None:
                    self._commits.wait()
                    logger.info("step %6d | committed on stop request", self._step())
            return

        # Validate and track the best weights.
        validation_started = time.monotonic()
        val_accuracy = self._validation_accuracy()
        validation_seconds = time.monotonic() - validation_started
        improved = val_accuracy > float(self.state.best_accuracy.numpy())
        if improved:
            self.state.record_improvement(val_accuracy)

        # Commit.
        record = {
            "step": self._step(),
            "train_loss": float(loss.numpy()),
            "train_accuracy": int(correct.numpy()) / config.batch_size,
            "val_accuracy": val_accuracy,
            "improved": improved,
            "best_accuracy": float(self.state.best_accuracy.numpy()),
            "best_step": int(self.state.best_step.numpy()),
        }
        scalars = scalars_of_record(record)
        scalars[STEPS_PER_SECOND] = trained / train_seconds
        scalars[VALIDATION_SECONDS] = validation_seconds
        self._commit(record, improved=improved, scalars=scalars)

    def _enable_determinism(self, seed):
        # A method, so that benchmarks/unguarded_runner.py can measure the run without it.
        enable_determinism(seed)

    def _commit(self, record, *, improved, scalars=None):
        """Start the commit of the current step; the chunk's report follows it, in the worker thread.

        Workers other than the chief only log the chunk's line, at DEBUG level.
        """
        step = self._step()
        if self._commits is None:
            if record is not None:
                # The chief prints the same line; -v shows this worker's.
                logger.debug(format_chunk_line(record))
            return

        def report(commit_seconds):
            if self.segment is not None:
                self.segment.update(step)
            if record is not None:
                logger.info(format_chunk_line(record))
                self._tensorboard.write(step, {**scalars, COMMIT_SECONDS: commit_seconds})

        self._commits.submit(record, improved=improved, then=report)

    def _is_chunk_end(self, step):
        return is_validation_step(step, chunk_steps=self._config.chunk_steps, max_steps=self._config.max_steps)

    def _replica_step(self, indices):
        """Train one step on this replica's share of the global batch `indices`."""
        share = self._config.batch_size // self.replicas
        first = tf.distribute.get_replica_context().replica_id_in_sync_group * share
        indices = indices[first : first + share]
        images = tf.cast(tf.gather(self._train_images, indices), tf.float32) / self._pixel_scale
        labels = tf.gather(self._train_labels, indices)
        model = self.state.model
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = self._loss(labels, logits) / self._config.batch_size
        gradients = tape.gradient(loss, model.trainable_variables)
        # Sums the gradients of all replicas before the update.
        self.state.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        # Accuracy of this batch before the update, from the same forward pass.
        predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.int32))
        return loss, correct

    def _train_step_eager(self, indices):
        loss, correct = self._strategy.run(self._replica_step, args=(indices,))
        total = tf.distribute.ReduceOp.SUM
        return self._strategy.reduce(total, loss, axis=None), self._strategy.reduce(total, correct, axis=None)

    def _train_block_eager(self, block):
        loss = tf.constant(0.0)
        correct = tf.constant(0)
        for row in tf.range(tf.shape(block)[0]):
            loss, correct = self._train_step_eager(block[row])
        return loss, correct

    def _count_correct_eager(self, images, labels):
        correct = tf.constant(0)
        for start in tf.range(0, tf.shape(labels)[0], VALIDATION_BATCH):
            # One batch at a time: parallel iterations would hold the activations of several.
            tf.autograph.experimental.set_loop_options(parallel_iterations=1)
            batch = tf.cast(images[start : start + VALIDATION_BATCH], tf.float32) / self._pixel_scale
            logits = self.state.model(batch, training=False)
            predictions = tf.argmax(logits, axis=1, output_type=tf.int32)
            correct += tf.reduce_sum(tf.cast(tf.equal(predictions, labels[start : start + VALIDATION_BATCH]), tf.int32))
        return correct

    def _validation_accuracy(self):
        correct = self._count_correct(self._val_images, self._val_labels)
        return int(correct.numpy()) / int(self._val_labels.shape[0])

    def _step(self):
        return int(self.state.step.numpy())

    def _finished_reason(self):
        return finished_reason(
            step=self._step(),
            best_step=int(self.state.best_step.numpy()),
            max_steps=self._config.max_steps,
            patience=self._config.patience,
            chunk_steps=self._config.chunk_steps,
        )


# Errors that the collective operations of a multi-worker run raise when a
# worker is gone: a closed connection, a timed-out collective, or an aborted step.
_PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
)
# The stop reason of a worker that stops because another worker had a stop request.
PEER_STOP = "peer_stop"


def _describe_peer_error(error):
    """Say why a collective operation failed, without TensorFlow's graph trace."""
    if isinstance(error, tf.errors.DeadlineExceededError):
        return f"no answer within RUNNER_PEER_TIMEOUT ({peer_timeout():g} s)"
    if isinstance(error, tf.errors.UnavailableError):
        return "a connection to another worker was closed or refused"
    return f"the collective operation was {'cancelled' if isinstance(error, tf.errors.CancelledError) else 'aborted'}"


def _build_state(job, config, *, seed, optimizer_name=None):
    """Build the job's model and an Adam optimizer with its variables, as a TrainingState.

    Args:
        optimizer_name: The optimizer's name, which the checkpoint records;
            Keras numbers a second optimizer `adam_1` when omitted.
    """
    model = job.build_model()
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, name=optimizer_name)
    optimizer.build(model.trainable_variables)
    return TrainingState(model, optimizer, seed=seed)


def check_model_output(model, splits, *, pixel_scale):
    """Raise InvalidInputError unless the model maps training images to one logit per class.

    The check runs in inference mode, so it advances no random generator and
    leaves the run's result unchanged.
    """
    sample = tf.cast(splits.train_images[:2], tf.float32) / pixel_scale
    try:
        logits = model(sample, training=False)
    # Keras raises ValueError for shape mismatches; a user's model may raise anything.
    except Exception as error:  # noqa: BLE001
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        reason = next((line for line in lines if "expected" in line), lines[0])
        raise InvalidInputError(
            f"The job's model failed on training images of shape {tuple(sample.shape[1:])}: {reason.rstrip('.')}. "
            "Make build_model() accept the images that load_data() returns."
        ) from None

    num_classes = 1 + max(int(labels.max()) for labels in (splits.train_labels, splits.val_labels, splits.test_labels))
    if logits.shape.rank != 2 or logits.shape[0] != 2 or logits.shape[1] < num_classes:
        raise InvalidInputError(
            f"The job's model returns shape {tuple(logits.shape)} for 2 images, expected (2, {num_classes}) or wider: "
            f"one logit per class, for labels 0 to {num_classes - 1}."
        )


def format_chunk_line(record):
    """Format a metrics record as the one-line progress report of a chunk."""
    star = " *" if record["improved"] else ""
    return (
        f"step {record['step']:6d} | train acc {100 * record['train_accuracy']:5.1f}% "
        f"| val acc {100 * record['val_accuracy']:5.1f}%{star}"
    )
