"""The outcome of a start or resume, as the command line reports it."""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The state of a run when training returns.

    Attributes:
        resumed_from: Step of the commit this process continued from, or None
            for a process that started from scratch.
        steps_trained: Steps this process trained.
        elapsed_seconds: Wall time of this process's training, restore included.
        stopped_by: What stopped an unfinished run: a signal name such as
            `SIGTERM`, `time_limit` for --stop-after, or `peer_stop` for a
            stop request of another worker.
        workers: The number of worker processes that trained the run together.
    """

    run: Optional[str]
    step: Optional[int]
    finished_reason: Optional[str]
    best_accuracy: Optional[float] = None
    best_step: Optional[int] = None
    resumed_from: Optional[int] = None
    steps_trained: int = 0
    elapsed_seconds: float = 0.0
    stopped_by: Optional[str] = None
    workers: int = 1
