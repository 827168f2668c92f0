"""Resuming with changed settings: rejected with 65 and no file changed, unless a limit is raised."""

import json
import textwrap

import pytest

from conftest import copy_run, folder_listing, run_runner
from idx_files import write_mnist_folder


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--seed", "8", "--seed 7, not 8"),
        ("--batch-size", "32", "--batch-size 64, not 32"),
        ("--learning-rate", "0.001", "--learning-rate 0.0001, not 0.001"),
        ("--chunk-steps", "50", "--chunk-steps 100, not 50"),
        ("--max-steps", "200", "--max-steps 300; it can be raised but not lowered to 200"),
    ],
)
def test_changed_setting_rejected(tmp_path, run_at_300, option, value, message):
    run_dir = copy_run(run_at_300, tmp_path)
    before = folder_listing(run_dir)

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, option, value)

    assert result.returncode == 65
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert folder_listing(run_dir) == before


def test_raised_patience_recorded(tmp_path, run_at_300):
    run_dir = copy_run(run_at_300, tmp_path)

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, "--patience", "1500")

    assert result.returncode == 0, result.stderr
    changes = json.loads((run_dir / "config.json").read_text())["changes"]
    assert [(change["setting"], change["old"], change["new"], change["step"]) for change in changes] == [
        ("patience", 1000, 1500, 300)
    ]


def _write_dense_job(path, units):
    path.write_text(
        textwrap.dedent(
            f"""
            import keras

            from jobs._mnist_files import load_mnist_folder
            from runner.job import Hyperparameters, Job


            def build_model():
                return keras.Sequential(
                    [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense({units}), keras.layers.Dense(10)]
                )


            job = Job(
                name="dense",
                build_model=build_model,
                load_data=load_mnist_folder,
                hyperparameters=Hyperparameters(max_steps=40, chunk_steps=20, batch_size=32),
            )
            """
        )
    )


@pytest.fixture
def dense_run(tmp_path):
    """A finished 40-step run of a small dense job on generated IDX files."""
    write_mnist_folder(tmp_path / "data")
    job_file = tmp_path / "dense.py"
    _write_dense_job(job_file, units=16)
    result = run_runner("start", job_file, "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    return job_file, tmp_path / "state" / "dense"


def test_changed_network_rejected(tmp_path, dense_run):
    job_file, run_dir = dense_run
    _write_dense_job(job_file, units=24)
    before = folder_listing(run_dir)

    result = run_runner("resume", "dense", "--state-dir", run_dir.parent, "--max-steps", "60")

    assert result.returncode == 65
    assert "was started with another network" in result.stderr
    assert "12,730 parameters" in result.stderr
    assert folder_listing(run_dir) == before


def test_changed_data_set_rejected(tmp_path, dense_run):
    _, run_dir = dense_run
    write_mnist_folder(tmp_path / "other_data", seed=1)
    before = folder_listing(run_dir)

    result = run_runner(
        "resume", "dense", "--state-dir", run_dir.parent, "--max-steps", "60", "--data-dir", tmp_path / "other_data"
    )

    assert result.returncode == 65
    assert "was started on another data set" in result.stderr
    assert folder_listing(run_dir) == before
