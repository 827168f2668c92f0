"""The Job interface and loading a job by module name or file path.

A job is a module-level object named `job`, either in a module of the `jobs`
package (`runner start fashion_mnist`) or in a Python file given by path
(`runner start ./my_job.py`).
"""

import ast
import dataclasses
import importlib
import importlib.util
import pkgutil
import re
import sys
from pathlib import Path
from typing import Callable, Optional

from runner.errors import InvalidInputError, JobNotFoundError

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class Hyperparameters:
    """Settings of a run that a job gives defaults for and the command line can override."""

    max_steps: int = 10_000
    chunk_steps: int = 100
    patience: int = 1_000
    batch_size: int = 64
    learning_rate: float = 1e-4
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Job:
    """A training task: a model builder, a data loader and default hyperparameters.

    Attributes:
        name: Default run name, for example `fashion_mnist`.
        build_model: Returns a new Keras model that maps a
            batch of images scaled to [0, 1] to class logits.
        load_data: Takes the `--data-dir` folder (or None) and returns
            `runner.data.Splits`. Raises `runner.errors.DataNotFoundError`
            with the places it searched when the data set is missing.
        hyperparameters: Defaults for the run's settings.
        class_names: Optional label names, in label order, for reports.
        pixel_scale: Divisor that maps stored pixel values to [0, 1].
    """

    name: str
    build_model: Callable
    load_data: Callable
    hyperparameters: Hyperparameters = Hyperparameters()
    class_names: Optional[tuple] = None
    pixel_scale: float = 255.0


def is_job_path(spec):
    """Return whether `spec` names a job file rather than a module in `jobs`."""
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def load_job(spec):
    """Import the job named by `spec` and return its `job` object.

    Raises:
        JobNotFoundError: no such module or file.
        InvalidInputError: the module fails to import or lacks a `Job` named `job`.
    """
    if is_job_path(spec):
        module = _import_file(spec)
    else:
        module = _import_builtin(spec)

    job = getattr(module, "job", None)
    if not isinstance(job, Job):
        raise InvalidInputError(
            f"Job {spec} defines no `job` object of type runner.job.Job (found {type(job).__name__}). "
            "Add `job = Job(name=..., build_model=..., load_data=...)` at module level."
        )
    return job


def _import_builtin(name):
    if not _MODULE_NAME.match(name) or name not in builtin_job_names():
        available = ", ".join(builtin_job_names()) or "none"
        raise JobNotFoundError(f"Unknown job: {name!r}. Available jobs: {available}; or give the path to a job file.")
    try:
        return importlib.import_module(f"jobs.{name}")
    except SyntaxError as error:
        raise InvalidInputError(f"Job {name} has a syntax error: {error}") from None


def _import_file(spec):
    path = Path(spec)
    if not path.is_file():
        raise JobNotFoundError(f"Job file not found: {spec}")
    module_name = f"runner_user_job_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[module_name]
        raise InvalidInputError(f"Job file {spec} has a syntax error at line {error.lineno}: {error.msg}") from None
    except ImportError as error:
        del sys.modules[module_name]
        raise InvalidInputError(f"Job file {spec} failed to import {error.name!r}: {error}") from None
    return module


def builtin_job_names():
    """Return the names of the job modules in the `jobs` package, sorted."""
    import jobs

    return sorted(info.name for info in pkgutil.iter_modules(jobs.__path__) if not info.name.startswith("_"))


def describe_builtin_job(name):
    """Return the first line of a job module's docstring, read without importing it."""
    import jobs

    for folder in jobs.__path__:
        path = Path(folder) / f"{name}.py"
        if path.is_file():
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            return docstring.splitlines()[0] if docstring else ""
    return ""
