"""The progress bar of ``Trainer.fit`` (rich), and its silent stand-in.

The bar shows the epoch, steps done out of the total, the last training loss read,
the last validation metrics, samples per second, elapsed time and an estimate of the
time left. It advances every step (host-side only); the numbers change when fit reads
the loss from the device (each epoch end, or every ``check_every`` steps).
"""

from __future__ import annotations

import sys
from typing import Any


class NullBar:
    """No output: used when the bar is off."""

    live = False  # True where the bar is drawn: fit then returns to the host twice a second

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def advance(self, epoch: int, steps: int = 1) -> None:
        pass

    def show(self, metrics: dict[str, Any]) -> None:
        pass


class RichBar(NullBar):
    """A one-line rich progress bar over ``total`` steps."""

    live = True

    def __init__(self, total: int):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
        )
        self._task = self._progress.add_task("fit", total=total, epoch=1, metrics="")

    def __enter__(self) -> RichBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def advance(self, epoch: int, steps: int = 1) -> None:
        self._progress.update(self._task, advance=steps, epoch=epoch)

    def show(self, metrics: dict[str, Any]) -> None:
        self._progress.update(self._task, metrics=format_metrics(metrics))


def format_metrics(metrics: dict[str, Any]) -> str:
    """``loss 0.0123 | val_accuracy 0.9611 | 51,200 samples/s`` from a History record."""
    parts = [
        f"{k} {metrics[k]:.4g}"
        for k in ("loss", "val_loss", "val_accuracy")
        if metrics.get(k) is not None
    ]
    if "samples_per_s" in metrics:
        parts.append(f"{metrics['samples_per_s']:,.0f} samples/s")
    return " | ".join(parts)


def progress_bar(enabled: bool | None, total: int) -> NullBar:
    """A RichBar when ``enabled`` (``None``: when stdout is a terminal and rich is
    installed), else a NullBar. ``enabled=True`` without rich raises ImportError."""
    if enabled is None:
        enabled = sys.stdout.isatty()
        if enabled:
            try:
                import rich  # noqa: F401
            except ImportError:
                enabled = False
    if not enabled:
        return NullBar()
    try:
        return RichBar(total)
    except ImportError as e:
        raise ImportError(
            "the progress bar needs rich: pip install 'nnkit[progress]' (or pass progress=False)"
        ) from e
