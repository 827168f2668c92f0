"""A process killed at any write of a commit resumes and ends like an uninterrupted run."""

import pytest

from runner.faults import POINTS

from conftest import assert_same_run, run_runner

# Two chunks, both improving, so that the kill at the commit of step 200
# reaches the best slot's points too.
FAULT_RUN = ["--max-steps", "200", "--chunk-steps", "100", "--seed", "7"]


@pytest.fixture(scope="module")
def two_chunk_reference(tmp_path_factory, fashion_dir):
    """An uninterrupted two-chunk run; returns its run folder."""
    state_dir = tmp_path_factory.mktemp("two_chunks")
    result = run_runner("start", "fashion_mnist", "--state-dir", state_dir, *FAULT_RUN)
    assert result.returncode == 0, result.stderr
    assert (state_dir / "fashion_mnist" / "best" / "ckpt-200.index").is_file()
    return state_dir / "fashion_mnist"


@pytest.mark.parametrize("point", POINTS)
def test_kill_inside_commit_resumes_exactly(tmp_path, two_chunk_reference, point):
    faulted = run_runner(
        "start", "fashion_mnist", "--state-dir", tmp_path, *FAULT_RUN, env={"RUNNER_FAULT_POINT": f"{point}@200"}
    )
    assert faulted.returncode == -9, faulted.stdout + faulted.stderr

    resumed = run_runner("resume", "fashion_mnist", "--state-dir", tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "fashion_mnist", two_chunk_reference)
    leftovers = [path.name for path in (tmp_path / "fashion_mnist").rglob(".staging-*")]
    assert leftovers == []
