"""The `runner` command line: the only place that prints for people and picks exit codes."""

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from runner import report
from runner.errors import ExitCode, FiguresNotWritableError, RunBusyError, RunnerError, UsageError
from runner.options import (
    AsJson,
    BatchSize,
    ChunkSteps,
    DataDir,
    Devices,
    JobArgument,
    LearningRate,
    MaxSteps,
    Patience,
    Plots,
    Run,
    Seed,
    Slot,
    StateDir,
    StopAfter,
    StopSignals,
    Strategy,
    Verbose,
)
from runner.signals import StopRequest, parse_duration, parse_signal_names

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Train jobs in atomic chunks that resume bit-exact after a crash.",
)


@contextlib.contextmanager
def _reported_errors():
    """Turn engine exceptions into a one-line message and their exit code."""
    try:
        yield
    except RunnerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(int(error.exit_code)) from None
    except KeyboardInterrupt:
        typer.echo("aborted; the last commit is intact", err=True)
        raise typer.Exit(int(ExitCode.ABORTED)) from None


def _configure_logging(verbose=False, *, live=False):
    """Route the engine's log records to the terminal or the log files.

    Args:
        live: Also return a `LiveProgress` when stdout is a terminal; None otherwise.
    """
    # TensorFlow's C++ start-up notices would bury the progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    progress = None
    if live and sys.stdout.isatty():
        from runner.progress import LiveProgress

        progress = LiveProgress(sys.stdout)

    # Progress lines go to stdout; warnings and errors go to stderr, so that
    # --json output stays parseable. Both erase the live progress line first.
    lines = _LogHandler(sys.stdout, progress)
    lines.addFilter(lambda record: record.levelno < logging.WARNING)
    problems = _LogHandler(sys.stderr, progress)
    problems.setLevel(logging.WARNING)
    for handler in (lines, problems):
        handler.setFormatter(_ProgressFormatter())
    logger = logging.getLogger("runner")
    logger.handlers[:] = [lines, problems]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    return progress


def _echo(message=""):
    """Print a line to stdout; once the reader is gone (`runner ... | head`), drop output."""
    try:
        typer.echo(message)
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout():
    # Point stdout at /dev/null, so neither later lines nor the flush at exit
    # fail, and training and the exit code carry on unchanged.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _LogHandler(logging.StreamHandler):
    """Stream handler that erases the live progress line and survives a closed pipe."""

    def __init__(self, stream, progress):
        super().__init__(stream)
        self._progress = progress

    def emit(self, record):
        if self._progress is None:
            super().emit(record)
            return
        # Commit reports come from the commit thread while training redraws the line.
        with self._progress.cleared():
            super().emit(record)

    def handleError(self, record):
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _silence_stdout()
            return
        super().handleError(record)


class _ProgressFormatter(logging.Formatter):
    """Plain messages for progress lines, a level prefix for anything else."""

    def format(self, record):
        message = record.getMessage()
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname}: {message}"


@app.command()
def start(
    job: str = JobArgument,
    run: Optional[str] = Run,
    state_dir: Path = StateDir,
    data_dir: Optional[Path] = DataDir,
    max_steps: Optional[int] = MaxSteps,
    chunk_steps: Optional[int] = ChunkSteps,
    patience: Optional[int] = Patience,
    batch_size: Optional[int] = BatchSize,
    learning_rate: Optional[float] = LearningRate,
    seed: Optional[int] = Seed,
    stop_after: Optional[str] = StopAfter,
    stop_signals: str = StopSignals,
    strategy: Optional[str] = Strategy,
    devices: Optional[int] = Devices,
    verbose: bool = Verbose,
):
    """Create a run of JOB and train it; an existing run is rejected."""
    progress = _configure_logging(verbose, live=True)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    with _reported_errors():
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import start_run

        summary = start_run(
            state_dir=state_dir,
            job_spec=job,
            run=run,
            data_dir=data_dir,
            overrides=overrides,
            stop=stop,
            progress=progress,
            strategy=strategy,
            devices=devices,
        )
    _report_outcome(summary, stop, state_dir)


