"""PNG figures of a run: confusion matrix, misclassified images, first-layer filters and learning curve."""

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

DPI = 100

# Width and height, in pixels, of each saved PNG.
CONFUSION_MATRIX_PIXELS = (900, 800)
EXAMPLE_ERRORS_PIXELS = (750, 850)
CONV_FILTERS_PIXELS = (800, 700)
LEARNING_CURVE_PIXELS = (1000, 600)

FIGURE_FILE_NAMES = ("confusion_matrix.png", "example_errors.png", "conv1_weights.png", "learning_curve.png")

_CELL_FONT_SIZE = 9
_TEXT_FONT_SIZE = 14


def write_figures(
    directory,
    *,
    confusion,
    class_names,
    images,
    labels,
    predictions,
    kernel,
    records,
    resume_steps=(),
    stop_note=None,
):
    """Create `directory` and write the four figures into it, named as in FIGURE_FILE_NAMES.

    Args:
        directory: Folder to write into. Missing parents are created.
        confusion: See `plot_confusion_matrix`.
        class_names: Names of the labels, in label order.
        images: See `plot_example_errors`.
        labels: See `plot_example_errors`.
        predictions: See `plot_example_errors`.
        kernel: See `plot_conv_filters`; None for a model without a 2D
            convolution layer, which leaves that figure out.
        records: See `plot_learning_curve`.
        resume_steps: See `plot_learning_curve`.
        stop_note: See `plot_learning_curve`.

    Returns:
        The paths written, in the order of FIGURE_FILE_NAMES.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    confusion_path, errors_path, filters_path, curve_path = (directory / name for name in FIGURE_FILE_NAMES)
    written = [
        plot_confusion_matrix(confusion_path, confusion=confusion, class_names=class_names),
        plot_example_errors(
            errors_path, images=images, labels=labels, predictions=predictions, class_names=class_names
        ),
    ]
    if kernel is not None:
        written.append(plot_conv_filters(filters_path, kernel=kernel))
    written.append(plot_learning_curve(curve_path, records=records, resume_steps=resume_steps, stop_note=stop_note))
    return written


def plot_confusion_matrix(path, *, confusion, class_names):
    """Draw the confusion matrix as colour-mapped cells with their counts and save it as a PNG.

    Args:
        path: PNG file to write.
        confusion: Integer counts of shape (k, k), indexed [true label, predicted label].
        class_names: The k label names, in label order.

    Returns:
        The path written.

    Raises:
        ValueError: If `confusion` is not square or `class_names` does not have one name per row.
    """
    confusion = np.asarray(confusion)
    _check_confusion(confusion, class_names)
    fig = _new_figure(CONFUSION_MATRIX_PIXELS)
    ax = fig.add_subplot()

    image = ax.imshow(confusion, cmap="Blues")
    _write_cell_counts(ax, image, confusion)
    fig.colorbar(image, ax=ax, label="Images")

    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=class_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=class_names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(_accuracy_title(confusion))
    return _save(fig, path)


def plot_example_errors(path, *, images, labels, predictions, class_names, count=9):
    """Draw the first `count` misclassified images with their true and predicted names and save them as a PNG.

    The images are taken in array order, so the same inputs always give the same figure.
    Cells beyond the number of errors stay empty.

    Args:
        path: PNG file to write.
        images: Greyscale images of shape (n, height, width), uint8 or float.
        labels: True labels of shape (n,).
        predictions: Predicted labels of shape (n,).
        class_names: Label names, in label order.
        count: Maximum number of images to show.

    Returns:
        The path written.

    Raises:
        ValueError: If `count` is below 1 or the arrays do not have the same length n.
    """
    images, labels, predictions = np.asarray(images), np.asarray(labels), np.asarray(predictions)
    _check_examples(images, labels, predictions, count)
    fig = _new_figure(EXAMPLE_ERRORS_PIXELS)

    errors = np.flatnonzero(predictions != labels)
    if errors.size == 0:
        _write_centred_text(fig, "No misclassified test images")
        return _save(fig, path)

    shown_indices = errors[:count]
    columns = math.ceil(math.sqrt(count))
    axes = fig.subplots(math.ceil(count / columns), columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, index in zip(axes, shown_indices):
        ax.imshow(images[index], cmap="gray")
        true_name, predicted_name = class_names[labels[index]], class_names[predictions[index]]
        ax.set_title(f"true: {true_name}\npredicted: {predicted_name}", fontsize=_CELL_FONT_SIZE + 1)
    fig.suptitle(f"First {len(shown_indices):,} of {errors.size:,} misclassified images")
    return _save(fig, path)


def plot_conv_filters(path, *, kernel):
    """Draw every filter of a convolution kernel on one symmetric colour scale and save them as a PNG.

    Args:
        path: PNG file to write.
        kernel: Convolution weights of shape (height, width, in_channels, filters). For more than one input
            channel, only channel 0 is drawn, and the title names it.

    Returns:
        The path written.

    Raises:
        ValueError: If `kernel` does not have four dimensions or has no filters.
    """
    kernel = np.asarray(kernel, dtype=float)
    if kernel.ndim != 4 or kernel.shape[3] == 0:
        raise ValueError(
            f"Invalid kernel shape {kernel.shape}."
            " Expected (height, width, in_channels, filters) with at least one filter."
        )
    height, width, in_channels, filters = kernel.shape
    fig = _new_figure(CONV_FILTERS_PIXELS)

    # One scale centred on zero for all filters, so that colours compare across filters and the white centre marks 0.
    limit = float(np.max(np.abs(kernel[:, :, 0, :]))) or 1.0
    columns = math.ceil(math.sqrt(filters))
    axes = fig.subplots(math.ceil(filters / columns), columns, squeeze=False)
    for number, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if number < filters:
            image = ax.imshow(kernel[:, :, 0, number], cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=axes, label="Weight")

    title = f"First convolution layer: {filters} filters of {height}x{width}"
    if in_channels > 1:
        title += f", input channel 0 of {in_channels}"
    fig.suptitle(title)
    return _save(fig, path)


def plot_learning_curve(path, *, records, resume_steps=(), stop_note=None):
    """Draw training and validation accuracy against step, with the best step and resumes marked, and save a PNG.

    Args:
        path: PNG file to write.
        records: Metrics log entries, oldest first, one per committed chunk, each with the keys step,
            train_accuracy, val_accuracy, improved, best_accuracy and best_step. Accuracies are fractions in
            [0, 1].
        resume_steps: Steps at which a resume started, each drawn as a vertical dashed line.
        stop_note: Text to show under the title, such as why training stopped. None or "" shows no note.

    Returns:
        The path written.
    """
    fig = _new_figure(LEARNING_CURVE_PIXELS)
    if not records:
        _write_centred_text(fig, "No committed chunks yet")
        return _save(fig, path)

    ax = fig.add_subplot()
    _draw_accuracy_curves(ax, records)
    _mark_best_step(ax, records[-1])
    for number, step in enumerate(resume_steps):
        ax.axvline(step, color="grey", linestyle="--", linewidth=1, label="resume" if number == 0 else None)

    ax.set_xlabel("Step")
    ax.set_ylabel("Accuracy (%)")
    ax.grid(True, alpha=0.4)
    # Outside the axes, so that the legend never hides a curve.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.suptitle("Learning curve")
    if stop_note:
        ax.set_title(stop_note, fontsize=_CELL_FONT_SIZE + 1)
    return _save(fig, path)


def _new_figure(pixels):
    width, height = pixels
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def _save(fig, path):
    path = Path(path)
    # A matplotlibrc with `savefig.bbox: tight` would crop the PNG to a size other than the declared one.
    with matplotlib.rc_context({"savefig.bbox": None}):
        fig.savefig(path, dpi=DPI, format="png")
    return path


def _write_centred_text(fig, text):
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=_TEXT_FONT_SIZE)


def _check_confusion(confusion, class_names):
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"Invalid confusion matrix shape {confusion.shape}. Expected a square (k, k) array.")
    if len(class_names) != confusion.shape[0]:
        raise ValueError(
            f"Expected one class name per confusion matrix row, but got {len(class_names)} names"
            f" for {confusion.shape[0]} rows."
        )


def _write_cell_counts(ax, image, confusion):
    for (row, column), count in np.ndenumerate(confusion):
        # Choose the text colour from the cell's brightness (ITU-R BT.601 luma), so counts stay readable.
        red, green, blue, _ = image.cmap(image.norm(count))
        luma = 0.299 * red + 0.587 * green + 0.114 * blue
        colour = "white" if luma < 0.5 else "black"
        ax.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=_CELL_FONT_SIZE)


def _accuracy_title(confusion):
    total = int(confusion.sum())
    if total == 0:
        return "Confusion matrix: no images"
    correct = int(np.trace(confusion))
    return f"Confusion matrix: accuracy {100 * correct / total:.1f}% ({correct:,} / {total:,})"


def _check_examples(images, labels, predictions, count):
    if count < 1:
        raise ValueError(f"Invalid count {count}. Expected at least 1 image to show.")
    if images.ndim != 3:
        raise ValueError(f"Invalid images shape {images.shape}. Expected (n, height, width).")
    if not len(images) == len(labels) == len(predictions):
        raise ValueError(
            "Expected the same number of images, labels and predictions, but got"
            f" {len(images)}, {len(labels)} and {len(predictions)}."
        )


def _draw_accuracy_curves(ax, records):
    steps = np.array([record["step"] for record in records])
    train_accuracy = 100 * np.array([record["train_accuracy"] for record in records])
    val_accuracy = 100 * np.array([record["val_accuracy"] for record in records])
    improved = np.array([bool(record["improved"]) for record in records])

    ax.plot(steps, train_accuracy, color="tab:blue", linewidth=1, alpha=0.7, label="training (last batch)")
    ax.plot(steps, val_accuracy, color="tab:orange", linewidth=1.5, label="validation")
    ax.plot(
        steps[improved],
        val_accuracy[improved],
        linestyle="none",
        marker="o",
        markersize=4,
        color="tab:orange",
        label="validation improved",
    )


def _mark_best_step(ax, last_record):
    best_step = last_record["best_step"]
    # best_step stays 0 until a chunk improves, so there is nothing to mark.
    if not best_step:
        return
    best_percent = 100 * last_record["best_accuracy"]
    ax.plot(
        best_step,
        best_percent,
        linestyle="none",
        marker="*",
        markersize=16,
        color="tab:red",
        label=f"best {best_percent:.1f}% at step {best_step:,}",
    )
