"""Fault injection for tests: the process kills itself at a named point of a commit.

Set RUNNER_FAULT_POINT to `POINT` or `POINT@STEP`, for example
`latest_index_after@300`. When a commit reaches POINT (at STEP or later),
the process sends itself SIGKILL, exactly as a power cut or the OOM killer
would end it. Unset, every call is a dictionary lookup and nothing else.

The points of one commit, in order:

    best_data_before, best_data_after, best_index_before, best_index_after,
    best_state_before, best_state_after   (only when the chunk improved)
    metrics_before, metrics_after         (only at a chunk end)
    latest_data_before, latest_data_after, latest_index_before,
    latest_index_after, latest_state_before, latest_state_after
"""

import os
import signal

POINTS = (
    "best_data_before",
    "best_data_after",
    "best_index_before",
    "best_index_after",
    "best_state_before",
    "best_state_after",
    "metrics_before",
    "metrics_after",
    "latest_data_before",
    "latest_data_after",
    "latest_index_before",
    "latest_index_after",
    "latest_state_before",
    "latest_state_after",
)


def fault_point(name, step):
    """Kill this process with SIGKILL if RUNNER_FAULT_POINT names this point and step."""
    requested = os.environ.get("RUNNER_FAULT_POINT")
    if not requested:
        return
    point, _, at_step = requested.partition("@")
    if point == name and step >= int(at_step or 0):
        os.kill(os.getpid(), signal.SIGKILL)
