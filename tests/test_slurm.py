"""The Slurm recipe on a real one-node Slurm cluster: a preempted job requeues and resumes exactly."""

import json
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, missing_requirement

from conftest import SCALE_RUN, SHORT_RUN, assert_same_run, committed_step, read_status, slot_contents

EXAMPLES = Path(__file__).parent.parent / "examples" / "slurm"
BATCH_SCRIPT = EXAMPLES / "train.sbatch"
MULTI_WORKER_SCRIPT = EXAMPLES / "train-multi-worker.sbatch"

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


class _Timeline:
    """Events of a test job with their time since submission, for failure messages."""

    def __init__(self):
        self._began = time.monotonic()
        self.events = []

    def note(self, event):
        self.events.append(f"{time.monotonic() - self._began:6.1f} s  {event}")


def _submit(slurm_cluster, tmp_path, script, run_args, *options):
    """Submit `script` to train fashion_mnist in `tmp_path`; return the job id, its timeline and a describer."""
    slurm_cluster.env.update(
        RUNNER=f"{sys.executable} -m runner",
        JOB="fashion_mnist",
        RUNNER_ARGS=" ".join(["--state-dir", str(tmp_path), *run_args]),
    )
    timeline = _Timeline()
    submitted = slurm_cluster.run(
        "sbatch", "--parsable", "--chdir", tmp_path, "--output", tmp_path / "slurm-%j.log", *options, script
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    timeline.note(f"submitted job {job_id}")
    return job_id, timeline, _describer(slurm_cluster, tmp_path, job_id, timeline)


def _describer(slurm_cluster, tmp_path, job_id, timeline):
    def context():
        log = tmp_path / f"slurm-{job_id}.log"
        job = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
        nodes = slurm_cluster.run("sinfo", "-N", "-l").stdout
        tail = log.read_text()[-3000:] if log.is_file() else "(no log yet)"
        return f"{job}\n{nodes}\n{tail}\n" + "\n".join(timeline.events)

    return context


def _interrupt_and_complete(slurm_cluster, job_id, run_dir, interruption, timeline, context):
    """Interrupt the job after its first commit, relaunch it once requeued, and wait for completion.

    Returns the step committed when the job was requeued.
    """
    note = timeline.note
    step = _wait_for(lambda: committed_step(run_dir), timeout=180, what="the first commit", context=context)
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
    return stopped_at


@pytest.mark.parametrize("interruption", sorted(INTERRUPTIONS))
def test_requeued_job_resumes_exactly(tmp_path, slurm_cluster, reference_run, interruption):
    run_dir = tmp_path / "fashion_mnist"
    job_id, timeline, context = _submit(slurm_cluster, tmp_path, BATCH_SCRIPT, SHORT_RUN)

    stopped_at = _interrupt_and_complete(slurm_cluster, job_id, run_dir, interruption, timeline, context)
    print(f"\n{interruption}:\n" + "\n".join(timeline.events))

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


def test_requeued_workers_resume_exactly(tmp_path, slurm_cluster, two_worker_reference):
    run_dir = tmp_path / "fashion_mnist"
    job_id, timeline, context = _submit(
        slurm_cluster, tmp_path, MULTI_WORKER_SCRIPT, SCALE_RUN, "--ntasks", "2", "--cpus-per-task", "1"
    )

    stopped_at = _interrupt_and_complete(slurm_cluster, job_id, run_dir, "preemption", timeline, context)
    print("\nmulti-worker preemption:\n" + "\n".join(timeline.events))

    log = (tmp_path / f"slurm-{job_id}.log").read_text()
    assert slurm_cluster.job_field(job_id, "ExitCode") == "0:0", log
    assert int(slurm_cluster.job_field(job_id, "Restarts")) >= 1, log
    assert "workers exited with 75" in log
    assert f"resumed at step {stopped_at}" in log
    config = json.loads((run_dir / "config.json").read_text())
    assert config["strategy"] == "multi-worker"
    assert config["replicas"] == 2
    assert_same_run(run_dir, two_worker_reference)
