"""Test accuracy and confusion matrix of a run's best or latest weights."""

import dataclasses
import logging
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from runner.errors import CorruptRunError, RunNotFoundError
from runner.slot import Slot
from runner.state import newest_readable_step
from runner.status import read_status

logger = logging.getLogger(__name__)

EVALUATION_BATCH = 1000


BEST = "best"
LATEST = "latest"
SLOTS = (BEST, LATEST)


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """Test-set results of one checkpoint.

    Attributes:
        slot: The slot the weights came from, `best` or `latest`.
        val_accuracy: Validation accuracy at `step`, or None for a latest
            commit that a stop request forced between two validations.
        confusion: Counts indexed [true label, predicted label].
        predictions: The predicted class of every test image, in test-set order.
        conv_kernel: The first convolution layer's kernel, or None for a
            model without one.
    """

    slot: str
    step: int
    val_accuracy: Optional[float]
    correct: int
    total: int
    confusion: np.ndarray
    class_names: tuple
    predictions: np.ndarray
    conv_kernel: Optional[np.ndarray]

    @property
    def accuracy(self):
        """Fraction of test images classified correctly."""
        return self.correct / self.total


def evaluate_slot(*, job, folder, splits, slot=BEST):
    """Restore the weights of one slot and test them.

    The best slot's weights are those named by the latest commit's
    `best_step`, so a best-slot entry written by a chunk that never committed
    is never reported. When those weights are unreadable, the newest readable
    best weights before them are used, with a WARNING. The latest slot's
    weights are those of its newest readable commit. Numbers never come from
    unreadable weights.

    Raises:
        RunNotFoundError: the run has no commit yet.
        CorruptRunError: the slot has no readable weights.
    """
    latest = Slot(folder.latest, LATEST)
    latest_step = newest_readable_step(latest, folder)
    if latest_step is None:
        raise RunNotFoundError(
            f"Run {folder.run!r} has no commit yet, so there are no weights to test. "
            f"Train it with `runner resume {folder.run}`."
        )

    model = job.build_model()
    step = tf.Variable(0, dtype=tf.int64)
    if slot == BEST:
        reader = tf.train.load_checkpoint(latest.prefix(latest_step))
        best_step = int(reader.get_tensor("best_step/.ATTRIBUTES/VARIABLE_VALUE"))
        path = _readable_best(Slot(folder.best, BEST), best_step)
        accuracy = tf.Variable(0.0, dtype=tf.float64)
        tf.train.Checkpoint(model=model, step=step, accuracy=accuracy).restore(path).assert_existing_objects_matched()
        val_accuracy = float(accuracy.numpy())
    else:
        path = latest.prefix(latest_step)
        tf.train.Checkpoint(model=model, step=step).restore(path).expect_partial().assert_existing_objects_matched()
        val_accuracy = _logged_val_accuracy(folder, latest_step)
    logger.debug("Restored the %s weights %s", slot, path)

    predictions = predict_classes(model, splits.test_images, pixel_scale=job.pixel_scale)
    labels = splits.test_labels.astype(np.int64)
    # A model may have more logits than the job names classes; extra ones get their number as name.
    names = tuple(job.class_names or ())
    num_classes = max(len(names), int(labels.max()) + 1, int(predictions.max()) + 1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return EvaluationReport(
        slot=slot,
        step=int(step.numpy()),
        val_accuracy=val_accuracy,
        correct=int(np.trace(confusion)),
        total=len(predictions),
        confusion=confusion,
        class_names=names + tuple(str(k) for k in range(len(names), num_classes)),
        predictions=predictions,
        conv_kernel=first_conv_kernel(model),
    )


def first_conv_kernel(model):
    """Return the kernel of the model's first 2D convolution layer as a numpy array, or None."""
    for layer in _flattened_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return np.asarray(layer.kernel)
    return None


def _flattened_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _flattened_layers(layer)


def _logged_val_accuracy(folder, step):
    records = [record for record in folder.read_metrics(up_to_step=step) if record["step"] == step]
    return records[-1]["val_accuracy"] if records else None


def _readable_best(best, best_step):
    """Return the best-slot checkpoint of `best_step`, or the newest readable one before it."""
    problems = []
    for step in sorted((step for step in best.stored_steps() if step <= best_step), reverse=True):
        problem = best.problem(step)
        if problem is None:
            if step != best_step:
                logger.warning(
                    "The best weights of step %d are unreadable (%s); evaluating those of step %d instead",
                    best_step,
                    "; ".join(problems) or "missing",
                    step,
                )
            return best.prefix(step)
        problems.append(problem)
    raise CorruptRunError(
        f"No readable best weights in {best.directory} at or before step {best_step}"
        + (f": {'; '.join(problems)}" if problems else "")
        + ". Nothing was deleted. Restore the run folder from a copy."
    )


def predict_classes(model, images, *, pixel_scale):
    """Return the model's predicted class for each image, in batches."""
    predictions = []
    for start in range(0, len(images), EVALUATION_BATCH):
        batch = tf.cast(images[start : start + EVALUATION_BATCH], tf.float32) / pixel_scale
        predictions.append(tf.argmax(model(batch, training=False), axis=1).numpy())
    return np.concatenate(predictions)


def write_run_figures(directory, *, report, splits, folder):
    """Write the evaluation's figures and the run's learning curve as PNG files into `directory`.

    Returns:
        The paths written.
    """
    from runner.plots import write_figures

    status = read_status(folder)
    resume_steps = [segment["start_step"] for segment in status["segments"][1:]]
    return write_figures(
        Path(directory),
        confusion=report.confusion,
        class_names=report.class_names,
        images=splits.test_images,
        labels=splits.test_labels,
        predictions=report.predictions,
        kernel=report.conv_kernel,
        records=folder.read_metrics(up_to_step=status["step"]),
        resume_steps=resume_steps,
        stop_note=describe_stop(status),
    )


def describe_stop(status):
    """Return how the run ended, or its state and step while unfinished, for the learning curve."""
    step = status["step"]
    if status["finished_reason"] == "early_stop":
        return f"early stop at step {step:,}: {status['steps_since_improvement']:,} steps without improvement"
    if status["finished_reason"] == "max_steps":
        return f"max steps reached at step {step:,}"
    return f"{status['state']} at step {step:,}"
