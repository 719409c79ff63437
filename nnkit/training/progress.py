"""Progress of ``Trainer.fit``: a rich bar on a terminal, plain lines in logs, or nothing.

The rich bar shows the epoch, steps done out of the total, the last training loss read,
the last validation metrics, samples per second, elapsed time and an estimate of the
time left. It advances every step (host-side only); the numbers change when fit reads
the loss from the device (each epoch end, or every ``check_every`` steps).

Where nothing can draw a bar (a pipe, a file, ``nohup``, a CI log), ``LineBar`` prints the
same facts as one plain, flushed line about every tenth of the run.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO


class NullBar:
    """No output: used when progress is off."""

    # True where progress is shown while fit runs: fit then returns to the host about twice
    # a second (a compiled JAX fit runs in chunks of about half a second)
    live = False

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


class LineBar(NullBar):
    """Plain progress lines for logs: one each time the run passes another tenth of its
    steps (and after ``heartbeat_s`` seconds without a line), one at the end, each flushed::

        epoch 96 | step 2000/20000 (10%) | 0:00:01 elapsed, eta 0:00:09 | loss 0.0123 | ...

    A line that falls due waits for the next metrics fit reads (the end of the epoch or of
    the compiled chunk) for up to ``wait_s`` seconds, so that it shows current numbers.
    ``live`` is True: a compiled JAX fit then runs in chunks of about half a second (as
    under the rich bar), else it would run as one program and every line would come at
    the end.
    """

    live = True

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        parts: int = 10,
        heartbeat_s: float = 300.0,
        wait_s: float = 1.0,
    ):
        self.total, self.parts = max(1, total), parts
        self.stream = stream if stream is not None else sys.stdout
        self.heartbeat_s, self.wait_s = heartbeat_s, wait_s
        self.done, self.epoch, self.printed = 0, 1, 0
        self.metrics: dict[str, Any] = {}
        self.due_since: float | None = None  # when a line fell due, while it waits for metrics
        self.start = self.last_line = time.perf_counter()

    def __enter__(self) -> LineBar:
        self.start = self.last_line = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.done > self.printed:  # the end (or where an error or Ctrl-C stopped it)
            self._line()

    def advance(self, epoch: int, steps: int = 1) -> None:
        now = time.perf_counter()
        self.done, self.epoch = self.done + steps, epoch
        if self.due_since is None:
            tenth = self.done * self.parts // self.total > self.printed * self.parts // self.total
            if tenth or now - self.last_line >= self.heartbeat_s:
                self.due_since = now
        elif now - self.due_since >= self.wait_s:  # a long epoch: the last metrics read
            self._line()

    def show(self, metrics: dict[str, Any]) -> None:
        self.metrics.update(metrics)
        # a compiled chunk's records come after its advance: wait for the chunk's last one
        if self.due_since is not None and metrics.get("epoch", self.epoch) >= self.epoch:
            self._line()

    def _line(self) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        eta = elapsed * (self.total - self.done) / self.done if self.done else math.nan
        parts = [
            f"epoch {self.epoch}",
            f"step {self.done}/{self.total} ({100 * self.done // self.total}%)",
            f"{clock(elapsed)} elapsed, eta {clock(eta)}",
        ]
        metrics = format_metrics(self.metrics)
        print(" | ".join(parts + ([metrics] if metrics else [])), file=self.stream, flush=True)
        self.printed, self.last_line, self.due_since = self.done, now, None


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``-:--:--`` when unknown)."""
    if not math.isfinite(seconds):
        return "-:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_metrics(metrics: dict[str, Any]) -> str:
    """``loss 0.0123 | val_accuracy 0.9611 | 51,200 samples/s`` from a History record; a
    Sweep's record (a list per metric, one value per model) shows each metric's best:
    ``loss 0.0123 (best of 16)``."""
    parts = [
        _metric(k, metrics[k])
        for k in ("loss", "val_loss", "val_accuracy")
        if metrics.get(k) is not None
    ]
    if "samples_per_s" in metrics:
        parts.append(f"{metrics['samples_per_s']:,.0f} samples/s")
    return " | ".join(parts)


def _metric(key: str, value: Any) -> str:
    """``key value``; for one value per model, the best finite one (the highest accuracy,
    the lowest loss) and the count."""
    if not isinstance(value, list):
        return f"{key} {value:.4g}"
    finite = [v for v in value if math.isfinite(v)]
    best = (max if "acc" in key else min)(finite) if finite else math.nan
    return f"{key} {best:.4g} (best of {len(value)})"


def _rich_can_draw() -> bool:
    """Whether stdout is somewhere a rich bar draws (a terminal, or a Jupyter notebook) and
    rich is installed; rich is imported only to find out."""
    tty, notebook = sys.stdout.isatty(), "ipykernel" in sys.modules
    if not (tty or notebook):
        return False
    try:
        import rich.console
    except ImportError:
        return False
    return tty or rich.console.Console().is_jupyter


def progress_bar(enabled: bool | None, total: int) -> NullBar:
    """The progress display of a fit of ``total`` steps.

    ``None``: a RichBar when stdout is a terminal and rich is installed, else nothing
    (a NullBar). ``True``: a RichBar where rich can draw one (a terminal, a Jupyter
    notebook), else plain lines (a LineBar: pipes, files, nohup, CI logs). ``False``: nothing.
    """
    if enabled is None:
        return RichBar(total) if sys.stdout.isatty() and _rich_can_draw() else NullBar()
    if not enabled:
        return NullBar()
    return RichBar(total) if _rich_can_draw() else LineBar(total)
