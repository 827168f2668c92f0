"""`runner ensure`, the idempotent command for cron and requeue scripts."""

import json
import random
import signal
import time
from datetime import datetime

from conftest import (
    SHORT_RUN,
    assert_same_run,
    committed_step,
    kill_hard,
    read_status,
    run_runner,
    slot_contents,
    spawn_runner,
    wait_for_commit,
)


def _ensure(state_dir, *extra):
    return run_runner("ensure", "fashion_mnist", "--state-dir", state_dir, *SHORT_RUN, *extra)


def test_ensure_starts_missing_run(tmp_path, reference_run):
    result = _ensure(tmp_path)

    assert result.returncode == 0, result.stderr
    assert "max steps reached at step 500" in result.stdout
    assert_same_run(tmp_path / "fashion_mnist", reference_run)


def test_ensure_resumes_stopped_run(tmp_path, reference_run):
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    wait_for_commit(tmp_path / "fashion_mnist", process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 75

    result = _ensure(tmp_path)

    assert result.returncode == 0, result.stderr
    assert "resumed at step" in result.stdout
    assert_same_run(tmp_path / "fashion_mnist", reference_run)


def test_ensure_of_held_run_exits_69_quietly(tmp_path, fashion_dir):
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "100000")
    try:
        wait_for_commit(tmp_path / "fashion_mnist", process)
        quiet = run_runner("ensure", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "100000")
        verbose = run_runner("ensure", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "100000", "-v")
    finally:
        kill_hard(process)

    assert quiet.returncode == 69
    assert quiet.stdout == ""
    assert "error" not in quiet.stderr
    assert verbose.returncode == 69
    assert f"pid {process.pid}" in verbose.stderr


def test_ensure_of_finished_run_prints_nothing(reference_run):
    before = slot_contents(reference_run)

    result = _ensure(reference_run.parent)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert slot_contents(reference_run) == before


def test_ensure_rejects_other_settings(reference_run):
    result = run_runner("ensure", "fashion_mnist", "--state-dir", reference_run.parent, "--seed", "8")

    assert result.returncode == 65
    assert "--seed 7, not 8" in result.stderr


def test_cron_loop_with_kills_matches_uninterrupted(tmp_path, reference_run):
    """Call `ensure` every second while the trainer is killed three times."""
    run_dir = tmp_path / "fashion_mnist"
    calls = []
    kills = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        calls.append(spawn_runner("ensure", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN))
        # Look for a commit ten times per cron tick: a chunk takes about a
        # second, and the run must not finish before the third kill.
        for _ in range(10):
            time.sleep(0.1)
            kills += _kill_holder_after_progress(run_dir, calls, kills)
        finished = [call for call in calls if call.poll() == 0]
        if finished and read_status(tmp_path, "fashion_mnist")["state"] == "finished":
            break
    for call in calls:
        if call.poll() is None:
            call.wait(timeout=120)
        call.stdout.close()
        call.stderr.close()

    codes = [call.returncode for call in calls]
    assert kills == 3, codes
    assert 69 in codes, codes
    assert_same_run(run_dir, reference_run)
    segments = json.loads((run_dir / "segments.json").read_text())
    assert [segment["outcome"] for segment in segments] == ["killed"] * kills + ["finished"]
    for earlier, later in zip(segments, segments[1:]):
        assert datetime.fromisoformat(earlier["ended"]) <= datetime.fromisoformat(later["began"])


def _kill_holder_after_progress(run_dir, calls, kills):
    """SIGKILL the training process once it has committed since it began; return 1 if killed."""
    if kills >= 3 or not (run_dir / "segments.json").is_file():
        return 0
    segment = json.loads((run_dir / "segments.json").read_text())[-1]
    step = committed_step(run_dir)
    if segment["outcome"] != "running" or step is None or step <= segment["start_step"]:
        return 0
    holder = next((call for call in calls if call.pid == segment["pid"] and call.poll() is None), None)
    if holder is None:
        return 0
    time.sleep(random.uniform(0.0, 0.5))
    if holder.poll() is not None:
        return 0
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    return 1
