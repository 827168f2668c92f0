"""Data set splits, the IDX file reader and the deterministic batch order."""

import dataclasses
import functools
import gzip
import logging
import zlib
from pathlib import Path

import numpy as np

from runner.errors import DataNotFoundError, InvalidInputError

logger = logging.getLogger(__name__)

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte)
# and the number of dimensions.
_UNSIGNED_BYTE = 0x08


@dataclasses.dataclass(frozen=True)
class Splits:
    """Training, validation and test arrays of one data set.

    Images are kept as stored (for IDX files, uint8 in [0, 255]) so that they
    stay compact in memory. The training step scales each batch to [0, 1].
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self):
        for name in ("train", "val", "test"):
            images = getattr(self, f"{name}_images")
            labels = getattr(self, f"{name}_labels")
            if len(images) != len(labels):
                raise InvalidInputError(
                    f"The {name} split has {len(images)} images but {len(labels)} labels; "
                    "each image needs exactly one label."
                )
            if len(images) == 0:
                raise InvalidInputError(f"The {name} split is empty; every split needs at least one image.")


def read_idx(path):
    """Read an IDX file (raw or gzip-compressed) into a uint8 array.

    Raises:
        DataNotFoundError: the file does not exist.
        InvalidInputError: the magic number, element type or length is wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            content = stream.read()
    except FileNotFoundError:
        raise DataNotFoundError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as error:
        raise InvalidInputError(f"Cannot read IDX file {path}: {error}. Replace the file with a valid copy.") from None

    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != _UNSIGNED_BYTE:
        raise InvalidInputError(
            f"{path} is not an IDX file of unsigned bytes: its first bytes are {content[:4].hex()}, "
            "expected 0000 08 followed by the number of dimensions. Replace the file with a valid copy."
        )
    rank = content[3]
    header_size = 4 + 4 * rank
    if rank == 0 or len(content) < header_size:
        raise InvalidInputError(f"{path} has a truncated or empty IDX header. Replace the file with a valid copy.")
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    expected = int(np.prod(shape))
    actual = len(content) - header_size
    if actual != expected:
        raise InvalidInputError(
            f"{path} declares shape {shape} ({expected} bytes of data) but contains {actual} bytes, "
            "so the file is truncated or padded. Replace the file with a valid copy."
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)


def find_idx_file(folder, stem):
    """Return the path of `stem` in `folder`, gzip-compressed or raw, or None."""
    for name in (f"{stem}.gz", stem):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def _read_idx_pair(folder, images_stem, labels_stem, image_shape, num_classes):
    images_path = find_idx_file(folder, images_stem)
    labels_path = find_idx_file(folder, labels_stem)
    missing = [stem for stem, found in ((images_stem, images_path), (labels_stem, labels_path)) if found is None]
    if missing:
        raise DataNotFoundError(f"{folder} has no {' or '.join(missing)} (raw or .gz).")

    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.shape[1:] != tuple(image_shape):
        raise InvalidInputError(
            f"{images_path} contains images of shape {images.shape[1:]}, expected {tuple(image_shape)}."
        )
    if labels.ndim != 1:
        raise InvalidInputError(
            f"{labels_path} contains labels of shape {labels.shape[1:]}, expected one label per image."
        )
    if len(images) != len(labels):
        raise InvalidInputError(
            f"{images_path} contains {len(images)} images but {labels_path} contains {len(labels)} labels. "
            "Use files from the same data set release."
        )
    if labels.size and labels.max() >= num_classes:
        raise InvalidInputError(
            f"{labels_path} contains the label {int(labels.max())}, expected labels 0 to {num_classes - 1}."
        )
    return images, labels


@dataclasses.dataclass(frozen=True)
class IdxFileNames:
    """Names of a data set's four IDX files, without the optional `.gz` suffix."""

    train_images: str
    train_labels: str
    test_images: str
    test_labels: str

    def all(self):
        """Return the four names, images before labels, training before test."""
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def has_idx_files(folder, names):
    """Return whether `folder` contains all four files of `names`, raw or gzip-compressed."""
    return Path(folder).is_dir() and all(find_idx_file(folder, stem) for stem in names.all())


def load_idx_splits(folder, names, *, validation_size, image_shape, num_classes):
    """Load a data set's four IDX files from `folder` and split them.

    The first images of the training file are for training, the last
    `validation_size` for validation, and the test file is the test split.
    Every image must have `image_shape` and every label must be below
    `num_classes`.
    """
    if not Path(folder).is_dir():
        raise DataNotFoundError(f"Data folder not found: {folder}")
    train_images, train_labels = _read_idx_pair(
        folder, names.train_images, names.train_labels, image_shape, num_classes
    )
    test_images, test_labels = _read_idx_pair(folder, names.test_images, names.test_labels, image_shape, num_classes)
    return split_training_set(train_images, train_labels, test_images, test_labels, validation_size=validation_size)


def split_training_set(train_images, train_labels, test_images, test_labels, *, validation_size):
    """Hold out the last `validation_size` training images for validation."""
    if not 0 < validation_size < len(train_images):
        raise InvalidInputError(
            f"Cannot hold out {validation_size} validation images from {len(train_images)} training images."
        )
    cut = len(train_images) - validation_size
    return Splits(
        train_images=train_images[:cut],
        train_labels=train_labels[:cut],
        val_images=train_images[cut:],
        val_labels=train_labels[cut:],
        test_images=test_images,
        test_labels=test_labels,
    )


def describe_search(searched, remedy):
    """Build the one-line message of a data set that none of `searched` contains."""
    return f"Data set not found in {'; '.join(searched)}. {remedy}"


@functools.lru_cache(maxsize=2)
def epoch_order(*, seed, epoch, num_examples):
    """Return the permutation of training examples for one epoch, read-only.

    Cached, so that the chunks of an epoch draw its permutation once.
    """
    order = np.random.default_rng([seed, epoch]).permutation(num_examples)
    order.flags.writeable = False
    return order


def chunk_indices(*, seed, first_step, num_steps, batch_size, num_examples):
    """Return the batch indices of `num_steps` steps from `first_step`, shape (steps, batch).

    Each epoch visits the examples in a permutation drawn from `(seed, epoch)`,
    so the batch of any step follows from the seed and the step alone. The
    last partial batch of an epoch is dropped.
    """
    if batch_size > num_examples:
        raise InvalidInputError(
            f"Batch size {batch_size} exceeds the {num_examples} training examples; use a smaller --batch-size."
        )
    batches_per_epoch = num_examples // batch_size
    rows = []
    for step in range(first_step, first_step + num_steps):
        epoch, offset = divmod(step, batches_per_epoch)
        order = epoch_order(seed=seed, epoch=epoch, num_examples=num_examples)
        rows.append(order[offset * batch_size : (offset + 1) * batch_size])
    return np.stack(rows).astype(np.int32)
