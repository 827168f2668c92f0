"""A process's strategy and rank, read from the command line, TF_CONFIG and Slurm's variables."""

import json

import pytest

from runner.errors import UsageError
from runner.placement import SLURM, TF_CONFIG, resolve_placement


def _tf_config(task_type, index, *, chief=0, workers=2):
    cluster = {"worker": [f"127.0.0.1:{20000 + number}" for number in range(workers)]}
    if chief:
        cluster["chief"] = ["127.0.0.1:19999"]
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_default_is_one_chief():
    placement = resolve_placement("default", environ={})

    assert placement.is_chief
    assert placement.workers == 1
    assert placement.devices is None


def test_mirrored_keeps_devices():
    placement = resolve_placement("mirrored", 2, environ={})

    assert placement.devices == 2
    assert placement.is_chief


@pytest.mark.parametrize(
    ("task_type", "index", "chief", "rank"),
    [("worker", 0, 0, 0), ("worker", 1, 0, 1), ("chief", 0, 1, 0), ("worker", 0, 1, 1), ("worker", 1, 1, 2)],
)
def test_tf_config_ranks(task_type, index, chief, rank):
    placement = resolve_placement("multi-worker", environ=_tf_config(task_type, index, chief=chief))

    assert placement.worker == rank
    assert placement.workers == 2 + chief
    assert placement.is_chief == (rank == 0)
    assert placement.cluster == TF_CONFIG


def test_slurm_step_ranks():
    environ = {"SLURM_STEP_ID": "0", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2"}

    placement = resolve_placement("multi-worker", environ=environ)

    assert placement.worker == 1
    assert placement.workers == 2
    assert not placement.is_chief
    assert placement.cluster == SLURM


def test_tf_config_wins_over_slurm():
    environ = {**_tf_config("worker", 1), "SLURM_STEP_ID": "0", "SLURM_PROCID": "0"}

    assert resolve_placement("multi-worker", environ=environ).worker == 1


@pytest.mark.parametrize(
    ("strategy", "devices", "environ", "expected"),
    [
        ("parameter-server", None, {}, "Invalid value for --strategy: 'parameter-server'"),
        ("default", 2, {}, "--devices 2 applies to --strategy mirrored only"),
        ("multi-worker", None, {}, "neither TF_CONFIG nor a Slurm job step"),
        ("multi-worker", None, {"TF_CONFIG": "{not json"}, "Invalid TF_CONFIG"),
        ("multi-worker", None, _tf_config("worker", 2), "task worker 2 is not in a cluster"),
        ("multi-worker", None, _tf_config("evaluator", 0), "task type 'evaluator'"),
    ],
)
def test_invalid_placement_rejected(strategy, devices, environ, expected):
    with pytest.raises(UsageError) as raised:
        resolve_placement(strategy, devices, environ=environ)

    assert expected in str(raised.value)
