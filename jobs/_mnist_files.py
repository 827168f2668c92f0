"""Loading an MNIST-family data set from IDX folders or the Keras downloader."""

import logging
from pathlib import Path

from runner.data import IdxFileNames, describe_search, has_idx_files, load_idx_splits, split_training_set
from runner.errors import DataNotFoundError, InvalidInputError

logger = logging.getLogger(__name__)

# File names shared by MNIST, Fashion-MNIST and other drop-in replacements.
MNIST_FILE_NAMES = IdxFileNames(
    train_images="train-images-idx3-ubyte",
    train_labels="train-labels-idx1-ubyte",
    test_images="t10k-images-idx3-ubyte",
    test_labels="t10k-labels-idx1-ubyte",
)
# The last 5,000 of the 60,000 training images are held out for validation.
VALIDATION_SIZE = 5000


def load_mnist_folder(folder):
    """Load and split the four MNIST-style IDX files in `folder`."""
    return load_idx_splits(
        folder, MNIST_FILE_NAMES, validation_size=VALIDATION_SIZE, image_shape=(28, 28), num_classes=10
    )


def load_mnist_family(data_dir, *, system_dirs, keras_dataset, remedy):
    """Load the data set from `data_dir`, else from `system_dirs`, else through Keras.

    Args:
        data_dir: The `--data-dir` folder, or None. When given, it is the only
            place searched, so a typo never falls back to another copy.
        system_dirs: Folders where a system package installs the IDX files.
        keras_dataset: A `keras.datasets` module (`mnist`, `fashion_mnist`),
            whose `load_data()` downloads once and caches under ~/.keras/datasets.
        remedy: Sentence telling the user how to get the files.
    """
    if data_dir is not None:
        if not has_idx_files(data_dir, MNIST_FILE_NAMES):
            names = ", ".join(MNIST_FILE_NAMES.all())
            raise DataNotFoundError(
                describe_search(
                    [f"{data_dir} (from --data-dir)"],
                    f"Put the four IDX files {names} (raw or .gz) in {data_dir}, "
                    "or omit --data-dir to use the job's default places.",
                )
            )
        logger.debug("Loading IDX files from %s", data_dir)
        return load_mnist_folder(data_dir)

    for folder in system_dirs:
        if has_idx_files(folder, MNIST_FILE_NAMES):
            logger.debug("Loading IDX files from %s", folder)
            return load_mnist_folder(folder)

    try:
        (train_images, train_labels), (test_images, test_labels) = keras_dataset.load_data()
    # Keras raises a bare Exception when the download fails.
    except Exception as error:  # noqa: BLE001
        searched = [f"{folder} (no IDX files)" for folder in system_dirs]
        searched.append(f"{Path.home() / '.keras' / 'datasets'} (Keras download failed: {error})")
        raise DataNotFoundError(describe_search(searched, remedy)) from None

    if train_images.shape[1:] != (28, 28) or test_images.shape[1:] != (28, 28):
        raise InvalidInputError(
            f"The Keras cache of {keras_dataset.__name__} contains images of shape {train_images.shape[1:]}, "
            "expected (28, 28). Delete the cached file under ~/.keras/datasets and retry."
        )
    return split_training_set(train_images, train_labels, test_images, test_labels, validation_size=VALIDATION_SIZE)
