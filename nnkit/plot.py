"""Training curves (and a confusion matrix) as a PNG, drawn with matplotlib (an extra).

Left panel: training loss per epoch and, when recorded, validation loss, against the
step count (log scale when the loss spans more than a decade); validation accuracy on a
right-hand axis. Right panel, for classification: the confusion matrix as a heat map with
the counts written in the cells (rows: true class, columns: predicted class).
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np  # host-side: the confusion matrix

from .errors import MissingDependencyError
from .io import atomic_write
from .training.history import History

INSTALL = "pip install 'nnkit[plot]'"
"""The command that installs what plots need (matplotlib)."""


def require_matplotlib() -> None:
    """Check that matplotlib is installed (``nnkit train --plot`` does, before training).

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed; the message gives the install command.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(
            f"plotting needs matplotlib, which is not installed: {INSTALL}"
        ) from e


def plot_training(
    path: str | os.PathLike,
    history: History,
    confusion: Any = None,
    title: str | None = None,
) -> None:
    """Write the training curves (and a confusion matrix) as a PNG, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The PNG file.
    history : History
        A fit's records: the curves of ``loss`` (and ``val_loss``, ``val_accuracy``)
        against ``step``.
    confusion : array_like of shape (k, k), optional
        Confusion counts for the right panel (rows: true classes).
    title : str, optional
        The figure's title.

    Raises
    ------
    MissingDependencyError
        matplotlib is not installed.
    OSError
        The file cannot be written.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    panels = 1 if confusion is None else 2
    fig = Figure(figsize=(6 * panels, 4.5), layout="constrained")
    ax = fig.add_subplot(1, panels, 1)
    steps = history["step"]
    ax.plot(steps, history["loss"], label="training loss", color="tab:blue")
    losses = list(history["loss"])
    if "val_loss" in history.keys():
        ax.plot(steps, history["val_loss"], label="validation loss", color="tab:orange")
        losses += history["val_loss"]
    positive = [v for v in losses if v > 0]
    if positive and max(positive) > 10 * min(positive):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if "val_accuracy" in history.keys():
        acc = ax.twinx()
        acc.plot(steps, history["val_accuracy"], label="validation accuracy", color="tab:green")
        acc.set_ylabel("accuracy")
        acc.set_ylim(0, 1)
        more = acc.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3, frameon=False
    )
    ax.set_title(title or "training")
    ax.grid(alpha=0.3)
    if confusion is not None:
        _draw_confusion(fig.add_subplot(1, 2, 2), np.asarray(confusion))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    atomic_write(path, buffer.getvalue())


def _draw_confusion(ax: Any, counts: np.ndarray) -> None:
    k = counts.shape[0]
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.3f})")
    threshold = counts.max() / 2
    for (i, j), c in np.ndenumerate(counts):
        ax.text(
            j,
            i,
            str(c),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if c > threshold else "black",
        )
