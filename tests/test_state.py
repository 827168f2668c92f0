"""Restoring a commit: optimizer state, random state and what a crash left behind."""

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from jobs.fashion_mnist import job as fashion_job
from runner.run_folder import RunFolder
from runner.state import Slots, TrainingState


def _open_state(folder, build_model):
    model = build_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-4)
    optimizer.build(model.trainable_variables)
    state = TrainingState(model, optimizer, seed=7)
    return state, Slots(folder, state)


def _tiny_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, seed=1), keras.layers.Dense(3)])


def test_optimizer_state_restored(tmp_path, reference_run):
    run_dir = shutil.copytree(reference_run, tmp_path / "fashion_mnist")
    folder = RunFolder(tmp_path, "fashion_mnist")
    state, slots = _open_state(folder, fashion_job.build_model)
    saved = tf.train.load_checkpoint(str(run_dir / "latest" / "ckpt-400"))

    restored_step = slots.restore()

    assert restored_step == 400
    assert int(state.optimizer.iterations.numpy()) == 400
    moments = 0
    for index, variable in enumerate(state.optimizer.variables):
        key = f"optimizer/_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE"
        if not saved.has_tensor(key):
            continue
        value = variable.numpy()
        assert np.array_equal(value, saved.get_tensor(key)), variable.path
        moments += int(np.any(value != 0))
    # Adam keeps a first and a second moment for each of the 8 weight tensors.
    assert moments == 16


def test_random_state_of_dropout_restored(tmp_path):
    folder = RunFolder(tmp_path, "tiny")
    folder.path.mkdir()
    state, slots = _open_state(folder, _tiny_model)
    state.model(tf.ones((2, 4)), training=True)
    saved_seed_state = [variable.numpy().copy() for variable in state.model.non_trainable_variables]
    slots.commit({"step": 0, "val_accuracy": 0.5}, improved=False)

    state.model(tf.ones((2, 4)), training=True)
    state, slots = _open_state(folder, _tiny_model)
    slots.restore()

    assert saved_seed_state, "the Dropout layer should own a seed generator state"
    for variable, saved in zip(state.model.non_trainable_variables, saved_seed_state):
        assert np.array_equal(variable.numpy(), saved), variable.path


def test_uncommitted_best_and_metrics_discarded(tmp_path):
    folder = RunFolder(tmp_path, "tiny")
    folder.path.mkdir()
    state, slots = _open_state(folder, _tiny_model)
    state.step.assign(100)
    state.optimizer.iterations.assign(100)
    state.record_improvement(0.5)
    slots.commit({"step": 100, "val_accuracy": 0.5}, improved=True)
    # A crash between the best slot's save and the latest slot's commit at step 200.
    state.step.assign(200)
    state.optimizer.iterations.assign(200)
    state.record_improvement(0.6)
    slots.best.save(checkpoint_number=200)
    folder.append_metrics({"step": 200, "val_accuracy": 0.6})

    state, slots = _open_state(folder, _tiny_model)
    restored_step = slots.restore()

    assert restored_step == 100
    assert [record["step"] for record in folder.read_metrics()] == [100]
    assert [path.rsplit("/", 1)[1] for path in slots.best.checkpoints] == ["ckpt-100"]
    assert not list((folder.best).glob("ckpt-200*"))
    assert 'model_checkpoint_path: "ckpt-100"' in (folder.best / "checkpoint").read_text()
    assert float(state.best_accuracy.numpy()) == pytest.approx(0.5)
