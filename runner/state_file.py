"""Reading a slot's `checkpoint` state file, without TensorFlow.

The file has the text format of TensorFlow's CheckpointState: the newest
checkpoint on a `model_checkpoint_path` line, every kept checkpoint on an
`all_model_checkpoint_paths` line, plus timestamps. Checkpoints are named
`ckpt-STEP`.
"""

import os
import re

from runner.errors import InvalidInputError

CHECKPOINT_PREFIX = "ckpt"
STATE_FILE = "checkpoint"
_LISTED_PATH = re.compile(r'^(model_checkpoint_path|all_model_checkpoint_paths):\s*"(.*)"\s*$')


class UnreadableStateFile(InvalidInputError):
    """A slot's `checkpoint` state file cannot be parsed."""


def step_of(name):
    """Return the step of a checkpoint name such as `ckpt-1200`, or None for any other name."""
    match = re.fullmatch(rf"{CHECKPOINT_PREFIX}-(\d+)", name)
    return int(match.group(1)) if match else None


def read_state_file(directory):
    """Return the newest step and all listed steps (oldest first) of a slot; (None, []) without a state file.

    Raises:
        UnreadableStateFile: the state file exists but is not a state file of this runner.
    """
    path = os.path.join(directory, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        return None, []
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableStateFile(f"{path}: {error}") from None

    newest = None
    steps = []
    for line in text.splitlines():
        match = _LISTED_PATH.match(line)
        if match is None:
            if line.strip() and not line.startswith(("all_model_checkpoint_timestamps:", "last_preserved")):
                raise UnreadableStateFile(f"{path}: unexpected line {line[:60]!r}")
            continue
        step = step_of(os.path.basename(match.group(2)))
        if step is None:
            raise UnreadableStateFile(f"{path}: {match.group(2)!r} is not a checkpoint of this runner")
        if match.group(1) == "model_checkpoint_path":
            newest = step
        else:
            steps.append(step)
    if newest is None or newest not in steps:
        raise UnreadableStateFile(f"{path} names no newest checkpoint among its checkpoints")
    return newest, sorted(steps)
