"""Test accuracy and confusion matrix of a run's best weights."""

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from runner.errors import CorruptRunError, RunNotFoundError
from runner.slot import Slot
from runner.state import newest_readable_step

logger = logging.getLogger(__name__)

EVALUATION_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """Test-set results of one checkpoint.

    Attributes:
        confusion: Counts indexed [true label, predicted label].
    """

    step: int
    val_accuracy: float
    correct: int
    total: int
    confusion: np.ndarray
    class_names: tuple

    @property
    def accuracy(self):
        """Fraction of test images classified correctly."""
        return self.correct / self.total


def evaluate_best(*, job, folder, splits):
    """Restore the best weights named by the run's last commit and test them.

    The latest commit's `best_step` picks the checkpoint, so a best-slot entry
    written by a chunk that never committed is never reported. When those
    weights are unreadable, the newest readable best weights before them are
    used, with a WARNING; numbers never come from unreadable weights.

    Raises:
        RunNotFoundError: the run has no commit yet.
    """
    latest = Slot(folder.latest, "latest")
    latest_step = newest_readable_step(latest, folder)
    if latest_step is None:
        raise RunNotFoundError(f"Run {folder.run!r} has no commit yet; train it with `runner resume {folder.run}`.")
    reader = tf.train.load_checkpoint(latest.prefix(latest_step))
    best_step = int(reader.get_tensor("best_step/.ATTRIBUTES/VARIABLE_VALUE"))
    best_path = _readable_best(Slot(folder.best, "best"), best_step)

    model = job.build_model()
    step = tf.Variable(0, dtype=tf.int64)
    accuracy = tf.Variable(0.0, dtype=tf.float64)
    checkpoint = tf.train.Checkpoint(model=model, step=step, accuracy=accuracy)
    checkpoint.restore(best_path).assert_existing_objects_matched()
    logger.debug("Restored best weights %s", best_path)

    predictions = predict_classes(model, splits.test_images, pixel_scale=job.pixel_scale)
    labels = splits.test_labels.astype(np.int64)
    num_classes = len(job.class_names) if job.class_names else int(max(labels.max(), predictions.max())) + 1
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    class_names = tuple(job.class_names) if job.class_names else tuple(str(k) for k in range(num_classes))
    return EvaluationReport(
        step=int(step.numpy()),
        val_accuracy=float(accuracy.numpy()),
        correct=int(np.trace(confusion)),
        total=len(labels),
        confusion=confusion,
        class_names=class_names,
    )


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