@app.command()
def resume(
    run: str = typer.Argument(..., metavar="RUN", help="Name of the run to continue."),
    state_dir: Path = StateDir,
    data_dir: Optional[Path] = DataDir,
    max_steps: Optional[int] = MaxSteps,
    chunk_steps: Optional[int] = ChunkSteps,
    patience: Optional[int] = Patience,
    batch_size: Optional[int] = BatchSize,
    learning_rate: Optional[float] = LearningRate,
    seed: Optional[int] = Seed,
    stop_after: Optional[str] = StopAfter,
    stop_signals: str = StopSignals,
    strategy: Optional[str] = Strategy,
    devices: Optional[int] = Devices,
    verbose: bool = Verbose,
):
    """Continue RUN from its last commit; a finished run prints its summary and exits 0.

    --max-steps and --patience may be raised to train further, even a
    finished run; any other setting must keep its saved value.
    """
    progress = _configure_logging(verbose, live=True)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    with _reported_errors():
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import resume_run

        summary = resume_run(
            state_dir=state_dir,
            run=run,
            data_dir=data_dir,
            overrides=overrides,
            stop=stop,
            progress=progress,
            strategy=strategy,
            devices=devices,
        )
    if summary.steps_trained == 0 and summary.finished_reason is not None:
        _echo(f"run {run!r} is already finished")
    _report_outcome(summary, stop, state_dir)


@app.command()
def ensure(
    job: str = JobArgument,
    run: Optional[str] = Run,
    state_dir: Path = StateDir,
    data_dir: Optional[Path] = DataDir,
    max_steps: Optional[int] = MaxSteps,
    chunk_steps: Optional[int] = ChunkSteps,
    patience: Optional[int] = Patience,
    batch_size: Optional[int] = BatchSize,
    learning_rate: Optional[float] = LearningRate,
    seed: Optional[int] = Seed,
    stop_after: Optional[str] = StopAfter,
    stop_signals: str = StopSignals,
    strategy: Optional[str] = Strategy,
    devices: Optional[int] = Devices,
    verbose: bool = Verbose,
):
    """Start the run if missing, resume it if stopped; for cron and requeue scripts.

    Prints nothing and exits 0 when the run is finished, and exits 69 without
    a message when another process has the run's lock (unless -v).
    """
    progress = _configure_logging(verbose, live=True)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    try:
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import ensure_run

        summary = ensure_run(
            state_dir=state_dir,
            job_spec=job,
            run=run,
            data_dir=data_dir,
            overrides=overrides,
            stop=stop,
            progress=progress,
            strategy=strategy,
            devices=devices,
        )
    except RunBusyError as error:
        if verbose:
            typer.echo(f"error: {error}", err=True)
        raise typer.Exit(int(error.exit_code)) from None
    except RunnerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(int(error.exit_code)) from None

    if summary.steps_trained == 0 and summary.finished_reason is not None and not verbose:
        return
    _report_outcome(summary, stop, state_dir)


def _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed):
    return {
        "max_steps": max_steps,
        "chunk_steps": chunk_steps,
        "patience": patience,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
    }


def _install_stop_request(stop_after, stop_signals):
    """Turn the stop options into an installed StopRequest; raises UsageError on bad values."""
    seconds = parse_duration(stop_after) if stop_after is not None else None
    return StopRequest(signals=parse_signal_names(stop_signals), stop_after=seconds).install()


def _report_outcome(summary, stop, state_dir):
    """Print how a start or resume ended and exit 75 when a stop request ended it."""
    if summary.stopped_by is None:
        _echo(report.describe_finish(summary))
        return
    # A worker stopped by another worker's request has no request of its own.
    requester = stop.describe() or "the stop request of another worker"
    if summary.step is None:
        _echo(f"stopped by {requester} before run {summary.run!r} was created; nothing was written")
    else:
        state_option = "" if Path(state_dir) == Path("state") else f" --state-dir {state_dir}"
        command = f"runner resume {summary.run}{state_option}"
        if summary.workers > 1:
            command = f"`{command}` on every worker, with its TF_CONFIG or under srun as before"
        _echo(f"stopped by {requester} at step {summary.step}; resume with: {command}")
    raise typer.Exit(int(ExitCode.STOPPED))


