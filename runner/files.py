"""Small file operations that survive a crash at any instant."""

import os
from pathlib import Path


def write_atomically(path, text):
    """Replace `path` with `text`: a reader sees the old content or the new, never a mix."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError:
        # A full disk fails the write; free the space the partial copy took.
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def append_line(path, line):
    """Append one line to `path` and flush it to disk before returning."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def check_writable(folder):
    """Raise OSError unless a file can be created, written and removed in `folder`."""
    probe = Path(folder) / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "w", encoding="utf-8") as stream:
            stream.write("probe")
            stream.flush()
            os.fsync(stream.fileno())
    finally:
        probe.unlink(missing_ok=True)


def fsync_path(path):
    """Flush a file or a folder (its list of names) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
