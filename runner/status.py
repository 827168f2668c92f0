"""A run's status read from its files alone, without TensorFlow."""

from runner.errors import InvalidInputError
from runner.lock import find_lock_holder
from runner.segments import effective_outcome, read_segments, summarize_segments
from runner.stopping import finished_reason

RUNNING = "running"
STOPPED = "stopped"
FINISHED = "finished"


def read_status(folder, *, config=None):
    """Return the status of the run in `folder` as a JSON-ready dict.

    Fields: run, job, state (running, stopped or finished), finished_reason
    (early_stop, max_steps or null), step, max_steps, chunk_steps,
    best_accuracy, best_step, steps_since_improvement, patience,
    last_val_accuracy, lock_holder, segments, resumes, training_seconds.
    Accuracies are fractions in [0, 1]. `segments` lists the processes that
    trained the run (see `runner.segments`), with `killed` for a process that
    died without closing its record. Training time is summed over the
    segments, each from the start of its training to its last commit or its
    end.

    Args:
        config: The run's configuration when the caller has already loaded
            or changed it; read from the folder otherwise.

    Raises:
        RunNotFoundError: the run does not exist.
    """
    config = config if config is not None else folder.load_config()
    try:
        step = folder.committed_step() or 0
        records = folder.read_metrics(up_to_step=step)
    except InvalidInputError:
        # The state file is unreadable, so the metrics log gives the last
        # committed chunk. `resume` falls back to the newest readable commit.
        records = folder.read_metrics()
        step = records[-1]["step"] if records else 0
    last = records[-1] if records else None
    best_step = last["best_step"] if last else 0
    reason = finished_reason(
        step=step,
        best_step=best_step,
        max_steps=config.max_steps,
        patience=config.patience,
        chunk_steps=config.chunk_steps,
    )
    holder = find_lock_holder(folder)

    if holder is not None:
        state = RUNNING
    elif reason is not None:
        state = FINISHED
    else:
        state = STOPPED

    segments = read_segments(folder)
    running_pid = (holder or {}).get("pid")
    for record in segments:
        record["outcome"] = effective_outcome(record, running_pid=running_pid)
    return {
        "run": config.run,
        "job": config.job,
        "state": state,
        "finished_reason": reason,
        "step": step,
        "max_steps": config.max_steps,
        "chunk_steps": config.chunk_steps,
        "best_accuracy": last["best_accuracy"] if last else None,
        "best_step": best_step if last else None,
        "steps_since_improvement": step - best_step,
        "patience": config.patience,
        "strategy": config.strategy,
        "replicas": config.replicas,
        "last_val_accuracy": last["val_accuracy"] if last else None,
        "lock_holder": holder,
        "segments": segments,
        **summarize_segments(segments),
    }
