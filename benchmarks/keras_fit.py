"""Train the runner's network with Keras `Model.fit`, the way a user would without the runner.

The peer of `runner start` in benchmarks/compare.py: the same network, data,
batch size, optimizer, steps and validation cadence, validation batches of
1,000 images as in the runner, and op determinism on.
Batches come from a `tf.data` pipeline that shuffles the training set, and
the images are scaled to [0, 1] once, up front, as Keras tutorials do.

    python benchmarks/keras_fit.py --steps 1000 [--backup-dir DIR]

With --backup-dir, `keras.callbacks.BackupAndRestore(save_freq=100)` backs
the training up every 100 steps, Keras's own way to survive a restart.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from jobs._convnet import build_convnet  # noqa: E402
from jobs.fashion_mnist import job as fashion_job  # noqa: E402

VALIDATION_EVERY = 100


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="Training steps, a multiple of 100.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backup-dir", help="Back up with BackupAndRestore(save_freq=100) into this folder.")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    started = time.monotonic()
    keras.utils.set_random_seed(arguments.seed)
    tf.config.experimental.enable_op_determinism()
    splits = fashion_job.load_data(None)

    train = (
        tf.data.Dataset.from_tensor_slices((splits.train_images.astype(np.float32) / 255.0, splits.train_labels))
        .shuffle(len(splits.train_images), seed=arguments.seed)
        .repeat()
        .batch(arguments.batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = (splits.val_images.astype(np.float32) / 255.0, splits.val_labels)

    model = build_convnet()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    callbacks = []
    if arguments.backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(arguments.backup_dir, save_freq=VALIDATION_EVERY))

    # One Keras epoch per validation period, so validation runs every 100 steps.
    history = model.fit(
        train,
        steps_per_epoch=VALIDATION_EVERY,
        epochs=arguments.steps // VALIDATION_EVERY,
        validation_data=validation,
        validation_batch_size=1000,
        callbacks=callbacks,
        verbose=0,
    )
    print(
        f"fit: {arguments.steps} steps, final val acc {history.history['val_accuracy'][-1]:.4f},"
        f" {time.monotonic() - started:.1f} s after start-up"
    )


if __name__ == "__main__":
    main()
