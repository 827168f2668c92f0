"""A run killed with SIGKILL and resumed ends exactly like an uninterrupted run."""

import random
import time

from conftest import (
    SHORT_RUN,
    assert_same_run,
    assert_scalars_match_metrics,
    committed_step,
    kill_hard,
    read_status,
    run_runner,
    spawn_runner,
    wait_for_commit,
)


def _measure_chunk_seconds(process, run_dir):
    """Return the wall time between two consecutive commits of `process`."""
    first = wait_for_commit(run_dir, process)
    started = time.monotonic()
    wait_for_commit(run_dir, process, step=first + 1)
    return time.monotonic() - started


def _kill_within_chunk(process, chunk_seconds):
    """Kill `process` at a random moment before its next commit is likely; return the delay."""
    delay = random.uniform(0.0, 0.8 * chunk_seconds)
    time.sleep(delay)
    assert process.poll() is None, f"the runner finished before the kill {delay:.2f} s after a commit"
    kill_hard(process)
    return delay


def test_resume_after_kill_matches_uninterrupted(tmp_path, reference_run):
    run_dir = tmp_path / "fashion_mnist"
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    chunk_seconds = _measure_chunk_seconds(process, run_dir)
    delay = _kill_within_chunk(process, chunk_seconds)

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)

    assert result.returncode == 0, f"resume after a kill {delay:.2f} s past a commit: {result.stderr}"
    assert "resumed at step" in result.stdout
    assert_same_run(run_dir, reference_run)


def test_two_kills_match_uninterrupted(tmp_path, reference_run):
    run_dir = tmp_path / "fashion_mnist"
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    chunk_seconds = _measure_chunk_seconds(process, run_dir)
    _kill_within_chunk(process, chunk_seconds)
    restored = committed_step(run_dir)

    process = spawn_runner("resume", "fashion_mnist", "--state-dir", tmp_path)
    wait_for_commit(run_dir, process, step=restored + 1)
    _kill_within_chunk(process, chunk_seconds)
    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)

    assert result.returncode == 0, result.stderr
    assert_same_run(run_dir, reference_run)
    assert_scalars_match_metrics(run_dir)
    status = read_status(tmp_path, "fashion_mnist")
    assert [segment["outcome"] for segment in status["segments"]] == ["killed", "killed", "finished"]
    assert status["resumes"] == 2