@app.command()
def status(
    run: Optional[str] = typer.Argument(
        None, metavar="[RUN]", help="Run to show in detail; a table of all runs when omitted."
    ),
    state_dir: Path = StateDir,
    as_json: bool = AsJson,
):
    """Show the state, step, best accuracy and history of runs, from their files only."""
    from runner.run_folder import RunFolder, list_runs
    from runner.status import read_status
    from runner.status_text import format_status_details, format_status_table

    with _reported_errors():
        names = [run] if run is not None else list_runs(state_dir)
        statuses = [read_status(RunFolder(state_dir, name)) for name in names]

    if as_json:
        _echo(json.dumps(statuses[0] if run is not None else statuses, indent=2))
    elif run is not None:
        _echo(format_status_details(statuses[0]))
    elif statuses:
        _echo(format_status_table(statuses))
    else:
        _echo(f"no runs in {state_dir}")


@app.command()
def evaluate(
    run: str = typer.Argument(..., metavar="RUN", help="Name of the run whose weights to test."),
    state_dir: Path = StateDir,
    data_dir: Optional[Path] = DataDir,
    slot: str = Slot,
    plots: Optional[Path] = Plots,
    as_json: bool = AsJson,
):
    """Print the test accuracy, per-class accuracy and confusion matrix of RUN's best or latest weights."""
    _configure_logging()
    with _reported_errors():
        evaluation, figures = _evaluate(state_dir, run, data_dir, slot, plots)

    if as_json:
        _echo(json.dumps({**report.report_as_dict(evaluation), "figures": [str(path) for path in figures]}, indent=2))
        return
    for line in report.format_evaluation(evaluation):
        _echo(line)
    if figures:
        _echo()
        _echo(f"Figures in {plots}: {', '.join(path.name for path in figures)}")


@app.command(name="list")
def list_command(state_dir: Path = StateDir):
    """List the available jobs and the runs in the state directory."""
    from runner.job import builtin_job_names, describe_builtin_job
    from runner.run_folder import RunFolder, list_runs
    from runner.status import read_status
    from runner.status_text import format_status_table

    with _reported_errors():
        names = list_runs(state_dir)
        statuses = [read_status(RunFolder(state_dir, name)) for name in names]

    _echo("jobs:")
    for name in builtin_job_names():
        _echo(f"  {name:<16} {describe_builtin_job(name)}")
    _echo(f"runs in {state_dir}:")
    if not statuses:
        _echo("  none")
    else:
        _echo("\n".join("  " + line for line in format_status_table(statuses).splitlines()))


def _create_plots_folder(plots):
    """Create the --plots folder before the evaluation, so that a bad path fails fast."""
    try:
        plots.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"Invalid value for --plots: {plots} is a file or lies under one. Pass a folder; a missing one is created."
        ) from None
    except OSError as error:
        raise FiguresNotWritableError(
            f"Cannot create the --plots folder {plots}: {error.strerror}. Pass a writable folder."
        ) from None


def _evaluate(state_dir, run, data_dir, slot, plots):
    from runner.evaluate import SLOTS, evaluate_slot, write_run_figures
    from runner.job import load_job
    from runner.run_folder import RunFolder
    from runner.runs import load_run_splits

    if slot not in SLOTS:
        raise UsageError(f"Invalid value for --slot: {slot!r}. Pass one of: {', '.join(SLOTS)}.")
    if plots is not None:
        _create_plots_folder(plots)
    folder = RunFolder(state_dir, run)
    config = folder.load_config()
    job = load_job(config.job)
    splits = load_run_splits(job, config, data_dir)
    evaluation = evaluate_slot(job=job, folder=folder, splits=splits, slot=slot)
    figures = []
    if plots is not None:
        try:
            figures = write_run_figures(plots, report=evaluation, splits=splits, folder=folder)
        except OSError as error:
            raise FiguresNotWritableError(
                f"Cannot write the figures into {plots}: {error}. Free some space or pass another folder."
            ) from None
    return evaluation, figures


def main():
    """Run the command line (the `runner` console script)."""
    try:
        app()
        code = 0
    except SystemExit as exit_request:
        code = exit_request.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1

    # Every commit is on disk and closed by now, so skip the interpreter's
    # teardown. With TensorFlow loaded it took 0.6 s of the 0.66 s from
    # SIGTERM to exit on a 2-core machine, time a grace period may not have.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass
    os._exit(code)
