"""Restoring a commit: optimizer state, random state and what a crash left behind."""

import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from jobs.fashion_mnist import job as fashion_job
from runner.run_folder import RunFolder
from runner.state import Slots, TrainingState

from idx_files import write_mnist_folder


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
    saved = tf.train.load_checkpoint(str(run_dir / "latest" / "ckpt-500"))

    restored_step = slots.restore()

    assert restored_step == 500
    assert int(state.optimizer.iterations.numpy()) == 500
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
    slots.best.save(state.best_checkpoint, 200, keep=lambda steps: steps)
    folder.append_metrics({"step": 200, "val_accuracy": 0.6})

    state, slots = _open_state(folder, _tiny_model)
    restored_step = slots.restore()

    assert restored_step == 100
    assert [record["step"] for record in folder.read_metrics()] == [100]
    assert slots.best.listed_steps() == [100]
    assert not list((folder.best).glob("ckpt-200*"))
    assert 'model_checkpoint_path: "ckpt-100"' in (folder.best / "checkpoint").read_text()
    assert float(state.best_accuracy.numpy()) == pytest.approx(0.5)


def _readme_job(tmp_path):
    """Write the job example of the README to a file and load it."""
    from runner.job import load_job

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    source = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "readme_job.py"
    path.write_text(source)
    return load_job(str(path))


def _train(job, folder, splits, *, max_steps):
    from runner.config import RunConfig
    from runner.trainer import Trainer

    config = RunConfig(
        run=folder.run,
        job="readme_job",
        max_steps=max_steps,
        chunk_steps=50,
        patience=1000,
        batch_size=32,
        learning_rate=1e-3,
        seed=5,
    )
    return Trainer(job=job, config=config, folder=folder, splits=splits).run()


def test_readme_job_with_dropout_resumes_exactly(tmp_path):
    job = _readme_job(tmp_path)
    write_mnist_folder(tmp_path / "data")
    splits = job.load_data(tmp_path / "data")
    uninterrupted = RunFolder(tmp_path / "state", "uninterrupted")
    resumed = RunFolder(tmp_path / "state", "resumed")
    uninterrupted.path.mkdir(parents=True)
    resumed.path.mkdir(parents=True)

    _train(job, uninterrupted, splits, max_steps=200)
    _train(job, resumed, splits, max_steps=100)
    summary = _train(job, resumed, splits, max_steps=200)

    assert summary.resumed_from == 100
    # Models built again in one process get new Keras names, which the
    # checkpoint's object graph records; compare the saved values instead.
    for name in ("ckpt-150", "ckpt-200"):
        expected = _checkpoint_values(uninterrupted.latest / name)
        actual = _checkpoint_values(resumed.latest / name)
        assert sorted(actual) == sorted(expected)
        for key in expected:
            assert np.array_equal(actual[key], expected[key]), f"{name}: {key}"
    assert resumed.metrics.read_text() == uninterrupted.metrics.read_text()


def _checkpoint_values(path):
    reader = tf.train.load_checkpoint(str(path))
    names = [name for name in reader.get_variable_to_shape_map() if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    return {name: reader.get_tensor(name) for name in names}


def test_crash_in_first_commit_leaves_nothing(tmp_path):
    folder = RunFolder(tmp_path, "tiny")
    folder.path.mkdir()
    state, slots = _open_state(folder, _tiny_model)
    # A crash at step 100 between the best slot's save and the first commit.
    state.step.assign(100)
    state.record_improvement(0.5)
    slots.best.save(state.best_checkpoint, 100, keep=lambda steps: steps)
    folder.append_metrics({"step": 100, "val_accuracy": 0.5})

    state, slots = _open_state(folder, _tiny_model)
    restored_step = slots.restore()

    assert restored_step is None
    assert folder.read_metrics() == []
    assert slots.best.listed_steps() == []
    assert not list(folder.best.glob("ckpt-*"))
    assert not (folder.best / "checkpoint").exists()


def test_restore_into_other_model_rejected(tmp_path):
    from runner.errors import InvalidInputError

    folder = RunFolder(tmp_path, "tiny")
    folder.path.mkdir()
    state, slots = _open_state(folder, _tiny_model)
    slots.commit({"step": 0, "val_accuracy": 0.5}, improved=False)
    files_before = sorted(path.name for path in folder.latest.iterdir())

    def wider_model():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)])

    state, slots = _open_state(folder, wider_model)
    with pytest.raises(InvalidInputError, match="Cannot restore commit"):
        slots.restore()
    assert sorted(path.name for path in folder.latest.iterdir()) == files_before
