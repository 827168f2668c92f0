"""SIGKILL a run again and again, inside and between commits, then check it against an uninterrupted run.

Runs `runner ensure` in a loop and kills each process at a random moment.
Half of the kills aim at the next commit: one measured chunk after the last
commit, plus or minus 50 ms. The others fall anywhere in the chunk. When the
run has finished, a second, uninterrupted run of the same settings is made
and both are compared file by file. Exits 0 when they are byte-identical.

    python scripts/kill_storm.py --kills 20 --max-steps 1500
"""

import argparse
import filecmp
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def committed_step(run_dir):
    """Return the step the latest slot's state file names, or None."""
    try:
        text = (run_dir / "latest" / "checkpoint").read_text()
    except FileNotFoundError:
        return None
    match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', text, re.M)
    return int(match.group(1)) if match else None


def wait_for_commit_after(run_dir, step, process, timeout=120):
    """Wait until a commit newer than `step` exists; return (its step, when it appeared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = committed_step(run_dir)
        if found is not None and (step is None or found > step):
            return found, time.monotonic()
        time.sleep(0.005)
    return None, None


def storm(state_dir, settings, kills, log):
    """Kill `kills` training processes at random moments, then let the run finish."""
    run_dir = state_dir / "fashion_mnist"
    command = [sys.executable, "-m", "runner", "ensure", "fashion_mnist", "--state-dir", str(state_dir), *settings]
    done = 0
    chunk = None
    while done < kills:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        step, seen = wait_for_commit_after(run_dir, committed_step(run_dir), process)
        if step is not None and chunk is None:
            # The first process also measures a chunk's wall time.
            later, later_seen = wait_for_commit_after(run_dir, step, process)
            if later is not None:
                chunk, step = later_seen - seen, later
        if step is None or chunk is None:
            process.wait()
            log(f"process ended by itself with {process.returncode}")
            break
        if done % 2 == 0:
            delay = max(0.0, chunk + random.uniform(-0.05, 0.05))
            aim = "at the next commit"
        else:
            delay = random.uniform(0.0, chunk)
            aim = "inside the chunk"
        time.sleep(delay)
        if process.poll() is not None:
            log(f"process ended by itself with {process.returncode}")
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        done += 1
        log(f"kill {done}: {delay:.3f} s after the commit of step {step} ({aim}); committed {committed_step(run_dir)}")

    final = subprocess.run(command, capture_output=True, text=True)
    if final.returncode != 0:
        raise SystemExit(f"the last ensure exited with {final.returncode}: {final.stderr[-2000:]}")
    return run_dir, done


def differences(run_dir, reference_dir):
    """Return the names of checkpoint files and logs that differ between two run folders."""
    names = []
    for slot in ("latest", "best"):
        ours = sorted(path.name for path in (run_dir / slot).glob("ckpt-*"))
        theirs = sorted(path.name for path in (reference_dir / slot).glob("ckpt-*"))
        if ours != theirs:
            names.append(f"{slot}: {ours} != {theirs}")
            continue
        names += [
            f"{slot}/{name}"
            for name in ours
            if not filecmp.cmp(run_dir / slot / name, reference_dir / slot / name, shallow=False)
        ]
    if not filecmp.cmp(run_dir / "metrics.jsonl", reference_dir / "metrics.jsonl", shallow=False):
        names.append("metrics.jsonl")
    return names


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=11)
    arguments = parser.parse_args()
    settings = ["--max-steps", str(arguments.max_steps), "--seed", str(arguments.seed)]

    with tempfile.TemporaryDirectory() as folder:
        storm_dir = Path(folder) / "storm"
        reference_state = Path(folder) / "reference"
        run_dir, done = storm(storm_dir, settings, arguments.kills, log=print)
        subprocess.run(
            [sys.executable, "-m", "runner", "start", "fashion_mnist", "--state-dir", str(reference_state), *settings],
            check=True,
            capture_output=True,
        )
        differing = differences(run_dir, reference_state / "fashion_mnist")

    if differing:
        raise SystemExit(f"after {done} kills the run differs from the uninterrupted one: {', '.join(differing)}")
    print(f"after {done} kills the run is byte-identical to the uninterrupted one")


if __name__ == "__main__":
    main()
