"""Stop requests: signals and a wall-time budget turned into a flag the trainer checks.

The handlers only record the request. The trainer checks it between steps,
commits at the current step and returns, so nothing is ever saved inside a
signal handler.
"""

import os
import re
import signal
import time
from pathlib import Path

from runner.errors import ExitCode, UsageError

DEFAULT_STOP_SIGNALS = "TERM,INT,USR1"
# The stop reason when the --stop-after budget runs out.
TIME_LIMIT = "time_limit"


def _process_start():
    """Return when this process started, on the `time.monotonic` clock.

    Linux records the start in /proc/self/stat, in clock ticks since boot.
    Elsewhere this falls back to the time of the first import of this module.
    """
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        # Field 22 of the file, `starttime`; the split leaves out the first two fields.
        started = int(after_name[19]) / os.sysconf("SC_CLK_TCK")
        running_for = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, IndexError, ValueError, AttributeError):
        return time.monotonic()
    return time.monotonic() - max(0.0, running_for)


PROCESS_START = _process_start()


def parse_signal_names(text):
    """Parse a comma-separated list such as `TERM,USR1` into signal numbers."""
    numbers = []
    for name in (part.strip().upper() for part in text.split(",") if part.strip()):
        full_name = name if name.startswith("SIG") else f"SIG{name}"
        try:
            number = signal.Signals[full_name]
        except KeyError:
            number = None
        if number is None or number in (signal.SIGKILL, signal.SIGSTOP):
            raise UsageError(
                f"Invalid value for --stop-signals: {name!r} is not a signal that can be caught. "
                "Pass names such as TERM,INT,USR1."
            )
        numbers.append(number)
    return numbers


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text):
    """Parse a duration such as `3h50m`, `90m`, `45s` or `120` (seconds) into seconds."""
    cleaned = text.strip().lower()
    match = _DURATION.match(cleaned)
    seconds = None
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        seconds = float(cleaned)
    elif cleaned and match:
        hours, minutes, secs = (float(group) if group else 0.0 for group in match.groups())
        seconds = 3600 * hours + 60 * minutes + secs
    if not seconds or seconds <= 0:
        raise UsageError(
            f"Invalid value for --stop-after: {text!r}. Pass a positive duration such as 3h50m, 90m or 45s."
        )
    return seconds


class StopRequest:
    """The first stop request of this process: a signal or the end of the time budget.

    `reason` is None until a stop is requested, then the signal's name
    (`SIGTERM`) or `time_limit`.

    A second SIGINT ends the process at once with exit code 130, without a
    commit, so that Ctrl-C twice always works even while a step or a commit
    is running. The last commit stays intact because commits are atomic.
    """

    def __init__(self, *, signals=(), stop_after=None):
        self.reason = None
        self._interrupts = 0
        self._deadline = PROCESS_START + stop_after if stop_after is not None else None
        self._stop_after = stop_after
        self._signals = list(signals)
        self._previous = {}

    def install(self):
        """Install the handlers; returns self so it can be used in a `with` block."""
        for number in self._signals:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def reinstall(self):
        """Install the handlers again, over any that a library put in place since `install`.

        TensorFlow's multi-worker runtime installs its own SIGTERM handler
        when the strategy starts (seen with TensorFlow 2.21), so the runner's
        handler must come back afterwards.
        """
        for number in self._previous:
            signal.signal(number, self._handle)

    def uninstall(self):
        """Restore the handlers that were in place before `install`."""
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc_info):
        self.uninstall()

    @property
    def requested(self):
        """Whether a stop was requested; checks the time budget too."""
        if self.reason is None and self._deadline is not None and time.monotonic() >= self._deadline:
            self.reason = TIME_LIMIT
        return self.reason is not None

    def describe(self):
        """Return what requested the stop, for messages: `SIGTERM` or `--stop-after 3h50m`."""
        if self.reason == TIME_LIMIT:
            return f"--stop-after {_format_seconds(self._stop_after)}"
        return self.reason

    def _handle(self, number, frame):
        name = signal.Signals(number).name
        if number == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts > 1:
                os.write(2, b"aborted by a second SIGINT; the last commit is intact\n")
                os._exit(ExitCode.ABORTED)
        if self.reason is None:
            self.reason = name


def _format_seconds(seconds):
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
