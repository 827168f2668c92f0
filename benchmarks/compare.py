"""Benchmark `runner start` against Keras `Model.fit`, with and without BackupAndRestore, in one run.

Runs whole processes in turns, one round after another:

    runner            runner start fashion_mnist --max-steps STEPS (commits every 100 steps)
    fit               benchmarks/keras_fit.py --steps STEPS
    fit_backup        the same with BackupAndRestore(save_freq=100)
    runner_unguarded  benchmarks/unguarded_runner.py: the runner without commits or op determinism

and reports the median, min and max of each one's wall time and peak
resident memory, and the ratios to `fit`. In the same run it measures the
machine's FP32 matmul throughput and the runner's training and validation
time against the FLOP floor at that throughput; the commit time and size;
the time from SIGTERM to exit; the time from process start to the first
training step of a resume; and the time of `runner status --json`. It ends
with a check of every target.

    python benchmarks/compare.py --rounds 7 --steps 1000

Run it on an otherwise idle machine: every number is wall-clock time.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report_tables import format_table, summarize
from signal_exit import measure as measure_sigterm_exit

BENCHMARKS = Path(__file__).resolve().parent
VARIANTS = ("runner", "fit", "fit_backup", "runner_unguarded")
JOB = "fashion_mnist"

# The targets: each a ratio or a limit that the check at the end compares with.
MAX_WALL_RATIO = 0.80
MAX_MEMORY_RATIO = 0.80
MAX_GUARANTEE_COST = 0.03
MAX_FLOOR_RATIO = 2.0
MAX_COMMIT_SIZE_RATIO = 1.1
MAX_SIGTERM_SECONDS = 0.5
MAX_STATUS_SECONDS = 0.3


def variant_command(name, state_dir, round_number, steps):
    """Return the argv of one benchmark process."""
    python = sys.executable
    if name == "runner":
        return [python, "-m", "runner", "start", JOB, "--state-dir", state_dir, "--run", f"runner{round_number}",
                "--max-steps", str(steps)]  # fmt: skip
    if name == "runner_unguarded":
        return [python, str(BENCHMARKS / "unguarded_runner.py"), JOB, "--state-dir", state_dir,
                "--run", f"unguarded{round_number}", "--max-steps", str(steps)]  # fmt: skip
    command = [python, str(BENCHMARKS / "keras_fit.py"), "--steps", str(steps)]
    if name == "fit_backup":
        command += ["--backup-dir", str(Path(state_dir) / f"backup{round_number}")]
    return command


def run_measured(command):
    """Run a process to its end; return its wall seconds and peak resident memory in MiB."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(command)} exited with {code}:\n{errors.read().decode()[-2000:]}")
    # Linux reports ru_maxrss in KiB.
    return wall, usage.ru_maxrss / 1024


