"""Run statuses as text for people: a table of runs and the details of one run."""

from pathlib import Path

from runner.report import format_duration

_TABLE_COLUMNS = ("RUN", "JOB", "STATE", "STEP", "BEST VAL ACC", "RESUMES", "TRAINED")
_SEGMENT_COLUMNS = ("#", "STEPS", "BEGAN (UTC)", "ENDED (UTC)", "OUTCOME", "PID", "HOST")
_REASONS = {"early_stop": "early stop", "max_steps": "max steps"}


def format_status_table(statuses):
    """Return one row per run, under a header, with columns as wide as their widest cell."""
    rows = [_table_row(entry) for entry in statuses]
    return _format_table(_TABLE_COLUMNS, rows)


def format_status_details(entry):
    """Return the full status of one run, its segments included, from `runner.status.read_status`."""
    fields = [
        ("run", entry["run"]),
        ("job", entry["job"]),
        ("state", _describe_state(entry)),
        ("step", f"{entry['step']:,} of {entry['max_steps']:,} (chunks of {entry['chunk_steps']:,})"),
        ("best val acc", _describe_best(entry)),
        ("last val acc", _percent(entry["last_val_accuracy"])),
        ("since improvement", f"{entry['steps_since_improvement']:,} of {entry['patience']:,} steps (patience)"),
        ("training time", _describe_training(entry)),
        ("strategy", f"{entry['strategy']}, {entry['replicas']} replica{'s' if entry['replicas'] != 1 else ''}"),
    ]
    holder = entry["lock_holder"]
    if holder:
        fields.append(("lock holder", f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"))
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"{name + ':':<{width}} {value}" for name, value in fields]

    if entry["segments"]:
        lines += ["", "segments:"]
        rows = [_segment_row(number, record) for number, record in enumerate(entry["segments"], start=1)]
        lines += ["  " + line for line in _format_table(_SEGMENT_COLUMNS, rows).splitlines()]
    return "\n".join(lines)


def _table_row(entry):
    return (
        entry["run"],
        Path(entry["job"]).stem,
        _describe_state(entry),
        f"{entry['step']:,} / {entry['max_steps']:,}",
        _describe_best(entry),
        str(entry["resumes"]),
        format_duration(entry["training_seconds"]) if entry["segments"] else "-",
    )


def _segment_row(number, record):
    return (
        str(number),
        f"{record['start_step']:,} to {record['end_step']:,}",
        _format_time(record["began"]),
        _format_time(record["ended"]),
        record["outcome"],
        str(record["pid"]),
        record["host"],
    )


def _format_table(columns, rows):
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    lines = []
    for row in (columns, *rows):
        lines.append("  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _describe_state(entry):
    if entry["state"] == "finished" and entry["finished_reason"]:
        return f"finished ({_REASONS[entry['finished_reason']]})"
    return entry["state"]


def _describe_best(entry):
    if entry["best_accuracy"] is None:
        return "-"
    return f"{_percent(entry['best_accuracy'])} at step {entry['best_step']:,}"


def _describe_training(entry):
    if not entry["segments"]:
        return "-"
    count = len(entry["segments"])
    return (
        f"{format_duration(entry['training_seconds'])} in {count} segment{'s' if count != 1 else ''}"
        f" ({entry['resumes']} resume{'s' if entry['resumes'] != 1 else ''})"
    )


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _format_time(timestamp):
    # Segment times are ISO 8601 in UTC with milliseconds; seconds suffice here.
    return timestamp.replace("T", " ")[:19] if timestamp else "-"
