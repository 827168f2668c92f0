"""Measure what a commit costs: its time against a chunk's time, and its size.

Trains a fresh run of a job in this process, times every commit and every
chunk, and prints a Markdown table for docs/benchmarks.md.

    python benchmarks/commit_cost.py --steps 1000
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from runner.config import RunConfig  # noqa: E402
from runner.job import load_job  # noqa: E402
from runner.run_folder import RunFolder  # noqa: E402
from runner.runs import fingerprint  # noqa: E402
from runner.trainer import Trainer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="fashion_mnist")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--chunk-steps", type=int, default=100)
    arguments = parser.parse_args()

    job = load_job(arguments.job)
    splits = job.load_data(None)
    with tempfile.TemporaryDirectory() as state_dir:
        folder = RunFolder(state_dir, "benchmark")
        folder.path.mkdir()
        config = RunConfig(
            run="benchmark",
            job=arguments.job,
            max_steps=arguments.steps,
            chunk_steps=arguments.chunk_steps,
            patience=arguments.steps + 1,
            batch_size=64,
            learning_rate=1e-4,
            seed=0,
            data_fingerprint=fingerprint(splits),
        )
        trainer = Trainer(job=job, config=config, folder=folder, splits=splits)
        commit_seconds, chunk_seconds = _time_commits(trainer)
        trainer.run()
        data_file = max(Path(folder.latest).glob("ckpt-*.data-*"))
        data_bytes = data_file.stat().st_size

        weights = trainer.state.model.trainable_variables
        weight_bytes = sum(variable.numpy().nbytes for variable in weights)

    # The first chunk includes tracing the compiled steps; leave it out.
    commits = commit_seconds[1:]
    chunks = chunk_seconds[1:]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"job {arguments.job}, {arguments.steps} steps in chunks of {arguments.chunk_steps}, batch 64")
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| chunk time, median | {1000 * statistics.median(chunks):.0f} ms |")
    print(
        f"| commit time, median (min, max) | {1000 * statistics.median(commits):.1f} ms "
        f"({1000 * min(commits):.1f}, {1000 * max(commits):.1f}) |"
    )
    print(f"| commit / chunk time | {100 * statistics.median(commits) / statistics.median(chunks):.1f}% |")
    print(f"| latest slot data file | {data_bytes:,} bytes |")
    print(f"| weights + Adam's two moments | {3 * weight_bytes:,} bytes |")
    print(f"| data file / (weights + moments) | {data_bytes / (3 * weight_bytes):.3f} |")


def _time_commits(trainer):
    """Wrap the trainer's commit to record commit durations and the time between commits."""
    commit_seconds = []
    chunk_seconds = []
    original_commit = trainer.slots.commit
    last_end = [time.perf_counter()]

    def timed_commit(record, *, improved):
        started = time.perf_counter()
        original_commit(record, improved=improved)
        ended = time.perf_counter()
        commit_seconds.append(ended - started)
        chunk_seconds.append(ended - last_end[0])
        last_end[0] = ended

    trainer.slots.commit = timed_commit
    return commit_seconds, chunk_seconds


if __name__ == "__main__":
    main()
