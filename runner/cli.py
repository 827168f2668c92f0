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
from runner.errors import ExitCode, RunBusyError, RunnerError
from runner.options import (
    AsJson,
    BatchSize,
    ChunkSteps,
    DataDir,
    JobArgument,
    LearningRate,
    MaxSteps,
    Patience,
    Run,
    Seed,
    StateDir,
    StopAfter,
    StopSignals,
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


def _configure_logging(verbose=False):
    # TensorFlow's C++ start-up notices would bury the progress lines.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Progress lines go to stdout; warnings and errors go to stderr, so that
    # --json output stays parseable.
    progress = _ProgressHandler(sys.stdout)
    progress.addFilter(lambda record: record.levelno < logging.WARNING)
    problems = logging.StreamHandler(sys.stderr)
    problems.setLevel(logging.WARNING)
    for handler in (progress, problems):
        handler.setFormatter(_ProgressFormatter())
    logger = logging.getLogger("runner")
    logger.handlers[:] = [progress, problems]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


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


class _ProgressHandler(logging.StreamHandler):
    """Stream handler that keeps training going when its reader closes the pipe."""

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
    verbose: bool = Verbose,
):
    """Create a run of JOB and train it; an existing run is rejected."""
    _configure_logging(verbose)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    with _reported_errors():
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import start_run

        summary = start_run(
            state_dir=state_dir, job_spec=job, run=run, data_dir=data_dir, overrides=overrides, stop=stop
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
    verbose: bool = Verbose,
):
    """Continue RUN from its last commit; a finished run prints its summary and exits 0.

    --max-steps and --patience may be raised to train further, even a
    finished run; any other setting must keep its saved value.
    """
    _configure_logging(verbose)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    with _reported_errors():
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import resume_run

        summary = resume_run(state_dir=state_dir, run=run, data_dir=data_dir, overrides=overrides, stop=stop)
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
    verbose: bool = Verbose,
):
    """Start the run if missing, resume it if stopped; for cron and requeue scripts.

    Prints nothing and exits 0 when the run is finished, and exits 69 without
    a message when another process has the run's lock (unless -v).
    """
    _configure_logging(verbose)
    overrides = _overrides(max_steps, chunk_steps, patience, batch_size, learning_rate, seed)
    try:
        stop = _install_stop_request(stop_after, stop_signals)
        from runner.runs import ensure_run

        summary = ensure_run(
            state_dir=state_dir, job_spec=job, run=run, data_dir=data_dir, overrides=overrides, stop=stop
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
    if summary.step is None:
        _echo(f"stopped by {stop.describe()} before run {summary.run!r} was created; nothing was written")
    else:
        state_option = "" if Path(state_dir) == Path("state") else f" --state-dir {state_dir}"
        _echo(
            f"stopped by {stop.describe()} at step {summary.step}; "
            f"resume with: runner resume {summary.run}{state_option}"
        )
    raise typer.Exit(int(ExitCode.STOPPED))


@app.command()
def status(
    run: Optional[str] = typer.Argument(None, metavar="[RUN]", help="Run to show; all runs when omitted."),
    state_dir: Path = StateDir,
    as_json: bool = AsJson,
):
    """Show the state, step and best accuracy of runs, from their files only."""
    from runner.run_folder import RunFolder, list_runs
    from runner.status import read_status

    with _reported_errors():
        names = [run] if run is not None else list_runs(state_dir)
        statuses = [read_status(RunFolder(state_dir, name)) for name in names]

    if as_json:
        _echo(json.dumps(statuses[0] if run is not None else statuses, indent=2))
        return
    if not statuses:
        _echo(f"no runs in {state_dir}")
    for entry in statuses:
        _echo(report.describe_status(entry))
    if run is not None:
        from runner.segments import effective_outcome, read_segments

        holder_pid = (statuses[0]["lock_holder"] or {}).get("pid")
        for record in read_segments(RunFolder(state_dir, run)):
            _echo(
                f"  segment pid {record['pid']} on {record['host']}: steps {record['start_step']:,} to "
                f"{record['end_step']:,}, {record['began']} to {record['ended']}, "
                f"{effective_outcome(record, running_pid=holder_pid)}"
            )


@app.command()
def evaluate(
    run: str = typer.Argument(..., metavar="RUN", help="Name of the run whose best weights to test."),
    state_dir: Path = StateDir,
    data_dir: Optional[Path] = DataDir,
    as_json: bool = AsJson,
):
    """Print the test accuracy and confusion matrix of RUN's best weights."""
    _configure_logging()
    with _reported_errors():
        evaluation = _evaluate(state_dir, run, data_dir)

    if as_json:
        _echo(json.dumps(report.report_as_dict(evaluation), indent=2))
        return
    _echo(f"Best weights: step {evaluation.step:,} (validation accuracy {100 * evaluation.val_accuracy:.1f}%)")
    _echo(f"Test accuracy: {100 * evaluation.accuracy:.1f}% ({evaluation.correct:,} / {evaluation.total:,})")
    _echo()
    _echo(report.format_confusion(evaluation))


@app.command(name="list")
def list_command(state_dir: Path = StateDir):
    """List the available jobs and the runs in the state directory."""
    from runner.job import builtin_job_names, describe_builtin_job
    from runner.run_folder import RunFolder, list_runs
    from runner.status import read_status

    with _reported_errors():
        names = list_runs(state_dir)
        statuses = [read_status(RunFolder(state_dir, name)) for name in names]

    _echo("jobs:")
    for name in builtin_job_names():
        _echo(f"  {name:<16} {describe_builtin_job(name)}")
    _echo(f"runs in {state_dir}:")
    if not statuses:
        _echo("  none")
    for entry in statuses:
        _echo("  " + report.describe_status(entry))


def _evaluate(state_dir, run, data_dir):
    from runner.evaluate import evaluate_best
    from runner.job import load_job
    from runner.run_folder import RunFolder
    from runner.runs import load_run_splits

    folder = RunFolder(state_dir, run)
    config = folder.load_config()
    job = load_job(config.job)
    splits = load_run_splits(job, config, data_dir)
    return evaluate_best(job=job, folder=folder, splits=splits)


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
