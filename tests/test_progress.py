"""Live progress: redrawn in a terminal, absent from pipes and log files."""

import io
import os
import pty
import subprocess

from runner.progress import LiveProgress

from conftest import run_runner, runner_command


class _Clock:
    """A clock that the test moves forward."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_line_shows_rate_and_times():
    clock = _Clock()
    stream = io.StringIO()
    progress = LiveProgress(stream, clock=clock)

    for step in range(0, 60, 10):
        progress.update(step=step, next_validation=100, max_steps=1000)
        clock.now += 0.25

    line = stream.getvalue().split("\r\x1b[K")[-1]
    assert line.startswith("step 50 / 1,000 | 40 steps/s")
    assert "validation in 1s" in line
    assert "max steps in 24s" in line


def test_first_step_excluded_from_rate():
    clock = _Clock()
    stream = io.StringIO()
    progress = LiveProgress(stream, clock=clock)

    # The first step takes 2 s, as tracing a compiled step can; later ones 10 ms.
    progress.update(step=0, next_validation=100, max_steps=100)
    clock.now = 2.0
    for step in range(1, 40):
        progress.update(step=step, next_validation=100, max_steps=100)
        clock.now += 0.01

    assert "| 100 steps/s |" in stream.getvalue().split("\r\x1b[K")[1]


def test_progress_redraws_at_most_five_times_a_second():
    clock = _Clock()
    stream = io.StringIO()
    progress = LiveProgress(stream, clock=clock)

    for step in range(100):
        progress.update(step=step, next_validation=100, max_steps=100)
        clock.now += 0.01

    assert stream.getvalue().count("\r") == 4


def test_clear_erases_the_line():
    clock = _Clock()
    stream = io.StringIO()
    progress = LiveProgress(stream, clock=clock)
    for step in (0, 0):
        progress.update(step=step, next_validation=100, max_steps=100)
    clock.now = 1.0
    progress.update(step=50, next_validation=100, max_steps=100)

    progress.clear()
    progress.clear()

    assert stream.getvalue().endswith("step 50 / 100 | 50 steps/s | validation in 1s | max steps in 1s\r\x1b[K")


def test_terminal_shows_live_progress(tmp_path, fashion_dir):
    controller, terminal = pty.openpty()
    command = runner_command("start", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "200")
    process = subprocess.Popen(command, stdout=terminal, stderr=subprocess.DEVNULL)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            # Linux reports the closed terminal as EIO once the runner has exited.
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    process.wait(timeout=60)
    text = output.decode()

    assert process.returncode == 0
    assert "steps/s | validation in" in text
    assert "\r\x1b[Kstep    100 | train acc" in text
    assert "\r\x1b[Kstep    200 | train acc" in text
    # The terminal turns each newline into CR LF; the last line has no live progress left on it.
    assert text.rstrip().split("\r\n")[-1].startswith("finished: max steps reached at step 200")


def test_pipe_gets_plain_lines(tmp_path, fashion_dir):
    result = run_runner("start", "fashion_mnist", "--state-dir", tmp_path, "--max-steps", "100")

    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout
    assert "\x1b" not in result.stdout
    assert result.stdout.splitlines()[0].startswith("step    100 | train acc")
