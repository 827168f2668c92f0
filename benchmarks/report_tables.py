"""Markdown tables and median, min and max summaries for the benchmark reports."""

import statistics


def summarize(values, template, *, scale=1):
    """Return the median, min and max of `values`, each multiplied by `scale` and formatted with `template`."""
    return [template.format(scale * value) for value in (statistics.median(values), min(values), max(values))]


def format_table(headers, rows):
    """Return a Markdown table with one column per header."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
