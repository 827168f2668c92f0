"""Signals and --stop-after: commit at the current step, exit 75, resume exactly."""

import json
import random
import re
import signal
import time

from conftest import (
    SHORT_RUN,
    assert_same_run,
    assert_scalars_match_metrics,
    committed_step,
    read_status,
    run_runner,
    slot_contents,
    spawn_runner,
    wait_for_commit,
)

# A stopped runner exits within 0.1 s here (see docs/benchmarks.md). This
# bound only separates a slow exit from a hang.
EXIT_TIMEOUT = 20


def _signal_after_commit(process, run_dir, signal_number, *, count=1):
    """Send `signal_number` at a random moment after the run's second commit; return the output."""
    first = wait_for_commit(run_dir, process)
    wait_for_commit(run_dir, process, step=first + 1)
    time.sleep(random.uniform(0.0, 0.5))
    for _ in range(count):
        process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=EXIT_TIMEOUT)
    return stdout, stderr


def test_sigterm_commits_and_resumes_exactly(tmp_path, reference_run):
    run_dir = tmp_path / "fashion_mnist"
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)

    stdout, stderr = _signal_after_commit(process, run_dir, signal.SIGTERM)

    assert process.returncode == 75, stderr
    stopped = re.search(r"stopped by SIGTERM at step (\d+); resume with: runner resume fashion_mnist", stdout)
    assert stopped, stdout
    assert committed_step(run_dir) == int(stopped.group(1))

    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference_run)
    assert_scalars_match_metrics(run_dir)
    status = read_status(tmp_path, "fashion_mnist")
    assert len(status["segments"]) == 2
    assert status["resumes"] == 1
    assert status["training_seconds"] > 0
    segments = status["segments"]
    assert [segment["outcome"] for segment in segments] == ["SIGTERM", "finished"]
    assert segments[0]["end_step"] == int(stopped.group(1))
    assert segments[1]["start_step"] == int(stopped.group(1))
    details = run_runner("status", "fashion_mnist", "--state-dir", tmp_path).stdout
    assert "training time:" in details
    assert "in 2 segments (1 resume)" in details
    assert re.search(rf"^  1  0 to {int(stopped.group(1))}  .*  SIGTERM  ", details, re.M), details
    assert re.search(rf"^  2  {int(stopped.group(1))} to 500  .*  finished  ", details, re.M), details


def test_second_sigint_aborts_with_130(tmp_path, reference_run):
    run_dir = tmp_path / "fashion_mnist"
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    _signal_after_commit(process, run_dir, signal.SIGTERM)
    stopped_at = committed_step(run_dir)
    latest_before = slot_contents(run_dir)

    # CPython runs one handler for signals that arrive before it gets to
    # run, so the two SIGINTs are sent apart, while the resume loads
    # TensorFlow.
    process = spawn_runner("resume", "fashion_mnist", "--state-dir", tmp_path)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=EXIT_TIMEOUT)

    assert process.returncode == 130, stderr
    assert "aborted by a second SIGINT" in stderr
    assert committed_step(run_dir) == stopped_at
    assert slot_contents(run_dir) == latest_before
    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference_run)


def test_sigusr1_stops_unless_left_out(tmp_path, fashion_dir):
    stopping = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--run", "usr1", *SHORT_RUN)
    _, stderr = _signal_after_commit(stopping, tmp_path / "usr1", signal.SIGUSR1)
    assert stopping.returncode == 75, stderr

    ignoring = spawn_runner(
        "start", "fashion_mnist", "--state-dir", tmp_path, "--run", "term_only", "--stop-signals", "TERM", *SHORT_RUN
    )
    _signal_after_commit(ignoring, tmp_path / "term_only", signal.SIGUSR1)
    assert ignoring.returncode == -signal.SIGUSR1


def test_stop_after_commits_and_resumes_exactly(tmp_path, reference_run):
    # Start-up takes a few seconds, so 8 s leaves a few chunks of training.
    result = run_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--stop-after", "8s", *SHORT_RUN)

    assert result.returncode == 75, result.stderr
    assert re.search(r"stopped by --stop-after 8s at step \d+", result.stdout), result.stdout
    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "fashion_mnist", reference_run)
    segments = json.loads((tmp_path / "fashion_mnist" / "segments.json").read_text())
    assert segments[0]["outcome"] == "time_limit"


def test_sigterm_during_startup_writes_nothing(tmp_path, fashion_dir):
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    # The handlers are in place well before TensorFlow finishes loading.
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 75, stderr
    assert "before run 'fashion_mnist' was created; nothing was written" in stdout
    assert not (tmp_path / "fashion_mnist").exists()


def test_sigterm_during_resume_startup_keeps_commit(tmp_path, reference_run):
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, *SHORT_RUN)
    _signal_after_commit(process, tmp_path / "fashion_mnist", signal.SIGTERM)
    stopped_at = committed_step(tmp_path / "fashion_mnist")

    process = spawn_runner("resume", "fashion_mnist", "--state-dir", tmp_path)
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 75, stderr
    assert f"stopped by SIGTERM at step {stopped_at}" in stdout
    assert committed_step(tmp_path / "fashion_mnist") == stopped_at
