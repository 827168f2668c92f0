"""Starting and resuming runs: the steps around the trainer.

Everything that can be rejected (an existing run, a bad setting, a missing
data set, a busy lock) is checked before the first file is written.
"""

import dataclasses
import hashlib
import logging
import os
import shutil
import socket
from pathlib import Path

from runner.config import RunConfig
from runner.data import Splits
from runner.drift import apply_overrides, apply_placement, check_same_data, check_same_model, model_signature
from runner.errors import InvalidInputError, RunBusyError, RunExistsError, RunnerError, StateNotWritableError
from runner.files import check_writable
from runner.job import is_job_path, load_job
from runner.lock import RunLock, describe_holder
from runner.placement import DEFAULT, resolve_placement
from runner.run_folder import RunFolder
from runner.segments import Segment
from runner.signals import StopRequest
from runner.status import read_status
from runner.summary import RunSummary

logger = logging.getLogger(__name__)


def default_run_name(job_spec):
    """Return the run name for a job: its module name in `jobs`, or its file name without `.py`."""
    return Path(job_spec).stem if is_job_path(job_spec) else job_spec


def start_run(
    *,
    state_dir,
    job_spec,
    run=None,
    data_dir=None,
    overrides=None,
    stop=None,
    progress=None,
    strategy=None,
    devices=None,
):
    """Create a run of `job_spec` and train it until it finishes or a stop is requested.

    Args:
        overrides: Hyperparameter values that replace the job's defaults;
            None values are ignored.
        stop: A `runner.signals.StopRequest`, or None.
        progress: A `runner.progress.LiveProgress` to redraw during chunks,
            or None for progress lines only.
        strategy: The tf.distribute strategy, one of
            `runner.placement.STRATEGIES`; `default` when None.
        devices: The number of devices of a `mirrored` strategy, or None for all.

    Returns:
        The RunSummary. Its `step` is None when a stop request came before
        the run folder was created.

    Raises:
        RunExistsError: a run of that name exists; nothing is changed.
    """
    stop = stop if stop is not None else StopRequest()
    placement = resolve_placement(strategy or DEFAULT, devices)
    folder = RunFolder(state_dir, run if run is not None else default_run_name(job_spec))
    if not placement.is_chief:
        job = load_job(job_spec)
        config = _new_config(folder, job, job_spec, data_dir, overrides, placement)
        return _train_as_worker(job, config, folder, load_splits(job, data_dir), stop, progress, placement)
    _reject_existing(folder)
    job = load_job(job_spec)

    config = _new_config(folder, job, job_spec, data_dir, overrides, placement)
    splits = load_splits(job, data_dir)
    config = dataclasses.replace(config, data_fingerprint=fingerprint(splits))
    if stop.requested:
        return RunSummary(run=folder.run, step=None, finished_reason=None, stopped_by=stop.reason)

    try:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        check_writable(state_dir)
    except OSError as error:
        raise _not_writable(state_dir, error) from None
    try:
        folder.path.mkdir()
    except FileExistsError:
        raise RunExistsError(f"Run {folder.run!r} was created by another process just now.") from None
    with RunLock(folder):
        try:
            trainer = _build_trainer(job, config, folder, splits, stop, progress, placement)
        except RunnerError:
            # The run has no commit yet, and a run that cannot train would
            # only block `start` after the job is fixed.
            shutil.rmtree(folder.path)
            logger.debug("Removed run folder %s of a job that cannot train", folder.path)
            raise
        config = dataclasses.replace(
            config, model_signature=model_signature(trainer.state.model), replicas=trainer.replicas
        )
        config.save(folder.config)
        logger.debug("Created run %s in %s", folder.run, folder.path)
        return _train(trainer, folder, stop)


def _new_config(folder, job, job_spec, data_dir, overrides, placement):
    """Return the configuration of a new run: the job's hyperparameters with `overrides` applied."""
    chosen = {name: value for name, value in (overrides or {}).items() if value is not None}
    hyperparameters = dataclasses.replace(job.hyperparameters, **chosen)
    return RunConfig(
        run=folder.run,
        job=str(Path(job_spec).resolve()) if is_job_path(job_spec) else job_spec,
        data_dir=str(Path(data_dir).resolve()) if data_dir is not None else None,
        strategy=placement.strategy,
        devices=placement.devices,
        **dataclasses.asdict(hyperparameters),
    )


