"""Exit codes and the exceptions that carry them.

The engine raises these; only the command line turns them into messages and
exit codes. Each message names the value involved and what to do next.
"""

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes that scripts can rely on (sysexits.h numbering)."""

    FINISHED = 0  # The run is finished, now or before.
    USAGE = 2  # Invalid command line; typer and click also use 2.
    INVALID_INPUT = 65  # EX_DATAERR: bad data set or job definition.
    MISSING_INPUT = 66  # EX_NOINPUT: data set files or the run are missing.
    BUSY = 69  # EX_UNAVAILABLE: another process holds the run's lock.
    IO_ERROR = 74  # EX_IOERR: a commit failed; the previous commit is intact.
    STOPPED = 75  # EX_TEMPFAIL: committed and stopped on request; resumable.
    PEER_LOST = 76  # EX_PROTOCOL: another worker of a multi-worker run was lost; resumable.
    ABORTED = 130  # 128 + SIGINT: aborted without a final commit.


class RunnerError(Exception):
    """Base class of every failure the command line reports without a traceback."""

    exit_code = ExitCode.INVALID_INPUT


class InvalidInputError(RunnerError, ValueError):
    """A data set, job definition or setting is invalid."""

    exit_code = ExitCode.INVALID_INPUT


class UsageError(RunnerError, ValueError):
    """A command-line value is invalid in a way the option parser cannot see."""

    exit_code = ExitCode.USAGE


class MissingInputError(RunnerError, FileNotFoundError):
    """Data set files, a job or a run do not exist."""

    exit_code = ExitCode.MISSING_INPUT


class DataNotFoundError(MissingInputError):
    """No folder that was searched contains the data set files."""


class JobNotFoundError(MissingInputError):
    """No job module or job file has the requested name."""


class RunNotFoundError(MissingInputError):
    """The state directory has no run of the requested name."""


class CorruptRunError(RunnerError):
    """No commit of the run can be read; nothing was deleted."""

    exit_code = ExitCode.INVALID_INPUT


class RunExistsError(RunnerError, FileExistsError):
    """`start` was asked to create a run whose folder already exists."""

    exit_code = ExitCode.USAGE


class RunBusyError(RunnerError, BlockingIOError):
    """Another process holds the run's lock."""

    exit_code = ExitCode.BUSY


class StateNotWritableError(RunnerError, OSError):
    """The state directory or a run folder cannot be written; found before training."""

    exit_code = ExitCode.IO_ERROR


class FiguresNotWritableError(RunnerError, OSError):
    """The folder for evaluation figures cannot be created or written."""

    exit_code = ExitCode.IO_ERROR


class CommitError(RunnerError, OSError):
    """Writing a commit failed; the previous commit is still the run's state."""

    exit_code = ExitCode.IO_ERROR


class PeerLostError(RunnerError):
    """Another worker of a multi-worker run became unreachable; the last commit is intact."""

    exit_code = ExitCode.PEER_LOST
