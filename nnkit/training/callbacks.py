"""Callbacks for ``Trainer.fit``: early stopping, periodic checkpoints, a CSV log of the
epochs, user hooks.

``fit`` calls, on each callback: ``on_fit_start(trainer)``; ``on_step(trainer)`` every
``callback.every`` steps (``None``: never), after the NaN guard has checked the step;
``on_epoch_end(trainer, record)`` with the epoch's History record; ``on_fit_end(trainer,
history)`` when fit returns normally. A hook reads the state of the last completed step
(``trainer.state``, ``trainer.params``, ``trainer.steps_done`` ...) and changes it only
through ``trainer.restore(state)``. Setting ``trainer.stop_training = True`` ends ``fit``
after the current step.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from typing import Any

from .. import checks
from ..backends import processes
from ..errors import InvalidTypeError, InvalidValueError
from ..tree import tree_copy


class Callback:
    """Base class: every hook does nothing."""

    every: int | None = None

    def on_fit_start(self, trainer: Any) -> None:
        pass

    def on_step(self, trainer: Any) -> None:
        pass

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        pass


class LambdaCallback(Callback):
    """A plain function ``fn(trainer, record)`` called at the end of every epoch."""

    def __init__(self, fn: Callable[[Any, dict[str, Any]], Any]):
        self.fn = fn

    def on_epoch_end(self, trainer, record):
        self.fn(trainer, record)


def as_callback(obj: Any) -> Callback:
    """A Callback as it is; a callable ``fn(trainer, record)`` as a LambdaCallback."""
    if isinstance(obj, Callback):
        return obj
    if callable(obj):
        return LambdaCallback(obj)
    raise InvalidTypeError(
        f"a callback must be an nnkit Callback or a function (trainer, record), "
        f"got {type(obj).__name__}"
    )


class EarlyStopping(Callback):
    """Stop when ``monitor`` (a History key, e.g. ``"val_loss"``) has not improved by more
    than ``min_delta`` for ``patience`` epochs; with ``restore_best`` the trainer ends with
    the parameters of the best epoch (its optimizer state, step count and data position
    stay those of the last step). ``mode``: "min", "max", or "auto" (max for keys
    containing "acc", min otherwise)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        *,
        mode: str = "auto",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        self.patience = checks.check_positive_int("EarlyStopping patience", patience)
        checks.check_choice("EarlyStopping mode", mode, ("auto", "min", "max"))
        self.min_delta = checks.check_nonnegative("EarlyStopping min_delta", min_delta)
        self.monitor = monitor
        self.restore_best = restore_best
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0

    def on_fit_start(self, trainer):
        self.best, self.best_epoch, self.best_params, self.wait = math.inf, None, None, 0

    def on_epoch_end(self, trainer, record):
        if self.monitor not in record:
            raise InvalidValueError(
                f"EarlyStopping monitors {self.monitor!r}, which the epoch record lacks "
                f"(it has {sorted(record)}); pass validation_data= to fit for val_* keys"
            )
        if isinstance(record[self.monitor], list):
            raise InvalidValueError(
                f"EarlyStopping monitors one model's {self.monitor!r}; a Sweep's records hold "
                "one value per model: stop a sweep from a callback of your own "
                "(sweep.stop_training = True)"
            )
        value = self.sign * record[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, record["epoch"], 0
            if self.restore_best:
                self.best_params = tree_copy(trainer.params)
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training = True

    def on_fit_end(self, trainer, history):
        if self.best_params is not None:
            trainer.restore(trainer.state.replace(params=self.best_params))

    @property
    def best_value(self) -> float:
        """The best value of ``monitor`` seen (in its own sign)."""
        return self.sign * self.best


class Checkpoint(Callback):
    """Save the trainer (``Trainer.save``: model, parameters, optimizer state and data
    position) every ``every`` steps to ``path``; ``path`` may contain ``{step}``. Training
    resumed with ``Trainer.load(path).fit(...)`` continues exactly as if uninterrupted."""

    def __init__(self, path: str, every: int):
        self.path, self.every = str(path), checks.check_positive_int("Checkpoint every", every)
        self.saved: list[str] = []

    def on_step(self, trainer):
        path = self.path.format(step=trainer.steps_done)
        trainer.save(path)
        self.saved.append(path)


class CSVLogger(Callback):
    """One CSV row per epoch, as Keras's ``CSVLogger`` writes them: a header ``epoch`` then
    the record's other keys sorted (``loss``, ``val_loss`` ...), then the History record of
    each epoch (``epoch`` as nnkit counts it, from 1), flushed as it ends, so a run stopped
    or killed keeps its rows. ``append``: add to an existing file (no second header).
    In a run of several processes only process 0 writes."""

    def __init__(self, path: str | os.PathLike, separator: str = ",", append: bool = False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise InvalidValueError(f"separator must be one character, got {separator!r}")
        self.path, self.separator, self.append = os.fspath(path), separator, bool(append)
        self._file: Any = None
        self._writer: Any = None

    def on_fit_start(self, trainer):
        if processes.index() != 0:
            return
        header = not (self.append and os.path.exists(self.path) and os.path.getsize(self.path))
        self._file = open(self.path, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer, self._header = None, header

    def on_epoch_end(self, trainer, record):
        if self._file is None:
            return
        if self._writer is None:
            keys = ["epoch", *sorted(k for k in record if k != "epoch")]
            self._writer = csv.DictWriter(self._file, keys, delimiter=self.separator,
                                          extrasaction="ignore", restval="")  # fmt: skip
            if self._header:
                self._writer.writeheader()
        self._writer.writerow(record)
        self._file.flush()

    def on_fit_end(self, trainer, history):
        if self._file is not None:
            self._file.close()
            self._file = None
