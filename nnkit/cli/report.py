"""What the commands print of a model's results: metrics on one line, and for classes the
confusion matrix; a table of many models' results."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np  # host-side: predictions and labels counted on the host

from ..metrics import confusion_matrix, format_confusion_matrix, labels_of


def print_metrics(label: str, result: dict[str, float]) -> None:
    """``label: loss 0.0123  accuracy 0.9800``."""
    print(f"{label}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))


def report_test(
    label: str, trainer: Any, rows: tuple[Any, ...], classes: int | None, names: Any = None
) -> Any:
    """Print the test metrics of ``rows`` (X, Y) or (X, Y, sample weights) and, for
    classification, the confusion matrix (classes named ``names``; rows counted once,
    whatever their weight); return it. One sigmoid output (xor) counts as class 1 above 0.5.
    With weights, the loss and the accuracy are weighted means."""
    X, Y, *weights = rows
    w = weights[0] if weights else None
    result = trainer.evaluate(X, Y, sample_weight=w)
    if classes is None:
        print_metrics(label, result)
        return None
    pred = trainer.backend.to_numpy(trainer.predict(X))
    Y = np.asarray(Y)
    if pred.shape[1] == 1:
        pred, Y = (pred[:, 0] > 0.5).astype(np.int64), Y.reshape(-1)
    predicted, Y = labels_of(pred), Y.astype(np.int64)
    counts = confusion_matrix(predicted, Y, k=classes)
    result["accuracy"] = float(np.average(predicted == Y, weights=w))
    print_metrics(label, result)
    print(format_confusion_matrix(counts, names))
    return counts


def print_table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    """``rows`` (dicts) as a table of ``columns``: a rich table on a terminal (where rich is
    installed), else plain aligned lines (logs, pipes, files)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(*columns)
            for line in cells:
                table.add_row(*line)
            Console().print(table)
            return
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    """A table cell: numbers in 4 significant digits, booleans yes or no, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
