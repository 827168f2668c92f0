"""Shared fixtures: the Fashion-MNIST files, a runner subprocess and a reference run."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# A short run shared by the crash tests: 500 steps in chunks of 100, a few
# seconds of training. Its last commits leave room for a kill mid-chunk.
SHORT_RUN = ["--max-steps", "500", "--chunk-steps", "100", "--seed", "7"]


@pytest.fixture(scope="session")
def fashion_dir():
    """The Fashion-MNIST IDX folder of Debian's dataset-fashion-mnist package."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not installed in {FASHION_DIR}; run: apt-get install dataset-fashion-mnist")
    return FASHION_DIR


def runner_command(*args):
    """Return the argv that runs the runner CLI with this interpreter."""
    return [sys.executable, "-m", "runner", *map(str, args)]


def run_runner(*args, timeout=300, env=None):
    """Run the runner CLI to completion and return the CompletedProcess."""
    return subprocess.run(
        runner_command(*args), capture_output=True, text=True, timeout=timeout, env={**_quiet_env(), **(env or {})}
    )


def spawn_runner(*args, env=None):
    """Start the runner CLI in the background and return the Popen."""
    return subprocess.Popen(
        runner_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_quiet_env(), **(env or {})},
    )


def _quiet_env():
    env = dict(os.environ)
    env.pop("RUNNER_STATE_DIR", None)
    return env


def committed_step(run_dir):
    """Return the step of the run's newest commit, or None before the first."""
    state_file = Path(run_dir) / "latest" / "checkpoint"
    if not state_file.is_file():
        return None
    match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state_file.read_text(), re.M)
    return int(match.group(1)) if match else None


def wait_for_commit(run_dir, process, *, step=None, timeout=120):
    """Wait until the run's latest slot has a commit (at `step` or later, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = committed_step(run_dir)
        if found is not None and (step is None or found >= step):
            return found
        if process.poll() is not None:
            raise AssertionError(f"runner exited with {process.returncode} before committing: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"no commit in {run_dir} after {timeout} s")


def kill_hard(process):
    """Send SIGKILL and reap the process."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()


def assert_same_run(run_dir, reference_dir):
    """Assert that both runs have byte-identical slots and metrics logs."""
    actual = slot_contents(run_dir)
    expected = slot_contents(reference_dir)
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], f"{name} differs from the uninterrupted run"
    assert (Path(run_dir) / "metrics.jsonl").read_text() == (Path(reference_dir) / "metrics.jsonl").read_text()


def tensorboard_scalars(run_dir):
    """Return every scalar in the run's TensorBoard event files as (tag, step, value), read by TensorFlow."""
    import tensorflow as tf

    scalars = []
    for path in sorted((Path(run_dir) / "tensorboard").glob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            scalars.extend((value.tag, event.step, value.simple_value) for value in event.summary.value)
    return scalars


def assert_scalars_match_metrics(run_dir):
    """Assert that the event files hold each committed chunk's scalars once, and nothing else."""
    import numpy as np

    records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    scalars = tensorboard_scalars(run_dir)
    keys = [(tag, step) for tag, step, _ in scalars]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicates, f"scalars written more than once: {duplicates}"
    assert {step for _, step in keys} == {record["step"] for record in records}

    values = {(tag, step): value for tag, step, value in scalars}
    for record in records:
        step = record["step"]
        assert values[("accuracy/validation", step)] == np.float32(record["val_accuracy"])
        assert values[("accuracy/train", step)] == np.float32(record["train_accuracy"])
        assert values[("loss/train", step)] == np.float32(record["train_loss"])


def slot_contents(run_dir):
    """Return the bytes of every checkpoint file and the committed entries of both slots.

    The `checkpoint` state files hold wall-clock timestamps, so only the
    checkpoint names they list are compared.
    """
    contents = {}
    for slot in ("latest", "best"):
        folder = Path(run_dir) / slot
        for path in sorted(folder.glob("ckpt-*")):
            contents[f"{slot}/{path.name}"] = path.read_bytes()
        state = (folder / "checkpoint").read_text()
        contents[f"{slot}/checkpoint"] = re.findall(r'^(?:all_)?model_checkpoint_paths?: "(.*)"', state, re.M)
    return contents


def read_status(state_dir, run):
    """Return `runner status RUN --json` as a dict."""
    result = run_runner("status", run, "--state-dir", state_dir, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, fashion_dir):
    """An uninterrupted short run of fashion_mnist; returns its run folder."""
    state_dir = tmp_path_factory.mktemp("reference")
    result = run_runner("start", "fashion_mnist", "--state-dir", state_dir, *SHORT_RUN)
    assert result.returncode == 0, result.stderr
    return state_dir / "fashion_mnist"


@pytest.fixture(scope="session")
def run_at_300(tmp_path_factory, fashion_dir):
    """The short run trained to step 300 only; copy it, then resume with --max-steps 500.

    Raising --max-steps changes nothing else, so the resumed copy must end
    byte-identical to `reference_run`.
    """
    state_dir = tmp_path_factory.mktemp("at_300")
    settings = [*SHORT_RUN[2:], "--max-steps", "300"]
    result = run_runner("start", "fashion_mnist", "--state-dir", state_dir, *settings)
    assert result.returncode == 0, result.stderr
    return state_dir / "fashion_mnist"


def copy_run(run_dir, state_dir):
    """Copy a run folder into `state_dir` and return the copy."""
    return Path(shutil.copytree(run_dir, Path(state_dir) / Path(run_dir).name))


def folder_listing(run_dir):
    """Return every file under the run folder with its size and modification time.

    The lock holder record is left out: every process that takes the lock rewrites it.
    """
    return {
        str(path.relative_to(run_dir)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(Path(run_dir).rglob("*"))
        if path.is_file() and path.name != "lock.json"
    }


# Two worker processes of a multi-worker run, each on one CPU device.
MULTI_WORKER = ["--strategy", "multi-worker"]
# A shorter run for the scale-out tests: two workers train slower than one process.
SCALE_RUN = ["--max-steps", "300", "--chunk-steps", "100", "--seed", "7"]


def free_ports(count):
    """Return `count` distinct TCP ports that are free on 127.0.0.1 now."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def tf_config_env(ports, index):
    """Return the TF_CONFIG environment of worker `index` in a cluster of workers on `ports` of 127.0.0.1."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}


def spawn_workers(command, state_dir, *args, env=None):
    """Start two workers of a multi-worker run on free loopback ports; return their Popens, chief first."""
    ports = free_ports(2)
    return [
        spawn_runner(
            command,
            "fashion_mnist",
            "--state-dir",
            state_dir,
            *args,
            *MULTI_WORKER,
            env={**tf_config_env(ports, index), **(env or {})},
        )
        for index in range(2)
    ]


def finish_workers(workers, timeout=300):
    """Wait for every worker; return their (exit code, stdout, stderr)."""
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=timeout)
        results.append((worker.returncode, stdout, stderr))
    return results


@pytest.fixture(scope="session")
def two_worker_reference(tmp_path_factory, fashion_dir):
    """An uninterrupted two-worker run on loopback; returns its run folder."""
    state_dir = tmp_path_factory.mktemp("two_workers")
    results = finish_workers(spawn_workers("start", state_dir, *SCALE_RUN))
    assert [code for code, _, _ in results] == [0, 0], results
    return state_dir / "fashion_mnist"
