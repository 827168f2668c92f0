"""The IDX reader, the splits and the batch order."""

import gzip

import numpy as np
import pytest

from jobs._mnist_files import load_mnist_folder
from runner.data import chunk_indices, read_idx
from runner.errors import DataNotFoundError, InvalidInputError

from idx_files import idx_bytes, write_idx, write_mnist_folder


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_raw_and_gzip(tmp_path, name):
    array = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)

    loaded = read_idx(write_idx(tmp_path / name, array))

    assert loaded.shape == (2, 28, 28)
    assert np.array_equal(loaded, array)


def test_read_idx_wrong_magic(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x03" + bytes(12))

    with pytest.raises(InvalidInputError, match="not an IDX file of unsigned bytes"):
        read_idx(path)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))[:-100])

    with pytest.raises(InvalidInputError, match="truncated"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken-idx3-ubyte.gz"
    noise = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    compressed = gzip.compress(idx_bytes(noise))
    path.write_bytes(compressed[: len(compressed) // 2])

    with pytest.raises(InvalidInputError, match=str(path)):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="nothing-idx1-ubyte"):
        read_idx(tmp_path / "nothing-idx1-ubyte")


def test_load_splits_sizes_and_order(tmp_path):
    arrays = write_mnist_folder(tmp_path, train=6000, test=1000)

    splits = load_mnist_folder(tmp_path)

    assert splits.train_images.shape == (1000, 28, 28)
    assert splits.val_images.shape == (5000, 28, 28)
    assert splits.test_images.shape == (1000, 28, 28)
    assert np.array_equal(splits.train_images, arrays["train-images-idx3-ubyte"][:1000])
    assert np.array_equal(splits.val_labels, arrays["train-labels-idx1-ubyte"][1000:])
    assert np.array_equal(splits.test_labels, arrays["t10k-labels-idx1-ubyte"])


def test_load_rejects_count_mismatch(tmp_path):
    write_mnist_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5999, dtype=np.uint8))

    with pytest.raises(InvalidInputError, match="6000 images but .* 5999 labels"):
        load_mnist_folder(tmp_path)


def test_load_rejects_wrong_image_shape(tmp_path):
    write_mnist_folder(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((1000, 32, 32), dtype=np.uint8))

    with pytest.raises(InvalidInputError, match=r"shape \(32, 32\)"):
        load_mnist_folder(tmp_path)


def test_load_rejects_label_out_of_range(tmp_path):
    write_mnist_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(1000, 12, dtype=np.uint8))

    with pytest.raises(InvalidInputError, match="label 12"):
        load_mnist_folder(tmp_path)


def test_fashion_mnist_splits(fashion_dir):
    splits = load_mnist_folder(fashion_dir)

    assert len(splits.train_images) == 55_000
    assert len(splits.val_images) == 5_000
    assert len(splits.test_images) == 10_000
    assert splits.train_images.dtype == np.uint8
    assert set(np.unique(splits.test_labels)) == set(range(10))


def test_batch_order_depends_on_seed_and_step_only():
    whole = chunk_indices(seed=3, first_step=0, num_steps=40, batch_size=64, num_examples=1000)
    tail = chunk_indices(seed=3, first_step=25, num_steps=15, batch_size=64, num_examples=1000)
    other_seed = chunk_indices(seed=4, first_step=0, num_steps=40, batch_size=64, num_examples=1000)

    assert np.array_equal(whole[25:], tail)
    assert not np.array_equal(whole, other_seed)


def test_batch_order_visits_each_example_once_per_epoch():
    # 1000 examples in batches of 64: 15 full batches per epoch, 40 dropped.
    epoch = chunk_indices(seed=3, first_step=0, num_steps=15, batch_size=64, num_examples=1000)
    next_epoch = chunk_indices(seed=3, first_step=15, num_steps=15, batch_size=64, num_examples=1000)

    assert len(np.unique(epoch)) == 15 * 64
    assert not np.array_equal(epoch, next_epoch)