def read_scalars(run_dir):
    """Return the runner's TensorBoard scalars as {tag: [values in step order]}."""
    import tensorflow as tf

    values = {}
    for path in sorted((Path(run_dir) / "tensorboard").glob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append((event.step, value.simple_value))
    return {tag: [value for _, value in sorted(pairs)] for tag, pairs in values.items()}


def compute_seconds(run_dir, chunk_steps=100):
    """Return the seconds the run spent in training steps and in validation, from its scalars."""
    scalars = read_scalars(run_dir)
    training = sum(chunk_steps / rate for rate in scalars["speed/steps_per_second"])
    return training, sum(scalars["time/validation_seconds"]), scalars["time/commit_seconds"]


def commit_size(run_dir, step):
    """Return the bytes of the latest commit's data file and of the weights plus Adam's two moments."""
    import tensorflow as tf

    prefix = Path(run_dir) / "latest" / f"ckpt-{step}"
    reader = tf.train.load_checkpoint(str(prefix))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    # The model's weights are stored once, under the optimizer's list of them;
    # `_variables` contains Adam's first and second moments of each weight.
    tensor_bytes = 0
    for name, shape in shapes.items():
        if name.startswith(("optimizer/_trainable_variables/", "optimizer/_variables/")) and shape:
            count = 1
            for size in shape:
                count *= size
            tensor_bytes += count * dtypes[name].size
    data_file = next(Path(prefix.parent).glob(f"ckpt-{step}.data-*"))
    return data_file.stat().st_size, tensor_bytes


def measure_resume_startup(state_dir, repeats):
    """Return the seconds from process start to the first training step of `runner resume`, per resume."""
    run = "resume_probe"
    base = [sys.executable, "-m", "runner"]
    subprocess.run([*base, "start", JOB, "--state-dir", state_dir, "--run", run, "--max-steps", "100"],
                   check=True, capture_output=True)  # fmt: skip
    seconds = []
    for repeat in range(repeats):
        started = time.time()
        subprocess.run(
            [*base, "resume", run, "--state-dir", state_dir, "--max-steps", str(200 + 100 * repeat)],
            check=True,
            capture_output=True,
        )
        segments = json.loads((Path(state_dir) / run / "segments.json").read_text())
        began = datetime.datetime.fromisoformat(segments[-1]["began"]).timestamp()
        seconds.append(began - started)
    return seconds, run


def measure_status(state_dir, run, repeats):
    """Return the wall seconds of `runner status RUN --json`, per call."""
    command = [sys.executable, "-m", "runner", "status", run, "--state-dir", state_dir, "--json"]
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def measure_floor():
    """Return the JSON of benchmarks/compute_floor.py, run in its own process."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "compute_floor.py"), "--job", JOB],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="Rounds of the four processes.")
    parser.add_argument("--steps", type=int, default=1000, help="Training steps of each process, a multiple of 100.")
    parser.add_argument("--repeats", type=int, default=10, help="Repeats of the SIGTERM and status measurements.")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as state_dir:
        print(f"# {datetime.datetime.now().isoformat(timespec='seconds')} on {platform.machine()},"
              f" {os.cpu_count()} CPUs, Python {platform.python_version()}", flush=True)  # fmt: skip
        floor = measure_floor()

        wall = {name: [] for name in VARIANTS}
        memory = {name: [] for name in VARIANTS}
        for round_number in range(arguments.rounds):
            for name in VARIANTS:
                seconds, mebibytes = run_measured(variant_command(name, state_dir, round_number, arguments.steps))
                wall[name].append(seconds)
                memory[name].append(mebibytes)
                print(f"round {round_number + 1} {name}: {seconds:.2f} s, {mebibytes:.0f} MiB", flush=True)

        runs = [Path(state_dir) / f"runner{round_number}" for round_number in range(arguments.rounds)]
        computes = [compute_seconds(run) for run in runs]
        data_bytes, tensor_bytes = commit_size(runs[0], arguments.steps)
        sigterm = measure_sigterm_exit(arguments.repeats)
        resume_startup, probe = measure_resume_startup(state_dir, repeats=3)
        status = measure_status(state_dir, probe, arguments.repeats)

    report(arguments, floor, wall, memory, computes, (data_bytes, tensor_bytes), sigterm, resume_startup, status)


def report(arguments, floor, wall, memory, computes, sizes, sigterm, resume_startup, status):
    """Print the tables and the check of every target."""
    fit_wall = statistics.median(wall["fit"])
    fit_memory = statistics.median(memory["fit"])
    rows = []
    for name in VARIANTS:
        rows.append(
            [name, *summarize(wall[name], "{:.2f} s"), f"{statistics.median(wall[name]) / fit_wall:.2f}",
             *summarize(memory[name], "{:.0f} MiB"), f"{statistics.median(memory[name]) / fit_memory:.2f}"]
        )  # fmt: skip
    print()
    print(f"{arguments.rounds} rounds of {arguments.steps} steps (batch 64, validation on 5,000 images every 100):")
    print(format_table(["process", "wall median", "min", "max", "/ fit", "peak median", "min", "max", "/ fit"], rows))

    steps = arguments.steps
    total_flop = steps * floor["train_step_flop"] + steps // 100 * floor["validation_flop"]
    floor_seconds = total_flop / (floor["gflop_per_second"] * 1e9)
    training = statistics.median(train for train, _, _ in computes)
    validation = statistics.median(valid for _, valid, _ in computes)
    commits = [seconds for _, _, chunk_commits in computes for seconds in chunk_commits]
    data_bytes, tensor_bytes = sizes
    guarantee_cost = statistics.median(wall["runner"]) / statistics.median(wall["runner_unguarded"]) - 1
    print()
    print(format_table(["measure", "value"], [
        ["FP32 matmul throughput (4096x4096, best of 7)", f"{floor['gflop_per_second']:.0f} GFLOP/s"],
        ["work: training steps + validations", f"{total_flop / 1e9:,.0f} GFLOP"],
        ["FLOP floor at that throughput", f"{floor_seconds:.2f} s"],
        ["runner training time, median of runs", f"{training:.2f} s"],
        ["runner validation time, median of runs", f"{validation:.2f} s"],
        ["(training + validation) / floor", f"{(training + validation) / floor_seconds:.2f}"],
        ["guarantees: runner / runner_unguarded - 1", f"{100 * guarantee_cost:+.1f}%"],
        ["commit time, median (min, max)", "{} ({}, {})".format(*summarize(commits, "{:.1f} ms", scale=1000))],
        ["commit data file / (weights + Adam moments)", f"{data_bytes:,} / {tensor_bytes:,} B = "
                                                        f"{data_bytes / tensor_bytes:.3f}"],
        ["SIGTERM to exit, median (min, max)", "{} ({}, {})".format(*summarize(sigterm, "{:.0f} ms", scale=1000))],
        ["process start to first step of a resume, median (min, max)",
         "{} ({}, {})".format(*summarize(resume_startup, "{:.2f} s"))],
        ["status --json, median (min, max)", "{} ({}, {})".format(*summarize(status, "{:.0f} ms", scale=1000))],
    ]))  # fmt: skip

    checks = [
        ("runner wall <= 0.80 x fit", statistics.median(wall["runner"]) / fit_wall, MAX_WALL_RATIO),
        ("runner wall <= 0.80 x fit_backup",
         statistics.median(wall["runner"]) / statistics.median(wall["fit_backup"]), MAX_WALL_RATIO),
        ("runner peak memory <= 0.80 x fit", statistics.median(memory["runner"]) / fit_memory, MAX_MEMORY_RATIO),
        ("guarantees cost <= 3% of wall", guarantee_cost, MAX_GUARANTEE_COST),
        ("compute <= 2.0 x FLOP floor", (training + validation) / floor_seconds, MAX_FLOOR_RATIO),
        ("commit data file <= 1.1 x tensors", data_bytes / tensor_bytes, MAX_COMMIT_SIZE_RATIO),
        ("SIGTERM to exit <= 0.5 s", statistics.median(sigterm), MAX_SIGTERM_SECONDS),
        ("status --json <= 0.3 s", statistics.median(status), MAX_STATUS_SECONDS),
    ]  # fmt: skip
    print()
    failed = 0
    for name, value, limit in checks:
        verdict = "met" if value <= limit else "MISSED"
        failed += value > limit
        print(f"{verdict:6}  {name}: {value:.3f} (limit {limit})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
