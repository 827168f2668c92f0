"""A resumable job runner: trains TensorFlow models in atomic, crash-safe chunks."""

__version__ = "0.1.0"
