"""The Slurm recipe on a real one-node Slurm cluster: a preempted job requeues and resumes exactly."""

import json
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, missing_requirement

from conftest import SHORT_RUN, committed_step, read_status, slot_contents

BATCH_SCRIPT = Path(__file__).parent.parent / "examples" / "slurm" / "train.sbatch"

# Seconds between a requeue and the forced relaunch of the job.
RELAUNCH_DELAY = 2.0


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster on localhost, or a skip that names what is missing."""
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


def _wait_for(condition, *, timeout, what, context=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{context()}")


# A preemption: Slurm signals the job and requeues it itself.
# NOTE: the batch script's other path, the SIGUSR1 warning before the time
# limit followed by `scontrol requeue` from inside the job, is not tested:
# on this one-node Slurm 22.05 the job is relaunched at once and slurmd
# rejects the launch ("Job 1 already killed, do not launch batch job").
INTERRUPTIONS = {
    "preemption": ["scontrol", "requeue"],
}


@pytest.mark.parametrize("interruption", sorted(INTERRUPTIONS))
def test_requeued_job_resumes_exactly(tmp_path, slurm_cluster, reference_run, interruption):
    run_dir = tmp_path / "fashion_mnist"
    slurm_cluster.env.update(
        RUNNER=f"{sys.executable} -m runner",
        JOB="fashion_mnist",
        RUNNER_ARGS=" ".join(["--state-dir", str(tmp_path), *SHORT_RUN]),
    )
    began = time.monotonic()
    timeline = []

    def note(event):
        timeline.append(f"{time.monotonic() - began:6.1f} s  {event}")

    submitted = slurm_cluster.run(
        "sbatch", "--parsable", "--chdir", tmp_path, "--output", tmp_path / "slurm-%j.log", BATCH_SCRIPT
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    note(f"submitted job {job_id}")

    def context():
        log = tmp_path / f"slurm-{job_id}.log"
        job = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
        nodes = slurm_cluster.run("sinfo", "-N", "-l").stdout
        tail = log.read_text()[-3000:] if log.is_file() else "(no log yet)"
        return f"{job}\n{nodes}\n{tail}\n" + "\n".join(timeline)

    step = _wait_for(lambda: committed_step(run_dir), timeout=120, what="the first commit", context=context)
    note(f"first commit at step {step}")
    interrupted = slurm_cluster.run(*INTERRUPTIONS[interruption], job_id)
    assert interrupted.returncode == 0, interrupted.stderr
    note(" ".join(INTERRUPTIONS[interruption]))

    _wait_for(
        lambda: slurm_cluster.job_field(job_id, "JobState") == "PENDING",
        timeout=60,
        what="the requeue",
        context=context,
    )
    stopped_at = committed_step(run_dir)
    note(f"requeued with the run committed at step {stopped_at}")

    # A job that Slurm requeued waits for a begin time two minutes ahead, so
    # start it now, but not too soon: slurmd rejects the relaunch as "already
    # killed" while the node still cleans up, or when the new launch falls in
    # the same second as the kill (seen with slurm-wlm 22.05). A job that
    # requeued itself may already be starting, and changing its start time
    # then would make the launch fail.
    requeued_at = time.monotonic()

    def restarted():
        state = slurm_cluster.job_field(job_id, "JobState")
        if (
            state == "PENDING"
            and slurm_cluster.job_field(job_id, "Reason") == "BeginTime"
            and slurm_cluster.node_state() == "idle"
            and time.monotonic() - requeued_at > RELAUNCH_DELAY
        ):
            slurm_cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
        return state in ("RUNNING", "COMPLETED")

    _wait_for(restarted, timeout=180, what="the restart", context=context)
    note("running again")
    _wait_for(
        lambda: slurm_cluster.job_field(job_id, "JobState") == "COMPLETED",
        timeout=300,
        what="completion",
        context=context,
    )
    note(f"completed, exit code {slurm_cluster.job_field(job_id, 'ExitCode')}")
    print(f"\n{interruption}:\n" + "\n".join(timeline))

    log = (tmp_path / f"slurm-{job_id}.log").read_text()
    assert slurm_cluster.job_field(job_id, "ExitCode") == "0:0", log
    assert int(slurm_cluster.job_field(job_id, "Restarts")) >= 1, log
    assert f"stopped by SIGTERM at step {stopped_at}" in log
    assert "runner exited with 75" in log
    assert f"resumed at step {stopped_at}" in log
    status = read_status(tmp_path, "fashion_mnist")
    assert status["state"] == "finished"
    assert status["resumes"] >= 1
    segments = json.loads((run_dir / "segments.json").read_text())
    assert segments[0]["outcome"] == "SIGTERM"
    assert segments[-1]["outcome"] == "finished"
    reference = slot_contents(reference_run)
    resumed = slot_contents(run_dir)
    assert sorted(resumed) == sorted(reference)
    for name in reference:
        assert resumed[name] == reference[name], f"{name} differs from the uninterrupted run"
    assert (run_dir / "metrics.jsonl").read_text() == (reference_run / "metrics.jsonl").read_text()
