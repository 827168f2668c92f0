"""PNG figures: valid files of the declared pixel size with visible content, for usual and edge-case inputs."""

import numpy as np
import pytest
from PIL import Image

from runner import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# A blank figure has one colour. Anti-aliased text alone gives about 200, so 100 separates the two.
MIN_DISTINCT_COLOURS = 100


def read_pixels(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def png_size(path):
    with Image.open(path) as image:
        return image.size


def distinct_colours(path):
    # One uint32 per RGBA pixel, because np.unique over rows of four bytes (axis=0) is far slower.
    pixels = np.ascontiguousarray(read_pixels(path))
    return len(np.unique(pixels.view(np.uint32)))


def example_images(count):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def predictions_with_errors(labels, error_indices):
    predictions = labels.copy()
    predictions[error_indices] = (labels[error_indices] + 1) % len(CLASS_NAMES)
    return predictions


def learning_records(count):
    records = []
    for number in range(1, count + 1):
        accuracy = 0.70 + 0.19 * number / count
        records.append(
            {
                "step": 100 * number,
                "train_loss": 1.0 - accuracy,
                "train_accuracy": accuracy + 0.01,
                "val_accuracy": accuracy,
                "improved": number % 3 != 0,
                "best_accuracy": accuracy,
                "best_step": 100 * number,
            }
        )
    return records


def test_confusion_matrix_png_size(tmp_path):
    confusion = np.array([[50, 3, 1], [4, 40, 6], [0, 2, 44]])

    path = plots.plot_confusion_matrix(tmp_path / "confusion.png", confusion=confusion, class_names=CLASS_NAMES[:3])

    assert path == tmp_path / "confusion.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.CONFUSION_MATRIX_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_confusion_matrix_ten_classes(tmp_path):
    rng = np.random.default_rng(1)
    confusion = rng.integers(0, 40, size=(10, 10))
    np.fill_diagonal(confusion, 900)

    path = plots.plot_confusion_matrix(tmp_path / "confusion.png", confusion=confusion, class_names=CLASS_NAMES)

    assert png_size(path) == plots.CONFUSION_MATRIX_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_confusion_matrix_all_zero(tmp_path):
    path = plots.plot_confusion_matrix(
        tmp_path / "confusion.png", confusion=np.zeros((3, 3), dtype=int), class_names=CLASS_NAMES[:3]
    )

    assert png_size(path) == plots.CONFUSION_MATRIX_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_confusion_matrix_name_count_mismatch(tmp_path):
    with pytest.raises(ValueError, match="Expected one class name per confusion matrix row"):
        plots.plot_confusion_matrix(tmp_path / "confusion.png", confusion=np.eye(3, dtype=int), class_names=["a", "b"])


def test_confusion_matrix_not_square(tmp_path):
    with pytest.raises(ValueError, match="Expected a square"):
        plots.plot_confusion_matrix(tmp_path / "confusion.png", confusion=np.ones((3, 2), dtype=int), class_names="abc")


def test_example_errors_png_size(tmp_path):
    labels = np.arange(30) % 10
    predictions = predictions_with_errors(labels, np.arange(0, 30, 2))

    path = plots.plot_example_errors(
        tmp_path / "errors.png",
        images=example_images(30),
        labels=labels,
        predictions=predictions,
        class_names=CLASS_NAMES,
    )

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.EXAMPLE_ERRORS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_example_errors_float_images(tmp_path):
    labels = np.arange(12) % 10
    images = example_images(12).astype(np.float32) / 255

    path = plots.plot_example_errors(
        tmp_path / "errors.png",
        images=images,
        labels=labels,
        predictions=(labels + 1) % 10,
        class_names=CLASS_NAMES,
    )

    assert png_size(path) == plots.EXAMPLE_ERRORS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_example_errors_same_inputs_same_pixels(tmp_path):
    labels = np.arange(30) % 10
    arguments = {
        "images": example_images(30),
        "labels": labels,
        "predictions": predictions_with_errors(labels, np.arange(0, 30, 2)),
        "class_names": CLASS_NAMES,
    }

    first = plots.plot_example_errors(tmp_path / "first.png", **arguments)
    second = plots.plot_example_errors(tmp_path / "second.png", **arguments)

    assert np.array_equal(read_pixels(first), read_pixels(second))


def test_example_errors_fewer_than_nine(tmp_path):
    labels = np.arange(20) % 10
    predictions = predictions_with_errors(labels, np.array([4, 11]))

    path = plots.plot_example_errors(
        tmp_path / "errors.png",
        images=example_images(20),
        labels=labels,
        predictions=predictions,
        class_names=CLASS_NAMES,
    )

    pixels = read_pixels(path)
    bottom_row_of_cells = pixels[-pixels.shape[0] // 4 :]
    assert png_size(path) == plots.EXAMPLE_ERRORS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS
    assert np.all(bottom_row_of_cells == 255)


def test_example_errors_none(tmp_path):
    labels = np.arange(20) % 10

    path = plots.plot_example_errors(
        tmp_path / "errors.png",
        images=example_images(20),
        labels=labels,
        predictions=labels.copy(),
        class_names=CLASS_NAMES,
    )

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.EXAMPLE_ERRORS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_example_errors_length_mismatch(tmp_path):
    labels = np.arange(10)

    with pytest.raises(ValueError, match="Expected the same number of images, labels and predictions"):
        plots.plot_example_errors(
            tmp_path / "errors.png",
            images=example_images(10),
            labels=labels,
            predictions=labels[:9],
            class_names=CLASS_NAMES,
        )


def test_conv_filters_png_size(tmp_path):
    kernel = np.random.default_rng(2).normal(0, 0.2, size=(5, 5, 1, 16))

    path = plots.plot_conv_filters(tmp_path / "filters.png", kernel=kernel)

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.CONV_FILTERS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_conv_filters_several_input_channels(tmp_path):
    kernel = np.random.default_rng(3).normal(0, 0.2, size=(3, 3, 3, 10))

    path = plots.plot_conv_filters(tmp_path / "filters.png", kernel=kernel)

    assert png_size(path) == plots.CONV_FILTERS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_conv_filters_all_zero(tmp_path):
    path = plots.plot_conv_filters(tmp_path / "filters.png", kernel=np.zeros((5, 5, 1, 4)))

    assert png_size(path) == plots.CONV_FILTERS_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_conv_filters_wrong_dimensions(tmp_path):
    with pytest.raises(ValueError, match="Invalid kernel shape"):
        plots.plot_conv_filters(tmp_path / "filters.png", kernel=np.zeros((5, 5, 16)))


def test_learning_curve_png_size(tmp_path):
    path = plots.plot_learning_curve(tmp_path / "curve.png", records=learning_records(100))

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.LEARNING_CURVE_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_learning_curve_no_records(tmp_path):
    path = plots.plot_learning_curve(tmp_path / "curve.png", records=[])

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert png_size(path) == plots.LEARNING_CURVE_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_learning_curve_resumes_and_stop_note(tmp_path):
    records = learning_records(100)

    plain = plots.plot_learning_curve(tmp_path / "plain.png", records=records)
    resumed = plots.plot_learning_curve(tmp_path / "resumed.png", records=records, resume_steps=[3000, 6100])
    noted = plots.plot_learning_curve(
        tmp_path / "noted.png",
        records=records,
        resume_steps=[3000, 6100],
        stop_note="early stop at step 10,000: 1,000 steps without improvement",
    )

    assert png_size(noted) == plots.LEARNING_CURVE_PIXELS
    assert distinct_colours(noted) > MIN_DISTINCT_COLOURS
    assert not np.array_equal(read_pixels(plain), read_pixels(resumed))
    assert not np.array_equal(read_pixels(resumed), read_pixels(noted))


def test_learning_curve_without_improvement(tmp_path):
    records = [{**record, "improved": False, "best_accuracy": 0.0, "best_step": 0} for record in learning_records(5)]

    path = plots.plot_learning_curve(tmp_path / "curve.png", records=records)

    assert png_size(path) == plots.LEARNING_CURVE_PIXELS
    assert distinct_colours(path) > MIN_DISTINCT_COLOURS


def test_write_figures_four_names(tmp_path):
    labels = np.arange(20) % 10
    directory = tmp_path / "figures" / "run"

    paths = plots.write_figures(
        directory,
        confusion=np.eye(10, dtype=int) * 100,
        class_names=CLASS_NAMES,
        images=example_images(20),
        labels=labels,
        predictions=predictions_with_errors(labels, np.array([1, 2, 3])),
        kernel=np.random.default_rng(4).normal(size=(5, 5, 1, 16)),
        records=learning_records(10),
        resume_steps=[300],
        stop_note="max steps reached at step 1,000",
    )

    assert [path.name for path in paths] == [
        "confusion_matrix.png",
        "example_errors.png",
        "conv1_weights.png",
        "learning_curve.png",
    ]
    for path in paths:
        assert path.parent == directory
        assert path.read_bytes().startswith(PNG_SIGNATURE), path.name
