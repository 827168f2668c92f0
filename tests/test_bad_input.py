"""Bad data files: one line that names the file and the problem, the documented code, no traceback."""

import numpy as np
import pytest

from conftest import run_runner
from idx_files import idx_bytes, write_idx, write_mnist_folder


def _wrong_magic(folder):
    (folder / "train-images-idx3-ubyte.gz").unlink()
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03" + bytes(12))


def _truncated(folder):
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    content = idx_bytes(np.zeros((1000, 28, 28), dtype=np.uint8))
    (folder / "t10k-images-idx3-ubyte").write_bytes(content[:-500])


def _count_mismatch(folder):
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(5999, dtype=np.uint8))


def _wrong_shape(folder):
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((1000, 32, 32), dtype=np.uint8))


def _label_out_of_range(folder):
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(1000, 12, dtype=np.uint8))


def _missing_file(folder):
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()


BAD_INPUTS = {
    "wrong_magic": (_wrong_magic, 65, "not an IDX file of unsigned bytes"),
    "truncated": (_truncated, 65, "truncated"),
    "count_mismatch": (_count_mismatch, 65, "6000 images but"),
    "wrong_shape": (_wrong_shape, 65, "shape (32, 32), expected (28, 28)"),
    "label_out_of_range": (_label_out_of_range, 65, "the label 12, expected labels 0 to 9"),
    "missing_file": (_missing_file, 66, "t10k-labels-idx1-ubyte"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_reported_in_one_line(tmp_path, case):
    damage, code, message = BAD_INPUTS[case]
    write_mnist_folder(tmp_path / "data")
    damage(tmp_path / "data")

    result = run_runner("start", "mnist", "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "data")

    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code, result.stderr
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "mnist").exists()


def test_missing_data_folder_exits_66(tmp_path):
    result = run_runner("start", "mnist", "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "nowhere")

    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 66
    assert len(errors) == 1
    assert str(tmp_path / "nowhere") in errors[0]
