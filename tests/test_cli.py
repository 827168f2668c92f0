"""The command line's contracts: exit codes, messages and the status fields."""

import json
import os
import socket
import subprocess
import sys

from conftest import kill_hard, read_status, run_runner, runner_command, slot_contents, spawn_runner, wait_for_commit


def test_resume_of_finished_run_trains_nothing(reference_run):
    before = slot_contents(reference_run)

    result = run_runner("resume", "fashion_mnist", "--state-dir", reference_run.parent)

    assert result.returncode == 0, result.stderr
    assert "already finished" in result.stdout
    assert "max steps reached at step 500" in result.stdout
    assert slot_contents(reference_run) == before


def test_start_of_existing_run_rejected(reference_run):
    before = slot_contents(reference_run)
    config = (reference_run / "config.json").read_text()

    result = run_runner("start", "fashion_mnist", "--state-dir", reference_run.parent, "--seed", "99")

    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert "runner resume fashion_mnist" in result.stderr
    assert slot_contents(reference_run) == before
    assert (reference_run / "config.json").read_text() == config


def test_busy_run_exits_69_naming_holder(tmp_path, fashion_dir):
    process = spawn_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "100000")
    try:
        wait_for_commit(tmp_path / "fashion_mnist", process)

        result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, timeout=60)
        status = read_status(tmp_path, "fashion_mnist")
    finally:
        kill_hard(process)

    assert result.returncode == 69
    assert f"pid {process.pid}" in result.stderr
    assert socket.gethostname() in result.stderr
    assert status["state"] == "running"
    assert status["lock_holder"]["pid"] == process.pid


def test_unknown_job_exits_66(tmp_path):
    result = run_runner("start", "no_such_job", "--state-dir", tmp_path)

    assert result.returncode == 66
    assert "no_such_job" in result.stderr
    assert "fashion_mnist" in result.stderr
    assert not (tmp_path / "no_such_job").exists()


def test_missing_job_file_exits_66(tmp_path):
    result = run_runner("start", str(tmp_path / "missing_job.py"), "--state-dir", tmp_path)

    assert result.returncode == 66
    assert "missing_job.py" in result.stderr


def test_missing_data_exits_66_naming_places(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()

    result = run_runner("start", "mnist", "--state-dir", tmp_path / "state", "--data-dir", empty)

    assert result.returncode == 66
    assert str(empty) in result.stderr
    assert "train-images-idx3-ubyte" in result.stderr
    assert not (tmp_path / "state" / "mnist").exists()


def test_resume_of_unknown_run_exits_66(tmp_path):
    result = run_runner("resume", "nothing_here", "--state-dir", tmp_path)

    assert result.returncode == 66
    assert "nothing_here" in result.stderr
    assert "runner start" in result.stderr


def test_invalid_run_names_rejected(tmp_path):
    for name in ["", "../outside", "a/b", ".hidden", "x" * 101]:
        result = run_runner("start", "fashion_mnist", "--run", name, "--state-dir", tmp_path / "state")

        assert result.returncode == 2, f"run name {name!r}: {result.stderr}"
        assert "run name" in result.stderr, name
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


def test_invalid_option_exits_2_naming_it(tmp_path):
    result = run_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--chunk-steps", "0")

    assert result.returncode == 2
    assert "--chunk-steps" in result.stderr


def test_status_json_fields(reference_run):
    status = read_status(reference_run.parent, "fashion_mnist")
    metrics = [json.loads(line) for line in (reference_run / "metrics.jsonl").read_text().splitlines()]
    best = max(metrics, key=lambda record: record["val_accuracy"])

    assert status["run"] == "fashion_mnist"
    assert status["job"] == "fashion_mnist"
    assert status["state"] == "finished"
    assert status["finished_reason"] == "max_steps"
    assert status["step"] == 500
    assert status["max_steps"] == 500
    assert status["best_accuracy"] == best["val_accuracy"]
    assert status["best_step"] == best["step"]
    assert status["steps_since_improvement"] == 500 - best["step"]
    assert status["patience"] == 1000
    assert status["lock_holder"] is None


def test_status_does_not_import_tensorflow(reference_run):
    code = (
        "import sys\n"
        "from runner.cli import app\n"
        f"try:\n    app(['status', 'fashion_mnist', '--state-dir', {str(reference_run.parent)!r}, '--json'])\n"
        "except SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))

    assert result.stdout.strip().endswith("False"), result.stdout + result.stderr


def test_status_table_lists_runs(reference_run):
    result = run_runner("status", "--state-dir", reference_run.parent)

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["RUN", "JOB", "STATE", "STEP", "BEST", "VAL", "ACC", "RESUMES", "TRAINED"]
    assert row.startswith("fashion_mnist  fashion_mnist  finished (max steps)  500 / 500")
    best = read_status(reference_run.parent, "fashion_mnist")
    assert f"{100 * best['best_accuracy']:.1f}% at step {best['best_step']}" in row


def test_list_shows_jobs_and_runs(reference_run):
    result = run_runner("list", "--state-dir", reference_run.parent)

    assert result.returncode == 0, result.stderr
    assert "fashion_mnist" in result.stdout
    assert "mnist" in result.stdout
    assert "finished" in result.stdout


def test_state_dir_that_is_a_file_exits_2(tmp_path):
    state_file = tmp_path / "not_a_folder"
    state_file.write_text("")

    for command in (["status"], ["list"], ["resume", "fashion_mnist"]):
        result = run_runner(*command, "--state-dir", state_file)

        assert result.returncode == 2, command
        assert f"{state_file} is a file" in result.stderr, command


def test_closed_stdout_keeps_training_and_exit_code(tmp_path, fashion_dir):
    command = runner_command("start", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "200")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line = process.stdout.readline()
    process.stdout.close()
    _, errors = process.communicate(timeout=300)

    assert first_line.startswith("step    100")
    assert process.returncode == 0, errors
    assert "Logging error" not in errors
    assert "BrokenPipeError" not in errors
    assert read_status(tmp_path, "fashion_mnist")["step"] == 200
