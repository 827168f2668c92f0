"""MNIST handwritten digits with the classic two-layer convolutional network."""

import keras

from jobs._convnet import build_convnet
from jobs._mnist_files import load_mnist_family
from runner.job import Job

_REMEDY = (
    "Pass --data-dir with the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz), or run once with internet access "
    "so that Keras downloads and caches the data set."
)


def load_data(data_dir):
    """Load MNIST from `data_dir`, else through the Keras downloader."""
    return load_mnist_family(data_dir, system_dirs=[], keras_dataset=keras.datasets.mnist, remedy=_REMEDY)


job = Job(name="mnist", build_model=build_convnet, load_data=load_data, class_names=tuple(str(d) for d in range(10)))
