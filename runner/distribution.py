"""The tf.distribute strategy of a Placement, and the decisions its workers take together."""

import logging
import os
import socket
import time

import tensorflow as tf

from runner.errors import PeerLostError, UsageError
from runner.placement import DEFAULT, MIRRORED, MULTI_WORKER, SLURM

logger = logging.getLogger(__name__)

# Seconds a collective operation waits for the other workers before it fails.
# Validation and commits run between collectives, so this bounds how far a
# worker may lag, not a step's time. RUNNER_PEER_TIMEOUT overrides it.
PEER_TIMEOUT_SECONDS = 120.0
# First port of the workers that Slurm places on one node; each next task takes the next port.
SLURM_PORT_BASE = 8888


def create_strategy(placement):
    """Create the tf.distribute strategy of `placement`; call it before any other TensorFlow operation.

    Raises:
        UsageError: more devices are requested than the machine has.
    """
    if placement.strategy == DEFAULT:
        return tf.distribute.get_strategy()
    if placement.strategy == MIRRORED:
        return tf.distribute.MirroredStrategy(devices=_local_devices(placement.devices))
    if placement.strategy == MULTI_WORKER:
        return _multi_worker_strategy(placement)
    raise UsageError(f"Invalid strategy {placement.strategy!r}.")


def _multi_worker_strategy(placement):
    """Create the MultiWorkerMirroredStrategy, or raise PeerLostError when the other workers do not join in time.

    TensorFlow waits for every worker of the cluster before it returns, for
    an hour by default, and it ignores SIGTERM meanwhile (seen with
    TensorFlow 2.21). The runner configures TensorFlow's coordination
    service itself, as the strategy would, with a shorter wait.
    """
    timeout = peer_timeout()
    if placement.cluster == SLURM:
        resolver = _slurm_resolver()
    else:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster_spec = resolver.cluster_spec()
    _configure_coordination(cluster_spec, timeout)
    if placement.is_chief:
        # The chief's TensorFlow waits for the others without a time limit,
        # so it starts only once every other worker listens on its port.
        own = cluster_spec.task_address(resolver.task_type, resolver.task_id)
        others = [address for address in _addresses(cluster_spec) if address != own]
        if not _wait_for_listeners(others, timeout):
            raise _gave_up(placement, timeout, "nothing listens on " + ", ".join(others))
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver, communication_options=options)
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as error:
        raise _gave_up(placement, timeout, type(error).__name__) from None


def _gave_up(placement, timeout, reason):
    return PeerLostError(
        f"Worker {placement.worker} of {placement.workers} gave up waiting for the other workers after "
        f"{timeout:g} s ({reason}); nothing was trained. Start every worker within RUNNER_PEER_TIMEOUT "
        "seconds of the others, with the same cluster in TF_CONFIG or the same srun."
    )


def _addresses(cluster_spec):
    return [address for job in cluster_spec.jobs for address in cluster_spec.job_tasks(job)]


def _wait_for_listeners(addresses, timeout):
    """Return whether every `host:port` in `addresses` accepts a TCP connection within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    waiting = list(addresses)
    while waiting:
        host, _, port = waiting[0].rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                waiting.pop(0)
                continue
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _configure_coordination(cluster_spec, timeout):
    """Configure TensorFlow's coordination service for the cluster's chief and workers, with `timeout` to join."""
    # NOTE: an internal API of TensorFlow, the one that the strategy itself
    # calls when nothing configured the service before it (TensorFlow 2.21).
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    jobs = [name for name in ("chief", "worker") if name in cluster_spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{jobs[0]}/replica:0/task:0",
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(name=name, num_tasks=cluster_spec.num_tasks(name)) for name in jobs
        ],
        cluster_register_timeout_in_ms=int(timeout * 1000),
    )


def peer_timeout():
    """Return the seconds a collective waits for the other workers: RUNNER_PEER_TIMEOUT, or the default."""
    text = os.environ.get("RUNNER_PEER_TIMEOUT")
    if not text:
        return PEER_TIMEOUT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise UsageError(f"Invalid RUNNER_PEER_TIMEOUT: {text!r}. Set it to a positive number of seconds, such as 120.")
    return seconds


def _local_devices(count):
    """Return the names of the devices to mirror over: `count` GPUs, else `count` logical CPU devices."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = len(gpus) if count is None else count
        if count > len(gpus):
            raise UsageError(f"Invalid value for --devices: {count}. This machine has {len(gpus)} GPUs.")
        return [f"/gpu:{index}" for index in range(count)]

    count = 1 if count is None else count
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            # TensorFlow is already initialized in this process, with the devices it has.
            pass
        found = len(tf.config.list_logical_devices("CPU"))
        if found != count:
            raise UsageError(
                f"Cannot split the CPU into {count} devices: TensorFlow already runs with {found}. "
                "Pass --devices in a new process."
            )
    return [f"/cpu:{index}" for index in range(count)]


def _slurm_resolver():
    """Return a SlurmClusterResolver for this job step, on GPU and CPU-only nodes alike."""
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    if tf.config.list_physical_devices("GPU"):
        return resolver(port_base=SLURM_PORT_BASE)
    # The resolver deals out GPUs to the tasks of a node and finds none on a
    # CPU-only node. One notional GPU per task, never made visible, lets it
    # place every task.
    tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)
    return resolver(port_base=SLURM_PORT_BASE, gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False)


class Agreement:
    """Values that every worker of a multi-worker run learns together, through all-reduces.

    Every worker must call the same methods in the same order: each call is a
    collective operation that waits for all of them.
    """

    def __init__(self, strategy):
        self._strategy = strategy
        self._replicas = strategy.num_replicas_in_sync
        self._all_reduce = tf.function(self._all_reduce_eager)

    def any(self, flag):
        """Return whether `flag` is true on at least one worker."""
        return bool(self._sum([1.0 if flag else 0.0], chief_only=False)[0] > 0)

    def from_chief(self, values):
        """Return the chief's `values`, a list of numbers, on every worker."""
        return [float(value) for value in self._sum(values, chief_only=True)]

    def _sum(self, values, *, chief_only):
        result = self._all_reduce(tf.constant(values, tf.float64), tf.constant(chief_only))
        return result.numpy().tolist()

    def _all_reduce_eager(self, values, chief_only):
        def replica_sum(values):
            context = tf.distribute.get_replica_context()
            # Replica 0 runs on the chief.
            is_first = tf.equal(context.replica_id_in_sync_group, 0)
            keep = tf.logical_or(tf.logical_not(chief_only), is_first)
            mine = tf.where(keep, values, tf.zeros_like(values))
            return context.all_reduce(tf.distribute.ReduceOp.SUM, mine)

        per_replica = self._strategy.run(replica_sum, args=(values,))
        return self._strategy.experimental_local_results(per_replica)[0]
