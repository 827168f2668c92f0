"""TensorBoard scalars of a run's committed chunks, each step written once.

The scalars go to `RUN/tensorboard/` as TensorBoard event files: TFRecord
files of `Event` protos, one file per process. A process writes a chunk's
scalars only after the chunk is committed, so a killed process leaves no
scalars of a lost chunk. On every restore, `repair` reconciles the files with
the committed metrics log. Scalars of steps after the restored commit are
removed, because a fallback to an older commit leaves some. A committed chunk
whose scalars a kill prevented gets them back from the log, without the timings, which
only the killed process measured.

Writing the protos directly keeps the `tensorboard` package optional; it is
needed only to view the files.
"""

import logging
import os
import socket
import time

import tensorflow as tf

from runner.files import fsync_path

logger = logging.getLogger(__name__)

TRAIN_ACCURACY = "accuracy/train"
VALIDATION_ACCURACY = "accuracy/validation"
TRAIN_LOSS = "loss/train"
STEPS_PER_SECOND = "speed/steps_per_second"
COMMIT_SECONDS = "time/commit_seconds"
VALIDATION_SECONDS = "time/validation_seconds"

# Scalars that the metrics log also holds, keyed by their record field.
LOGGED_FIELDS = {
    TRAIN_ACCURACY: "train_accuracy",
    VALIDATION_ACCURACY: "val_accuracy",
    TRAIN_LOSS: "train_loss",
}

_FILE_MARK = "tfevents"
_REWRITE_SUFFIX = ".rewrite"


def scalars_of_record(record):
    """Return the scalars that a metrics record holds, keyed by tag."""
    return {tag: float(record[field]) for tag, field in LOGGED_FIELDS.items()}


def read_scalars(directory):
    """Return every scalar in the event files of `directory` as (tag, step, value, wall_time), file by file.

    A record cut short at the end of a file, by a kill during a write, ends
    the reading of that file.
    """
    scalars = []
    for path in _event_files(directory):
        scalars.extend(_read_file(path))
    return scalars


class TensorBoardLog:
    """The event files of one run; the caller holds the run's lock."""

    def __init__(self, directory):
        self.directory = directory
        self._writer = None

    def write(self, step, scalars):
        """Append one chunk's scalars at `step` and flush them to the file.

        A failed write is logged as a WARNING and training goes on: the next
        `repair` restores the logged scalars from the metrics log.
        """
        try:
            writer = self._open()
            wall_time = time.time()
            for tag, value in scalars.items():
                writer.write(_scalar_event(tag, step, value, wall_time).SerializeToString())
            writer.flush()
        except (OSError, tf.errors.OpError) as error:
            logger.warning("Could not write TensorBoard scalars of step %d to %s: %s", step, self.directory, error)

    def close(self):
        """Close this process's event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def repair(self, records):
        """Make the event files hold the scalars of each committed chunk exactly once.

        Args:
            records: The committed metrics records, oldest first.

        Returns:
            Whether the files were rewritten.
        """
        rewrites = list(self._rewrites())
        scalars = read_scalars(self.directory) + [item for path in rewrites for item in _read_file(path)]
        wanted = _committed_scalars(scalars, records)
        if not rewrites and sorted(scalars) == sorted(wanted):
            return False

        self.close()
        self._rewrite(wanted)
        logger.debug("Rewrote the TensorBoard scalars of %d committed chunks", len(records))
        return True

    def _open(self):
        if self._writer is None:
            os.makedirs(self.directory, exist_ok=True)
            self._writer = tf.io.TFRecordWriter(str(self._new_file_path()))
            self._writer.write(_version_event().SerializeToString())
        return self._writer

    def _new_file_path(self):
        # TensorBoard reads the files of a folder in name order: the time comes first.
        now = time.time_ns()
        seconds, nanoseconds = divmod(now, 10**9)
        name = f"events.out.{_FILE_MARK}.{seconds:010d}.{socket.gethostname()}.{os.getpid()}.{nanoseconds:09d}.v2"
        return self.directory / name

    def _rewrites(self):
        if not self.directory.is_dir():
            return []
        return sorted(path for path in self.directory.iterdir() if path.name.endswith(_REWRITE_SUFFIX))

    def _rewrite(self, wanted):
        """Replace the event files by one file with `wanted`, in a sequence that a kill cannot spoil.

        The new file is written under a name TensorBoard ignores, then the old
        files are deleted, then it takes an event file's name. A kill before
        the rename leaves it for the next `repair`, which reads it too.
        """
        os.makedirs(self.directory, exist_ok=True)
        final = self._new_file_path()
        staging = final.with_name(final.name + _REWRITE_SUFFIX)
        writer = tf.io.TFRecordWriter(str(staging))
        writer.write(_version_event().SerializeToString())
        for tag, step, value, wall_time in wanted:
            writer.write(_scalar_event(tag, step, value, wall_time).SerializeToString())
        writer.close()
        fsync_path(staging)

        for path in _event_files(self.directory) + [p for p in self._rewrites() if p != staging]:
            path.unlink()
        os.replace(staging, final)
        fsync_path(self.directory)


def _committed_scalars(scalars, records):
    """Return one scalar per tag and committed step, keeping the first one written."""
    committed = {record["step"]: record for record in records}
    now = time.time()
    kept = {}
    for tag, step, value, wall_time in scalars:
        if step in committed and (tag, step) not in kept:
            kept[tag, step] = (tag, step, value, wall_time)
    for step, record in committed.items():
        for tag, value in scalars_of_record(record).items():
            kept.setdefault((tag, step), (tag, step, value, now))
    return sorted(kept.values(), key=lambda item: (item[1], item[0]))


def _event_files(directory):
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if _FILE_MARK in path.name and not path.name.endswith(_REWRITE_SUFFIX) and path.is_file()
    )


def _read_file(path):
    scalars = []
    try:
        # TFRecordDataset rather than summary_iterator, which logs a deprecation WARNING.
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.append((value.tag, int(event.step), float(value.simple_value), float(event.wall_time)))
    except tf.errors.DataLossError:
        logger.debug("Event file %s ends in a partial record", path)
    return scalars


def _version_event():
    return tf.compat.v1.Event(wall_time=time.time(), file_version="brain.Event:2")


def _scalar_event(tag, step, value, wall_time):
    summary = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=tag, simple_value=value)])
    return tf.compat.v1.Event(wall_time=wall_time, step=step, summary=summary)