def resume_run(*, state_dir, run, data_dir=None, overrides=None, stop=None, progress=None, strategy=None, devices=None):
    """Continue a run from its last commit until it finishes or a stop is requested.

    A finished run is not trained, unless `overrides` raises its --max-steps
    or --patience: the summary comes from its files. Without `strategy`,
    the run resumes with its saved strategy and devices. A run resumed on
    another number of replicas trains on with a WARNING, and its
    configuration records the change.

    Raises:
        RunNotFoundError: no such run.
        RunBusyError: another process has the run's lock.
        InvalidInputError: a setting, the data set or the network differs
            from the run's; no file is changed.
    """
    stop = stop if stop is not None else StopRequest()
    folder = RunFolder(state_dir, run)
    saved = folder.load_config()
    placement = _resumed_placement(saved, strategy, devices)
    if placement.is_chief:
        _check_run_writable(folder)
    config = apply_overrides(saved, overrides, step=read_status(folder)["step"])
    if not placement.is_chief:
        status = read_status(folder, config=config)
        if status["finished_reason"] is not None:
            return summary_from_status(status)
        job = load_job(config.job)
        return _train_as_worker(job, config, folder, load_run_splits(job, config, data_dir), stop, progress, placement)

    with RunLock(folder):
        status = read_status(folder, config=config)
        if status["finished_reason"] is not None:
            _record_changes(folder, saved, config)
            return summary_from_status(status)

        job = load_job(config.job)
        splits = load_run_splits(job, config, data_dir)
        check_same_data(config, fingerprint(splits))
        trainer = _build_trainer(job, config, folder, splits, stop, progress, placement)
        check_same_model(config, model_signature(trainer.state.model))
        step = trainer.restore()
        config = apply_placement(
            config,
            strategy=placement.strategy,
            devices=placement.devices,
            replicas=trainer.replicas,
            step=step or 0,
        )
        _record_changes(folder, saved, config)
        return _train(trainer, folder, stop)


def _resumed_placement(saved, strategy, devices):
    """Return the Placement of a resume: the given strategy and devices, else the run's saved ones."""
    chosen = strategy or saved.strategy
    if devices is None and chosen == saved.strategy:
        devices = saved.devices
    return resolve_placement(chosen, devices)


def _train_as_worker(job, config, folder, splits, stop, progress, placement):
    """Train as a worker other than the chief: restore the chief's commit, train, and write nothing."""
    trainer = _build_trainer(job, config, folder, splits, stop, progress, placement)
    # A stop requested during start-up reaches every worker at their first agreement.
    trainer.restore()
    summary = trainer.run()
    return dataclasses.replace(summary, run=folder.run)


def _record_changes(folder, saved, config):
    """Save a configuration that resume changed, and log each change."""
    if config is saved:
        return
    config.save(folder.config)
    for change in config.changes[len(saved.changes) :]:
        if change["setting"] in ("strategy", "devices", "replicas"):
            continue
        logger.info("--%s raised from %s to %s", change["setting"].replace("_", "-"), change["old"], change["new"])


def ensure_run(*, state_dir, job_spec, run=None, **options):
    """Start the run if it is missing, resume it if it is stopped, leave it if it is finished.

    Safe to call again and again, from cron or a requeue script. When another
    process has the run's lock, it raises RunBusyError at once.

    Args:
        options: The other keyword arguments of `start_run` and
            `resume_run`: data_dir, overrides, stop, progress, strategy and devices.

    Raises:
        InvalidInputError: the run exists but was started with another job
            or with other values of the given settings.
    """
    folder = RunFolder(state_dir, run if run is not None else default_run_name(job_spec))
    saved = folder.load_config() if folder.config.exists() else None
    # Only the chief creates the run: another worker starts a new run until
    # the chief's configuration exists, and learns the chief's step once
    # training begins.
    strategy = options.get("strategy") or (saved.strategy if saved is not None else DEFAULT)
    is_chief = resolve_placement(strategy, options.get("devices")).is_chief
    is_new = not folder.exists() if is_chief else saved is None
    if is_new:
        try:
            return start_run(state_dir=state_dir, job_spec=job_spec, run=folder.run, **options)
        except RunExistsError:
            # Another process created the run between the check and the start.
            raise RunBusyError(describe_holder(folder)) from None

    config = saved if saved is not None else folder.load_config()
    expected_job = str(Path(job_spec).resolve()) if is_job_path(job_spec) else job_spec
    if config.job != expected_job:
        raise InvalidInputError(
            f"Run {folder.run!r} was started with job {config.job}, not {expected_job}. "
            "Pass the same job, or --run NAME for a new run."
        )
    return resume_run(state_dir=state_dir, run=folder.run, **options)


