"""Checks that a resumed run keeps every setting that determines its result."""

import dataclasses
import datetime
import hashlib
import json
import logging

from runner.errors import InvalidInputError

logger = logging.getLogger(__name__)

# Settings whose change would make the result differ from the run so far.
FIXED_SETTINGS = ("seed", "batch_size", "learning_rate", "chunk_steps")
# Settings that may be raised to train a run further, even a finished one.
RAISABLE_SETTINGS = ("max_steps", "patience")


def apply_overrides(config, overrides, *, step):
    """Return `config` with the allowed changes of `overrides` applied and recorded.

    Args:
        overrides: Setting values given on the command line; None values are ignored.
        step: The run's committed step, recorded with each change.

    Raises:
        InvalidInputError: a fixed setting differs from the saved value, or a
            raisable one is lowered. The message names the setting and both values.
    """
    changes = []
    for name, value in (overrides or {}).items():
        saved = getattr(config, name)
        if value is None or value == saved:
            continue
        flag = "--" + name.replace("_", "-")
        if name in FIXED_SETTINGS:
            raise InvalidInputError(
                f"Run {config.run!r} was started with {flag} {saved}, not {value}: changing it would make the "
                f"result differ from the run so far. Drop {flag}, or start a new run with --run NAME."
            )
        if name in RAISABLE_SETTINGS and value < saved:
            raise InvalidInputError(
                f"Run {config.run!r} has {flag} {saved}; it can be raised but not lowered to {value}."
            )
        changes.append({"setting": name, "old": saved, "new": value, "step": step, "time": _now()})

    if not changes:
        return config
    updated = {change["setting"]: change["new"] for change in changes}
    return dataclasses.replace(config, **updated, changes=[*config.changes, *changes])


def apply_placement(config, *, strategy, devices, replicas, step):
    """Return `config` with the strategy and replica count of this process, recording a change of shape.

    Resuming on another number of replicas is allowed, but the gradients are
    then summed in another order, so the result differs from an
    uninterrupted run's. A WARNING reports it.
    """
    changes = [
        {"setting": name, "old": getattr(config, name), "new": value, "step": step, "time": _now()}
        for name, value in (("strategy", strategy), ("devices", devices), ("replicas", replicas))
        if getattr(config, name) != value
    ]
    if any(change["setting"] != "devices" for change in changes):
        logger.warning(
            "Run %r trained on %d replicas (%s) and resumes on %d (%s) at step %d. From here on, its results "
            "differ from those of an uninterrupted run.",
            config.run,
            config.replicas,
            config.strategy,
            replicas,
            strategy,
            step,
        )
    if not changes:
        return config
    return dataclasses.replace(
        config, strategy=strategy, devices=devices, replicas=replicas, changes=[*config.changes, *changes]
    )


def check_same_data(config, found_fingerprint):
    """Raise InvalidInputError unless the data set matches the one the run started on."""
    if found_fingerprint != config.data_fingerprint:
        raise InvalidInputError(
            f"Run {config.run!r} was started on another data set: saved fingerprint "
            f"{config.data_fingerprint[:12]}, now {found_fingerprint[:12]}. Pass --data-dir with the original files."
        )


def model_signature(model):
    """Return a description of the network's weights: tensor count, parameter count and a hash of the shapes."""
    shapes = [(list(weight.shape), str(weight.dtype)) for weight in model.weights]
    parameters = sum(int(_product(shape)) for shape, _ in shapes)
    digest = hashlib.sha256(json.dumps(shapes).encode()).hexdigest()[:12]
    return f"{parameters:,} parameters in {len(shapes)} tensors ({digest})"


def check_same_model(config, signature):
    """Raise InvalidInputError unless the job builds the network the run started with."""
    if config.model_signature and signature != config.model_signature:
        raise InvalidInputError(
            f"Run {config.run!r} was started with another network: saved {config.model_signature}, "
            f"now {signature}. Restore the job's model, or start a new run with --run NAME."
        )


def _product(values):
    result = 1
    for value in values:
        result *= value
    return result


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
