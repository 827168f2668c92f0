"""A progress line for terminals, redrawn in place while a chunk trains."""

import contextlib
import threading
import time

from runner.report import format_duration

# At most five redraws a second, so the terminal costs a fast job almost nothing.
REDRAW_SECONDS = 0.2

# Weight of the newest measurement in the smoothed steps per second.
SMOOTHING = 0.3

_CLEAR_LINE = "\r\x1b[K"


class LiveProgress:
    """Redraws one line with the step, steps per second and the time left.

    Only a terminal understands the carriage return and the erase code this
    writes; the command line creates it when stdout is a terminal. The
    training thread calls `update`; any thread may write log lines inside
    `cleared`.

    Args:
        stream: The terminal's text stream.
        clock: Returns seconds; `time.monotonic` unless a caller needs another.
    """

    def __init__(self, stream, *, clock=time.monotonic):
        self._stream = stream
        self._clock = clock
        self._warmed_up = False
        self._first = None
        self._last = None
        self._steps_per_second = None
        self._line_visible = False
        self._lock = threading.Lock()

    def update(self, *, step, next_validation, max_steps):
        """Record that training reached `step`, and redraw at most every REDRAW_SECONDS."""
        now = self._clock()
        if not self._warmed_up:
            # The first step traces the compiled training step, which would
            # make the first rate far too low; timing starts after it.
            self._warmed_up = True
            return
        if self._first is None:
            self._first = self._last = (now, step)
            return
        last_time, last_step = self._last
        if now - last_time < REDRAW_SECONDS:
            return

        if step > last_step:
            rate = (step - last_step) / (now - last_time)
            previous = self._steps_per_second
            self._steps_per_second = rate if previous is None else SMOOTHING * rate + (1 - SMOOTHING) * previous
        self._last = (now, step)
        if self._steps_per_second:
            self._draw(self.describe(now, step, next_validation, max_steps))

    def describe(self, now, step, next_validation, max_steps):
        """Return the progress line for `step` at time `now`."""
        line = (
            f"step {step:,} / {max_steps:,} | {self._steps_per_second:,.0f} steps/s"
            f" | validation in {format_duration((next_validation - step) / self._steps_per_second)}"
        )
        # Validation and commits slow the whole run down, so the time to
        # max_steps uses the average rate since the first step, which includes them.
        first_time, first_step = self._first
        if step > first_step:
            average = (step - first_step) / (now - first_time)
            line += f" | max steps in {format_duration((max_steps - step) / average)}"
        return line

    def clear(self):
        """Erase the progress line."""
        with self._lock:
            self._clear()

    @contextlib.contextmanager
    def cleared(self):
        """Erase the progress line and keep it from being redrawn until the block ends."""
        with self._lock:
            self._clear()
            yield

    def _clear(self):
        if self._line_visible:
            self._write(_CLEAR_LINE)
            self._line_visible = False

    def _draw(self, line):
        with self._lock:
            self._write(_CLEAR_LINE + line)
            self._line_visible = True

    def _write(self, text):
        try:
            self._stream.write(text)
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            # The terminal is gone; training goes on without the display.
            self._line_visible = False
