"""Training on several devices and workers keeps the commits and the bit-exact resume."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    MULTI_WORKER,
    SCALE_RUN,
    assert_same_run,
    committed_step,
    copy_run,
    finish_workers,
    free_ports,
    kill_hard,
    read_status,
    run_runner,
    spawn_runner,
    spawn_workers,
    tf_config_env,
    wait_for_commit,
)

MIRRORED = ["--strategy", "mirrored", "--devices", "2"]

# Restores the newest commit of a run on the default strategy, writes the
# restored state to a new checkpoint and prints the tensors that differ.
RESTORE_CHECK = """
import sys
import numpy as np
import tensorflow as tf
from runner.checkpoint_write import write_checkpoint
from runner.job import load_job
from runner.run_folder import RunFolder
from runner.runs import load_run_splits
from runner.trainer import Trainer

folder = RunFolder(sys.argv[1], "fashion_mnist")
config = folder.load_config()
job = load_job(config.job)
trainer = Trainer(job=job, config=config, folder=folder, splits=load_run_splits(job, config, None))
step = trainer.restore()
checkpoint = trainer.state.latest_checkpoint
checkpoint.save_counter.assign(step)
write_checkpoint(checkpoint, sys.argv[2])
saved = tf.train.load_checkpoint(trainer.slots.latest.prefix(step))
rewritten = tf.train.load_checkpoint(sys.argv[2])
names = sorted(saved.get_variable_to_shape_map())
assert names == sorted(rewritten.get_variable_to_shape_map())
for name in names:
    if not np.array_equal(saved.get_tensor(name), rewritten.get_tensor(name)):
        print("differs:", name)
print("checked", len(names), "tensors at step", step)
"""


@pytest.fixture(scope="module")
def mirrored_reference(tmp_path_factory, fashion_dir):
    """An uninterrupted run mirrored over two logical CPU devices; returns its run folder."""
    state_dir = tmp_path_factory.mktemp("mirrored")
    result = run_runner("start", "fashion_mnist", "--state-dir", state_dir, *SCALE_RUN, *MIRRORED)
    assert result.returncode == 0, result.stderr
    return state_dir / "fashion_mnist"


def test_mirrored_config_records_shape(mirrored_reference):
    config = json.loads((mirrored_reference / "config.json").read_text())
    status = read_status(mirrored_reference.parent, "fashion_mnist")
    details = run_runner("status", "fashion_mnist", "--state-dir", mirrored_reference.parent).stdout

    assert config["strategy"] == "mirrored"
    assert config["devices"] == 2
    assert config["replicas"] == 2
    assert status["strategy"] == "mirrored"
    assert status["replicas"] == 2
    assert re.search(r"^strategy: +mirrored, 2 replicas$", details, re.M), details


def test_mirrored_kill_resume_is_exact(tmp_path, mirrored_reference):
    run_dir = tmp_path / "fashion_mnist"
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SCALE_RUN, *MIRRORED)
    wait_for_commit(run_dir, process)
    time.sleep(random.uniform(0.0, 0.5))
    assert process.poll() is None, "the run finished before the kill"
    kill_hard(process)

    # Without --strategy, the run resumes with its saved strategy and devices.
    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)

    assert result.returncode == 0, result.stderr
    assert "resumed at step" in result.stdout
    assert "resumes on" not in result.stderr
    assert_same_run(run_dir, mirrored_reference)


def test_two_device_run_resumes_on_one(tmp_path, mirrored_reference):
    run_dir = copy_run(mirrored_reference, tmp_path)

    check = subprocess.run(
        [sys.executable, "-c", RESTORE_CHECK, str(tmp_path), str(tmp_path / "rewritten")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = run_runner(
        "resume", "fashion_mnist", "--state-dir", tmp_path, "--strategy", "default", "--max-steps", "400"
    )

    assert check.returncode == 0, check.stderr
    assert "differs" not in check.stdout
    assert "checked" in check.stdout
    assert "at step 300" in check.stdout
    assert result.returncode == 0, result.stderr
    assert "trained on 2 replicas (mirrored) and resumes on 1 (default) at step 300" in result.stderr
    assert committed_step(run_dir) == 400
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"] == "default"
    assert config["replicas"] == 1
    changed = {change["setting"]: (change["old"], change["new"], change["step"]) for change in config["changes"]}
    assert changed["strategy"] == ("mirrored", "default", 300)
    assert changed["replicas"] == (2, 1, 300)
    assert changed["devices"] == (2, None, 300)


def test_sigterm_to_one_worker_stops_both(tmp_path, two_worker_reference):
    run_dir = tmp_path / "fashion_mnist"
    workers = spawn_workers("start", tmp_path, *SCALE_RUN)
    wait_for_commit(run_dir, workers[0], timeout=180)
    workers[1].send_signal(signal.SIGTERM)
    stopped = finish_workers(workers)
    step = committed_step(run_dir)

    resumed = finish_workers(spawn_workers("resume", tmp_path))

    assert [code for code, _, _ in stopped] == [75, 75], stopped
    assert 100 <= step < 300
    assert f"stopped by the stop request of another worker at step {step}" in stopped[0][1]
    assert f"stopped by SIGTERM at step {step}" in stopped[1][1]
    assert "on every worker" in stopped[1][1]
    assert [code for code, _, _ in resumed] == [0, 0], resumed
    assert f"resumed at step {step}" in resumed[0][1]
    assert_same_run(run_dir, two_worker_reference)
    segments = json.loads((run_dir / "segments.json").read_text())
    assert [segment["outcome"] for segment in segments] == ["peer_stop", "finished"]


def test_killed_worker_ends_the_other(tmp_path, fashion_dir):
    run_dir = tmp_path / "fashion_mnist"
    workers = spawn_workers("start", tmp_path, *SCALE_RUN, env={"RUNNER_PEER_TIMEOUT": "10"})
    wait_for_commit(run_dir, workers[0], timeout=180)
    kill_hard(workers[1])

    stdout, stderr = workers[0].communicate(timeout=120)

    assert workers[0].returncode == 76, stderr
    assert "lost contact with the other workers" in stderr
    assert committed_step(run_dir) >= 100
    assert Path(run_dir / "latest" / "checkpoint").is_file()


def test_tf_config_recipe_matches_two_workers(tmp_path, two_worker_reference):
    script = Path(__file__).parent.parent / "examples" / "tf_config" / "two-workers.sh"
    ports = " ".join(map(str, free_ports(2)))

    result = subprocess.run(
        ["bash", str(script), "--state-dir", str(tmp_path), *SCALE_RUN],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RUNNER": f"{sys.executable} -m runner", "PORTS": ports},
    )

    assert result.returncode == 0, result.stderr
    assert "workers exited with 0" in result.stdout
    assert_same_run(tmp_path / "fashion_mnist", two_worker_reference)


@pytest.mark.parametrize("index", [0, 1])
def test_lonely_worker_gives_up(tmp_path, fashion_dir, index):
    ports = free_ports(2)
    env = {**tf_config_env(ports, index), "RUNNER_PEER_TIMEOUT": "2"}

    result = run_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SCALE_RUN, *MULTI_WORKER, env=env)

    assert result.returncode == 76, result.stderr
    assert f"worker {index} of 2 gave up waiting for the other workers after 2 s" in result.stderr.lower()
    assert not (tmp_path / "fashion_mnist").exists()
