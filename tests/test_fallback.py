"""Unreadable commits: fall back to the newest readable one, or stop and delete nothing."""

import json

import pytest

from conftest import assert_same_run, assert_scalars_match_metrics, copy_run, folder_listing, run_runner

RESUME_TO_500 = ["--max-steps", "500"]


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _overwrite(path):
    path.write_bytes(b"not a checkpoint" * 64)


DAMAGE = {
    "truncated_data": lambda latest: _truncate(latest / "ckpt-300.data-00000-of-00001"),
    "garbage_index": lambda latest: _overwrite(latest / "ckpt-300.index"),
    "missing_files": lambda latest: (latest / "ckpt-300.data-00000-of-00001").unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_unreadable_latest_falls_back(tmp_path, run_at_300, reference_run, damage):
    run_dir = copy_run(run_at_300, tmp_path)
    DAMAGE[damage](run_dir / "latest")

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, *RESUME_TO_500)

    assert result.returncode == 0, result.stderr
    assert "WARNING: Falling back to the latest commit at step 200" in result.stderr
    assert "ckpt-300" in result.stderr
    assert "resumed at step 200" in result.stdout
    assert_same_run(run_dir, reference_run)
    assert_scalars_match_metrics(run_dir)


def test_garbage_state_file_uses_newest_readable(tmp_path, run_at_300, reference_run):
    run_dir = copy_run(run_at_300, tmp_path)
    (run_dir / "latest" / "checkpoint").write_text("this is not a checkpoint state file\n")

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, *RESUME_TO_500)

    assert result.returncode == 0, result.stderr
    assert "WARNING: Unreadable state file" in result.stderr
    assert "resumed at step 300" in result.stdout
    assert_same_run(run_dir, reference_run)


def test_no_readable_commit_deletes_nothing(tmp_path, run_at_300):
    run_dir = copy_run(run_at_300, tmp_path)
    for step in (200, 300):
        _truncate(run_dir / "latest" / f"ckpt-{step}.data-00000-of-00001")
    before = folder_listing(run_dir)

    result = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path, *RESUME_TO_500)

    assert result.returncode == 65
    assert "No readable checkpoint" in result.stderr
    assert "Nothing was deleted" in result.stderr
    assert "Traceback" not in result.stderr
    assert folder_listing(run_dir) == before


def test_evaluate_skips_unreadable_best(tmp_path, run_at_300):
    run_dir = copy_run(run_at_300, tmp_path)
    _truncate(run_dir / "best" / "ckpt-300.data-00000-of-00001")

    result = run_runner("evaluate", "fashion_mnist", "--state-dir", tmp_path, "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["step"] == 200
    assert "best weights of step 300 are unreadable" in result.stderr


def test_evaluate_without_readable_best_exits_65(tmp_path, run_at_300):
    run_dir = copy_run(run_at_300, tmp_path)
    for step in (200, 300):
        _overwrite(run_dir / "best" / f"ckpt-{step}.index")

    result = run_runner("evaluate", "fashion_mnist", "--state-dir", tmp_path)

    assert result.returncode == 65
    assert "No readable best weights" in result.stderr
    assert "Test accuracy" not in result.stdout


def test_moved_run_with_foreign_files_resumes(tmp_path, run_at_300, reference_run):
    # A copy at another path stands for a folder moved to another machine.
    run_dir = copy_run(run_at_300, tmp_path / "elsewhere" / "state")
    foreign = {
        run_dir / "notes.txt": "kept by the user\n",
        run_dir / "latest" / "other-900.index": "written by another tool\n",
        run_dir / "best" / "README": "kept by the user\n",
    }
    for path, text in foreign.items():
        path.write_text(text)

    result = run_runner("resume", "fashion_mnist", "--state-dir", run_dir.parent, *RESUME_TO_500)

    assert result.returncode == 0, result.stderr
    assert "resumed at step 300" in result.stdout
    assert_same_run(run_dir, reference_run)
    for path, text in foreign.items():
        assert path.read_text() == text
    changes = json.loads((run_dir / "config.json").read_text())["changes"]
    assert [(change["setting"], change["old"], change["new"]) for change in changes] == [("max_steps", 300, 500)]
