"""The early-stopping counters survive a kill: a resumed run stops where an uninterrupted one does."""

import random
import time

from conftest import kill_hard, read_status, run_runner, spawn_runner, wait_for_commit

# A learning rate this high makes training diverge after the first chunks, so
# validation accuracy stops improving and the small patience ends the run
# early, within a few hundred steps.
DIVERGING_RUN = [
    "--learning-rate",
    "0.05",
    "--chunk-steps",
    "50",
    "--patience",
    "150",
    "--max-steps",
    "2000",
    "--seed",
    "3",
]


def test_early_stop_same_after_kill(tmp_path, fashion_dir):
    reference = run_runner("start", "fashion_mnist", "--state-dir", tmp_path / "reference", *DIVERGING_RUN)
    assert reference.returncode == 0, reference.stderr
    expected = read_status(tmp_path / "reference", "fashion_mnist")
    assert expected["finished_reason"] == "early_stop"
    assert expected["step"] < 2000

    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path / "killed", *DIVERGING_RUN)
    wait_for_commit(tmp_path / "killed" / "fashion_mnist", process, step=50)
    time.sleep(random.uniform(0.0, 0.3))
    assert process.poll() is None, "the runner finished before it could be killed"
    kill_hard(process)
    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path / "killed")

    assert resumed.returncode == 0, resumed.stderr
    actual = read_status(tmp_path / "killed", "fashion_mnist")
    assert actual["finished_reason"] == "early_stop"
    assert actual["step"] == expected["step"]
    assert actual["best_step"] == expected["best_step"]
    assert actual["best_accuracy"] == expected["best_accuracy"]
    killed_metrics = (tmp_path / "killed" / "fashion_mnist" / "metrics.jsonl").read_text()
    assert killed_metrics == (tmp_path / "reference" / "fashion_mnist" / "metrics.jsonl").read_text()
    assert f"early stop at step {expected['step']}" in resumed.stdout
