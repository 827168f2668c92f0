"""Human-readable lines for run summaries, statuses and evaluation reports."""


def describe_finish(summary):
    """Return the final line of a finished start or resume."""
    reason = {"early_stop": "early stop", "max_steps": "max steps reached"}[summary.finished_reason]
    best = "no improvement"
    if summary.best_accuracy is not None:
        best = f"best val acc {100 * summary.best_accuracy:.1f}% at step {summary.best_step:,}"
    line = f"finished: {reason} at step {summary.step:,}; {best}"
    if summary.steps_trained:
        line += f"; trained {summary.steps_trained:,} steps in {format_duration(summary.elapsed_seconds)}"
    return line


def format_duration(seconds):
    """Format seconds as `1h 02m 03s`, `2m 03s` or `3s`."""
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def format_confusion(report):
    """Return the confusion matrix as a table with class names on both axes."""
    names = [name[:11] for name in report.class_names]
    width = max(6, max(len(name) for name in names))
    header = " " * (width + 2) + " ".join(f"{name:>{width}}" for name in names)
    lines = ["Confusion matrix (rows: true label, columns: predicted label):", header]
    for name, row in zip(names, report.confusion):
        lines.append(f"{name:>{width}}  " + " ".join(f"{count:>{width}d}" for count in row))
    return "\n".join(lines)


def format_evaluation(report):
    """Return the lines that `runner evaluate` prints for an EvaluationReport."""
    where = (
        f"validation accuracy {100 * report.val_accuracy:.1f}%" if report.val_accuracy is not None else "no validation"
    )
    lines = [
        f"{report.slot.capitalize()} weights: step {report.step:,} ({where})",
        f"Test accuracy: {100 * report.accuracy:.1f}% ({report.correct:,} / {report.total:,})",
        "",
        "Per-class accuracy:",
    ]
    width = max(len(name) for name in report.class_names)
    for label, name in enumerate(report.class_names):
        correct = int(report.confusion[label, label])
        total = int(report.confusion[label].sum())
        accuracy = f"{100 * correct / total:5.1f}%" if total else "    -"
        lines.append(f"  {name:<{width}}  {accuracy} ({correct:,} / {total:,})")
    lines += ["", format_confusion(report)]
    return lines


def report_as_dict(report):
    """Return an EvaluationReport as a JSON-ready dict."""
    correct = report.confusion.diagonal()
    totals = report.confusion.sum(axis=1)
    return {
        "slot": report.slot,
        "step": report.step,
        "val_accuracy": report.val_accuracy,
        "test_accuracy": report.accuracy,
        "correct": report.correct,
        "total": report.total,
        "class_names": list(report.class_names),
        "class_accuracy": [
            {
                "class": name,
                "accuracy": int(right) / int(total) if total else None,
                "correct": int(right),
                "total": int(total),
            }
            for name, right, total in zip(report.class_names, correct, totals)
        ],
        "confusion_matrix": report.confusion.tolist(),
    }
