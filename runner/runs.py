"""Starting and resuming runs: the steps around the trainer.

Everything that can be rejected (an existing run, a bad setting, a missing
data set, a busy lock) is checked before the first file is written.
"""

import dataclasses
import hashlib
import logging
import shutil
from pathlib import Path

from runner.config import RunConfig, validate_run_name
from runner.data import Splits
from runner.errors import InvalidInputError, RunExistsError, RunnerError
from runner.job import is_job_path, load_job
from runner.lock import RunLock
from runner.run_folder import RunFolder
from runner.status import read_status
from runner.summary import RunSummary

logger = logging.getLogger(__name__)


def start_run(*, state_dir, job_spec, run=None, data_dir=None, overrides=None):
    """Create a run of `job_spec` and train it to the end; return its RunSummary.

    Args:
        overrides: Hyperparameter values that replace the job's defaults;
            None values are ignored.

    Raises:
        RunExistsError: a run of that name exists; nothing is changed.
    """
    if run is not None:
        validate_run_name(run)
    job = load_job(job_spec)
    folder = RunFolder(state_dir, run if run is not None else job.name)
    if folder.path.exists():
        raise RunExistsError(
            f"Run {folder.run!r} already exists in {folder.path.parent}. "
            f"Continue it with `runner resume {folder.run}`, or pass --run NEW_NAME to start another."
        )

    chosen = {name: value for name, value in (overrides or {}).items() if value is not None}
    hyperparameters = dataclasses.replace(job.hyperparameters, **chosen)
    config = RunConfig(
        run=folder.run,
        job=str(Path(job_spec).resolve()) if is_job_path(job_spec) else job_spec,
        data_dir=str(Path(data_dir).resolve()) if data_dir is not None else None,
        **dataclasses.asdict(hyperparameters),
    )
    splits = load_splits(job, data_dir)
    config = dataclasses.replace(config, data_fingerprint=fingerprint(splits))

    Path(state_dir).mkdir(parents=True, exist_ok=True)
    try:
        folder.path.mkdir()
    except FileExistsError:
        raise RunExistsError(f"Run {folder.run!r} was created by another process just now.") from None
    with RunLock(folder):
        config.save(folder.config)
        logger.debug("Created run %s in %s", folder.run, folder.path)
        try:
            trainer = _build_trainer(job, config, folder, splits)
        except RunnerError:
            # The run has no commit yet, and a run that cannot train would
            # only block `start` after the job is fixed.
            shutil.rmtree(folder.path)
            logger.debug("Removed run folder %s of a job that cannot train", folder.path)
            raise
        return trainer.run()


def resume_run(*, state_dir, run, data_dir=None):
    """Continue a run from its last commit; return its RunSummary.

    A finished run is not trained: the summary comes from its files.

    Raises:
        RunNotFoundError: no such run.
        RunBusyError: another process has the run's lock.
        InvalidInputError: the data set differs from the one the run started on.
    """
    folder = RunFolder(state_dir, run)
    config = folder.load_config()
    with RunLock(folder):
        status = read_status(folder)
        if status["finished_reason"] is not None:
            return summary_from_status(status)

        job = load_job(config.job)
        splits = load_run_splits(job, config, data_dir)
        found = fingerprint(splits)
        if found != config.data_fingerprint:
            raise InvalidInputError(
                f"The data set differs from the one run {run!r} started on (fingerprint {found[:12]}, "
                f"saved {config.data_fingerprint[:12]}). Pass --data-dir with the original files."
            )
        return _build_trainer(job, config, folder, splits).run()


def _build_trainer(job, config, folder, splits):
    # TensorFlow loads here, after every check that can reject the request.
    from runner.trainer import Trainer

    return Trainer(job=job, config=config, folder=folder, splits=splits)


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
