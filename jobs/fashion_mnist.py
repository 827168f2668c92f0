"""Fashion-MNIST clothing images with the classic two-layer convolutional network."""

import keras

from jobs._convnet import build_convnet
from jobs._mnist_files import load_mnist_family
from runner.job import Job

# Folder of the IDX files from Debian's dataset-fashion-mnist package.
DEBIAN_DATA_DIR = "/usr/share/datasets/fashion-mnist"

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_REMEDY = (
    "Install the Debian package: apt-get install dataset-fashion-mnist; or pass --data-dir with the four "
    "Fashion-MNIST IDX files; or run once with internet access so that Keras downloads the data set."
)


def load_data(data_dir):
    """Load Fashion-MNIST from `data_dir`, else the Debian package's folder, else Keras."""
    return load_mnist_family(
        data_dir, system_dirs=[DEBIAN_DATA_DIR], keras_dataset=keras.datasets.fashion_mnist, remedy=_REMEDY
    )


job = Job(name="fashion_mnist", build_model=build_convnet, load_data=load_data, class_names=CLASS_NAMES)
