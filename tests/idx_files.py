"""Writing small IDX files for tests."""

import gzip

import numpy as np


def idx_bytes(array):
    """Encode a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, *, compress=None):
    """Write `array` as an IDX file, gzip-compressed when the name ends in .gz."""
    content = idx_bytes(array)
    if compress if compress is not None else str(path).endswith(".gz"):
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


def write_mnist_folder(folder, *, train=6000, test=1000, seed=0, compress=True):
    """Write the four MNIST-style IDX files with random images and labels; return the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(folder / f"{stem}{suffix}", array)
    return arrays
