"""`runner evaluate`: test numbers checked against Keras on the same weights, and the figures."""

import gzip
import json

import numpy as np
import pytest

from conftest import FASHION_DIR, read_status, run_runner

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_fashion_test_set():
    """Read the Fashion-MNIST test images and labels straight from the IDX files."""
    with gzip.open(FASHION_DIR / "t10k-images-idx3-ubyte.gz") as stream:
        images = np.frombuffer(stream.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION_DIR / "t10k-labels-idx1-ubyte.gz") as stream:
        labels = np.frombuffer(stream.read(), dtype=np.uint8, offset=8)
    return images, labels


def _keras_confusion(checkpoint_prefix):
    """Restore the weights into a fresh network and count its test predictions with Keras and TensorFlow."""
    import tensorflow as tf

    from jobs._convnet import build_convnet

    model = build_convnet()
    tf.train.Checkpoint(model=model).restore(str(checkpoint_prefix)).expect_partial()
    images, labels = _read_fashion_test_set()
    logits = model.predict(images.astype(np.float32) / 255.0, batch_size=500, verbose=0)
    return tf.math.confusion_matrix(labels, np.argmax(logits, axis=1), num_classes=10).numpy()


def _evaluate_json(run_dir, *args):
    result = run_runner("evaluate", run_dir.name, "--state-dir", run_dir.parent, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_best_report_matches_keras(reference_run):
    report = _evaluate_json(reference_run)

    best_step = read_status(reference_run.parent, "fashion_mnist")["best_step"]
    expected = _keras_confusion(reference_run / "best" / f"ckpt-{best_step}")
    assert report["slot"] == "best"
    assert report["step"] == best_step
    assert report["confusion_matrix"] == expected.tolist()
    assert report["correct"] == int(np.trace(expected))
    assert report["test_accuracy"] == pytest.approx(np.trace(expected) / 10_000)
    for label, entry in enumerate(report["class_accuracy"]):
        assert entry["correct"] == expected[label, label]
        assert entry["total"] == expected[label].sum()


def test_latest_report_matches_keras(reference_run):
    report = _evaluate_json(reference_run, "--slot", "latest")

    records = [json.loads(line) for line in (reference_run / "metrics.jsonl").read_text().splitlines()]
    expected = _keras_confusion(reference_run / "latest" / "ckpt-500")
    assert report["slot"] == "latest"
    assert report["step"] == 500
    assert report["val_accuracy"] == records[-1]["val_accuracy"]
    assert report["confusion_matrix"] == expected.tolist()


def test_text_report_names_classes(reference_run):
    result = run_runner("evaluate", "fashion_mnist", "--state-dir", reference_run.parent)

    assert result.returncode == 0, result.stderr
    assert "Test accuracy: " in result.stdout
    assert "Per-class accuracy:" in result.stdout
    assert "Ankle boot" in result.stdout
    assert "rows: true label, columns: predicted label" in result.stdout


def test_invalid_slot_exits_2(reference_run):
    result = run_runner("evaluate", "fashion_mnist", "--state-dir", reference_run.parent, "--slot", "newest")

    assert result.returncode == 2
    assert "Invalid value for --slot: 'newest'" in result.stderr


def test_plots_writes_four_figures(reference_run, tmp_path):
    from PIL import Image

    from runner import plots

    report = _evaluate_json(reference_run, "--plots", tmp_path / "figures")

    sizes = {
        "confusion_matrix.png": plots.CONFUSION_MATRIX_PIXELS,
        "example_errors.png": plots.EXAMPLE_ERRORS_PIXELS,
        "conv1_weights.png": plots.CONV_FILTERS_PIXELS,
        "learning_curve.png": plots.LEARNING_CURVE_PIXELS,
    }
    assert [path.split("/")[-1] for path in report["figures"]] == list(sizes)
    for name, size in sizes.items():
        path = tmp_path / "figures" / name
        assert path.read_bytes().startswith(PNG_SIGNATURE), name
        with Image.open(path) as image:
            assert image.size == size, name
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 100, name


def test_plots_at_file_exits_2(reference_run, tmp_path):
    not_a_folder = tmp_path / "figures.png"
    not_a_folder.write_text("")

    result = run_runner("evaluate", "fashion_mnist", "--state-dir", reference_run.parent, "--plots", not_a_folder)

    assert result.returncode == 2
    assert f"Invalid value for --plots: {not_a_folder} is a file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Test accuracy" not in result.stdout
