"""The placement of a run: its tf.distribute strategy and this process's place among the workers.

Read from the command line and the environment (`TF_CONFIG`, or Slurm's
variables under `srun`) without loading TensorFlow, so that a worker determines
whether it is the chief before it touches the run folder.
"""

import dataclasses
import json
import os

from runner.errors import UsageError

DEFAULT = "default"
MIRRORED = "mirrored"
MULTI_WORKER = "multi-worker"
STRATEGIES = (DEFAULT, MIRRORED, MULTI_WORKER)

# The cluster comes from TF_CONFIG, else from Slurm when the process runs as a task of `srun`.
TF_CONFIG = "TF_CONFIG"
SLURM = "slurm"


@dataclasses.dataclass(frozen=True)
class Placement:
    """The strategy of a process and its rank among the run's worker processes.

    Attributes:
        strategy: One of STRATEGIES.
        devices: Local devices to mirror over with `mirrored`; None for all
            GPUs, or the CPU when there is none.
        worker: This process's index among the workers; 0 is the chief.
        workers: Number of worker processes.
        cluster: Where the cluster is described, TF_CONFIG or SLURM, or None for one process.
    """

    strategy: str = DEFAULT
    devices: int = None
    worker: int = 0
    workers: int = 1
    cluster: str = None

    @property
    def is_chief(self):
        """Whether this process writes the run folder: the only process, or worker 0."""
        return self.worker == 0


def resolve_placement(strategy, devices=None, environ=None):
    """Return the Placement of this process for `--strategy` and `--devices`.

    Raises:
        UsageError: an unknown strategy, --devices without `mirrored`, or
            `multi-worker` without a cluster description.
    """
    environ = os.environ if environ is None else environ
    if strategy not in STRATEGIES:
        raise UsageError(f"Invalid value for --strategy: {strategy!r}. Pass one of {', '.join(STRATEGIES)}.")
    if devices is not None and strategy != MIRRORED:
        raise UsageError(
            f"--devices {devices} applies to --strategy mirrored only, not {strategy}. Drop --devices, "
            "or pass --strategy mirrored."
        )
    if strategy != MULTI_WORKER:
        return Placement(strategy=strategy, devices=devices)
    if environ.get("TF_CONFIG"):
        worker, workers = _rank_from_tf_config(environ["TF_CONFIG"])
        return Placement(strategy=strategy, worker=worker, workers=workers, cluster=TF_CONFIG)
    if "SLURM_STEP_ID" in environ and "SLURM_PROCID" in environ:
        workers = int(environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or 1)
        return Placement(strategy=strategy, worker=int(environ["SLURM_PROCID"]), workers=workers, cluster=SLURM)
    raise UsageError(
        "--strategy multi-worker needs a cluster, and neither TF_CONFIG nor a Slurm job step was found. "
        "Set TF_CONFIG in each worker's environment, or launch the workers with `srun`."
    )


def _rank_from_tf_config(text):
    """Return (this worker's index, number of workers) from a TF_CONFIG document.

    The chief, when the cluster names one, is index 0 and the workers follow
    it; otherwise worker 0 is the chief, as in TensorFlow.
    """
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        task_type = config["task"]["type"]
        index = int(config["task"]["index"])
        chiefs = list(cluster.get("chief", []))
        workers = list(cluster.get("worker", []))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(
            f"Invalid TF_CONFIG: {error}. Set it to JSON such as "
            '{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, "task": {"type": "worker", "index": 0}}.'
        ) from None
    others = sorted(set(cluster) - {"chief", "worker"})
    if others or task_type not in ("chief", "worker"):
        raise UsageError(
            f"Invalid TF_CONFIG: the runner trains with chief and worker tasks only, found task type {task_type!r} "
            f"and jobs {sorted(cluster)}. Describe the cluster with `worker` (and at most one `chief`) only."
        )
    rank = index if task_type == "chief" else len(chiefs) + index
    size = len(chiefs) + len(workers)
    if len(chiefs) > 1 or not 0 <= rank < size:
        raise UsageError(
            f"Invalid TF_CONFIG: task {task_type} {index} is not in a cluster of {len(chiefs)} chief "
            f"and {len(workers)} workers."
        )
    return rank, size
