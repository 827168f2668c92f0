"""Measure the time from SIGTERM to the runner's exit, as measured by the parent process.

Starts `runner start fashion_mnist` in a fresh state folder, waits for its
first chunk line, sends SIGTERM at a random moment within the next second and
times until the process has exited with 75. Repeats and prints the median.

    python benchmarks/signal_exit.py --repeats 10
"""

import argparse
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def measure_once(state_dir):
    """Return the seconds from SIGTERM to exit and the exit code of one runner."""
    command = [sys.executable, "-m", "runner", "start", "fashion_mnist", "--state-dir", state_dir]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    process.stdout.readline()
    time.sleep(random.uniform(0.0, 1.0))
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    return time.perf_counter() - sent, process.returncode


def measure(repeats):
    """Return the seconds from SIGTERM to exit of `repeats` runners, each in a fresh state folder."""
    seconds = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as state_dir:
            elapsed, code = measure_once(state_dir)
        if code != 75:
            raise SystemExit(f"runner exited with {code}, expected 75")
        seconds.append(elapsed)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    arguments = parser.parse_args()

    seconds = measure(arguments.repeats)

    milliseconds = sorted(round(1000 * value) for value in seconds)
    print(
        f"SIGTERM to exit over {arguments.repeats} runs: median {1000 * statistics.median(seconds):.0f} ms, "
        f"min {milliseconds[0]} ms, max {milliseconds[-1]} ms"
    )
    print("all (ms):", ", ".join(map(str, milliseconds)))


if __name__ == "__main__":
    main()
