"""Small file operations that survive a crash at any instant."""

import os
from pathlib import Path


def write_atomically(path, text):
    """Replace `path` with `text`: a reader sees the old content or the new, never a mix."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def append_line(path, line):
    """Append one line to `path` and flush it to disk before returning."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def fsync_path(path):
    """Flush a file or a folder (its list of names) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