def _check_run_writable(folder):
    """Raise StateNotWritableError unless the run folder and its slots accept new files."""
    for path in (folder.path, folder.latest, folder.best):
        if not path.is_dir():
            continue
        try:
            check_writable(path)
        except OSError as error:
            raise _not_writable(path, error) from None


def _not_writable(path, error):
    return StateNotWritableError(
        f"Cannot write to {path}: {error.strerror or error}. Nothing was trained. "
        "Fix the permissions or the mount, or move the state directory to a writable disk."
    )


def _reject_existing(folder):
    if folder.path.exists():
        raise RunExistsError(
            f"Run {folder.run!r} already exists in {folder.path.parent}. "
            f"Continue it with `runner resume {folder.run}`, or pass --run NEW_NAME to start another."
        )


def _build_trainer(job, config, folder, splits, stop, progress, placement):
    # TensorFlow loads here, after every check that can reject the request.
    # The strategy comes first: a multi-worker one must exist before any
    # other TensorFlow operation runs.
    from runner.distribution import create_strategy
    from runner.trainer import Trainer

    if config.batch_size % placement.workers:
        # Checked again against every replica once the strategy exists; this
        # rejects the batch before the wait for the other workers.
        raise InvalidInputError(
            f"--batch-size {config.batch_size} does not split evenly over {placement.workers} workers. "
            f"Pass a multiple of {placement.workers}."
        )
    strategy = create_strategy(placement)
    stop.reinstall()
    segment = Segment(folder, pid=os.getpid(), host=socket.gethostname()) if placement.is_chief else None
    return Trainer(
        job=job,
        config=config,
        folder=folder,
        splits=splits,
        stop=stop,
        segment=segment,
        progress=progress,
        strategy=strategy,
        placement=placement,
    )


def _train(trainer, folder, stop):
    """Run the trainer and close its segment with how it ended."""
    if stop.requested and not trainer.is_multi_worker:
        # Stopped during start-up: the last commit, if any, is the run's state.
        # Workers of a multi-worker run stop together in `run` instead.
        step = folder.committed_step()
        return RunSummary(run=folder.run, step=step or 0, finished_reason=None, stopped_by=stop.reason)
    try:
        summary = trainer.run()
    except KeyboardInterrupt:
        trainer.segment.end("SIGINT")
        raise
    except Exception:
        trainer.segment.end("error")
        raise
    trainer.segment.end("finished" if summary.finished_reason else summary.stopped_by)
    return dataclasses.replace(summary, run=folder.run)


def load_run_splits(job, config, data_dir):
    """Load a run's data from `data_dir` when given, else from the folder the run started with."""
    chosen = data_dir if data_dir is not None else config.data_dir
    return load_splits(job, Path(chosen) if chosen is not None else None)


def load_splits(job, data_dir):
    """Call the job's data loader and check that it returns `runner.data.Splits`."""
    splits = job.load_data(data_dir)
    if not isinstance(splits, Splits):
        raise InvalidInputError(
            f"The load_data() of job {job.name!r} returned {type(splits).__name__}, expected runner.data.Splits."
        )
    return splits


def summary_from_status(status):
    """Build the RunSummary of a finished run from its status."""
    return RunSummary(
        run=status["run"],
        step=status["step"],
        finished_reason=status["finished_reason"],
        best_accuracy=status["best_accuracy"],
        best_step=status["best_step"],
        resumed_from=status["step"],
    )


def fingerprint(splits):
    """Return the SHA-256 of all split arrays, in a fixed order."""
    digest = hashlib.sha256()
    for array in (
        splits.train_images,
        splits.train_labels,
        splits.val_images,
        splits.val_labels,
        splits.test_images,
        splits.test_labels,
    ):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
