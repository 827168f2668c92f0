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


def describe_status(entry):
    """Return the one-line status of a run, from `runner.status.read_status`."""
    best = "-"
    if entry["best_accuracy"] is not None:
        best = f"{100 * entry['best_accuracy']:.1f}% at step {entry['best_step']:,}"
    line = (
        f"{entry['run']:<20} {entry['state']:<9} step {entry['step']:>6,} / {entry['max_steps']:,}"
        f" | best {best} | {entry['steps_since_improvement']:,} / {entry['patience']:,} steps since improvement"
    )
    if entry["finished_reason"]:
        line += f" | {entry['finished_reason']}"
    if entry["segments"]:
        line += f" | {entry['resumes']} resumes, trained {format_duration(entry['training_seconds'])}"
    holder = entry["lock_holder"]
    if holder:
        line += f" | held by pid {holder.get('pid')} on {holder.get('host')}"
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


def report_as_dict(report):
    """Return an EvaluationReport as a JSON-ready dict."""
    return {
        "step": report.step,
        "val_accuracy": report.val_accuracy,
        "test_accuracy": report.accuracy,
        "correct": report.correct,
        "total": report.total,
        "class_names": list(report.class_names),
        "confusion_matrix": report.confusion.tolist(),
    }
