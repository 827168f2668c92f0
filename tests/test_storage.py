"""Storage faults on a real small tmpfs: a full disk and a read-only mount."""

import contextlib
import os
import subprocess

import pytest

from runner.slot import Slot

from conftest import SHORT_RUN, assert_same_run, committed_step, copy_run, folder_listing, run_runner


@contextlib.contextmanager
def _tmpfs(path, size):
    """Mount a tmpfs of `size` at `path` for the duration of the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_exits_74_and_resumes_elsewhere(tmp_path, reference_run):
    # 9 MiB has room for two commits of each slot but not for the third
    # latest commit, which is written before the oldest is deleted.
    with _tmpfs(tmp_path / "small", "9m") as disk:
        result = run_runner("start", "fashion_mnist", "--state-dir", disk, *SHORT_RUN)
        run_dir = disk / "fashion_mnist"

        assert result.returncode == 74, result.stderr
        assert "No space left on device" in result.stderr
        assert "The previous commit is intact" in result.stderr
        newest = committed_step(run_dir)
        assert newest is not None
        assert Slot(run_dir / "latest", "latest").problem(newest) is None
        assert list(run_dir.rglob(".staging-*")) == []
        moved = copy_run(run_dir, tmp_path / "roomy")

    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path / "roomy")

    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {newest}" in resumed.stdout
    assert_same_run(moved, reference_run)


def test_read_only_state_reported_before_training(tmp_path, run_at_300):
    with _tmpfs(tmp_path / "mount", "32m") as disk:
        run_dir = copy_run(run_at_300, disk)
        before = folder_listing(run_dir)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        resumed = run_runner("resume", "fashion_mnist", "--state-dir", disk, "--max-steps", "500")
        started = run_runner("start", "fashion_mnist", "--state-dir", disk, "--run", "other", *SHORT_RUN)

        assert resumed.returncode == 74, resumed.stderr
        assert "Cannot write to" in resumed.stderr
        assert "Nothing was trained" in resumed.stderr
        assert "resumed at step" not in resumed.stdout
        assert folder_listing(run_dir) == before
        assert started.returncode == 74, started.stderr
        assert "Cannot write to" in started.stderr
