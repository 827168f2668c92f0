"""One checkpoint slot: a folder of `ckpt-STEP` checkpoints and its `checkpoint` state file.

The folder keeps the layout of `tf.train.CheckpointManager`, so TensorFlow's
own tools read it, but the runner writes it itself, in an order that makes
each step of a commit safe to interrupt:

1. `Checkpoint.write`, compiled, saves the data and index files under a staging name.
2. Both files are flushed to disk, then renamed to `ckpt-STEP.*`, data first.
3. The state file is replaced atomically; this makes the checkpoint part of
   the slot.
4. Checkpoints that retention drops are deleted.

A crash before step 3 leaves files that no state file names; a crash in step
4 leaves old files that it no longer names. `discard_unlisted` deletes both.
The runner owns the state file and the files named `ckpt-STEP.index`,
`ckpt-STEP.data-*` and `.staging-*` in the folder; it leaves other files
alone.
"""

import logging
import os
import re
import shutil
import time
from pathlib import Path

import tensorflow as tf

from runner.checkpoint_write import write_checkpoint
from runner.faults import fault_point
from runner.files import fsync_path, write_atomically
from runner.state_file import CHECKPOINT_PREFIX, STATE_FILE, read_state_file, step_of

logger = logging.getLogger(__name__)

DATA_SUFFIX = ".data-00000-of-00001"
_OWNED_FILE = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)\.(?:index|data-\d{{5}}-of-\d{{5}})$")


class Slot:
    """A checkpoint folder of one run: `latest` or `best`."""

    def __init__(self, directory, name):
        self.directory = Path(directory)
        self.name = name

    def prefix(self, step):
        """Return the checkpoint prefix of `step`, as TensorFlow's readers take it."""
        return str(self.directory / f"{CHECKPOINT_PREFIX}-{step}")

    def listed_steps(self):
        """Return the steps the state file names, oldest first; [] without a state file.

        Raises:
            UnreadableStateFile: the state file exists but is not a state file of this runner.
        """
        return read_state_file(self.directory)[1]

    def stored_steps(self):
        """Return the steps that have an index file in the folder, whether listed or not."""
        if not self.directory.is_dir():
            return []
        steps = set()
        for path in self.directory.iterdir():
            if path.name.endswith(".index") and not path.name.startswith("."):
                step = step_of(path.name[: -len(".index")])
                if step is not None:
                    steps.add(step)
        return sorted(steps)

    def problem(self, step):
        """Return why the checkpoint of `step` cannot be read, or None when every tensor reads back.

        Reading each tensor checks its CRC32C checksum, so a truncated or
        overwritten data file is caught here rather than during training.
        """
        prefix = self.prefix(step)
        missing = [name for name in (prefix + ".index", prefix + DATA_SUFFIX) if not os.path.exists(name)]
        if missing:
            return f"missing {', '.join(missing)}"
        try:
            reader = tf.train.load_checkpoint(prefix)
            for key in reader.get_variable_to_shape_map():
                reader.get_tensor(key)
        # TensorFlow 2.21 raises IndexError ("Read less bytes than requested")
        # for a truncated data file, and OpError or ValueError for the rest.
        except (tf.errors.OpError, ValueError, RuntimeError, IndexError, OSError) as error:
            return f"unreadable {prefix}.index or {prefix}{DATA_SUFFIX}: {_first_line(error)}"
        return None

    def save(self, checkpoint, step, *, keep):
        """Write `checkpoint` as `ckpt-STEP` and make it part of the slot.

        Args:
            keep: Returns the steps to keep, given the slot's steps after this save.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self.directory / f".staging-{CHECKPOINT_PREFIX}-{step}"
        final = Path(self.prefix(step))

        # Checkpoints are numbered by step and so is the save counter that
        # tf.train.Checkpoint stores in them. Any other value would depend
        # on how many processes trained the run, and change its bytes.
        checkpoint.save_counter.assign(step)
        fault_point(f"{self.name}_data_before", step)
        write_checkpoint(checkpoint, str(staging))
        for suffix in (DATA_SUFFIX, ".index"):
            fsync_path(f"{staging}{suffix}")
        os.replace(f"{staging}{DATA_SUFFIX}", f"{final}{DATA_SUFFIX}")
        fsync_path(self.directory)
        fault_point(f"{self.name}_data_after", step)

        fault_point(f"{self.name}_index_before", step)
        os.replace(f"{staging}.index", f"{final}.index")
        fsync_path(self.directory)
        fault_point(f"{self.name}_index_after", step)

        steps = sorted(set(self.listed_steps()) | {step})
        kept = sorted(keep(steps))
        fault_point(f"{self.name}_state_before", step)
        self.write_state(kept)
        fault_point(f"{self.name}_state_after", step)
        self._delete(sorted(set(steps) - set(kept)))

    def write_state(self, steps):
        """Replace the state file so that it names `steps`, the last being the newest."""
        path = self.directory / STATE_FILE
        if not steps:
            path.unlink(missing_ok=True)
            return
        names = [f"{CHECKPOINT_PREFIX}-{step}" for step in steps]
        now = time.time()
        lines = [f'model_checkpoint_path: "{names[-1]}"']
        lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
        lines += [f"all_model_checkpoint_timestamps: {now}" for _ in names]
        lines.append(f"last_preserved_timestamp: {now}")
        write_atomically(path, "\n".join(lines) + "\n")

    def discard_unlisted(self, listed):
        """Delete the runner's files of checkpoints outside `listed`: leftovers of a crash."""
        listed = set(listed)
        if not self.directory.is_dir():
            return []
        stale = []
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(f".staging-{CHECKPOINT_PREFIX}-"):
                # Staging files, and the temporary folder Checkpoint.write uses.
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                stale.append(path.name)
                continue
            match = _OWNED_FILE.match(path.name)
            if match and int(match.group(1)) not in listed:
                path.unlink()
                stale.append(path.name)
        if stale:
            logger.debug("Deleted leftovers in %s: %s", self.directory, ", ".join(stale))
        return stale

    def _delete(self, steps):
        for step in steps:
            for suffix in (".index", DATA_SUFFIX):
                Path(self.prefix(step) + suffix).unlink(missing_ok=True)


def _first_line(error):
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
