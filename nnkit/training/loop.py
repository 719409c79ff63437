"""The loop of one ``Trainer.fit`` call: whole epochs in one compiled program where nothing
needs the host in between, else epochs of minibatch steps (one at a time, or runs of them in
one fused scan); the data position, checks, callbacks, progress and Ctrl-C.

Epoch e visits the samples in ``data.epoch_order(seed, e)``; the last minibatch of an epoch
may be smaller, and a fit that stops mid-epoch is continued mid-epoch by the next one.
The loss is read from the device only at checks: at each epoch's end, every
``check_every`` steps and at each step a callback's ``every`` names.

The trainer may be a stack of K models (a ``Sweep``): its ``seed`` is then the K seeds, each
epoch's rows are gathered for every model by its own order (``data.take_rows``: (n, K,
...)), and the losses and validation metrics of its records are lists, one per model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np  # host-side: the epoch orders are drawn on the host

from ..data import epoch_order, next_position, take_rows
from .callbacks import Callback
from .guard import Guard, NonFiniteLossError
from .history import History
from .progress import progress_bar
from .state import TrainState


@dataclasses.dataclass(eq=False, kw_only=True)
class Run:
    """What one ``fit`` call trains on and how. ``step``: the trainer's step for its strategy;
    ``fused``: the FusedEpoch for runs of steps in one scan, and ``program``: the FusedFit
    for whole epochs in one program (None: stepwise); ``validate``: the validation metrics
    read on the host, ``val``: the prepared validation data (X_val, T_val, classes?, w_val)
    for the program to compute them. ``w``: the sample weights (n,) or None."""

    X: Any
    T: Any
    w: Any
    batch_size: int
    shuffle: bool
    step: Callable
    steps: int
    check_every: int | None
    callbacks: list[Callback]
    validate: Callable[[], dict[str, float]] | None
    fused: Any = None
    program: Any = None
    val: Any = None

    @property
    def rows(self) -> tuple[Any, ...]:
        """The row-aligned arrays of the data set: (X, T), or (X, T, w) with weights."""
        return (self.X, self.T) if self.w is None else (self.X, self.T, self.w)


class Loop:
    """Runs ``run`` on ``trainer``: each step starts from ``trainer.state`` and hands the new
    TrainState to ``commit`` (the trainer's one writer), so callbacks read the state of the
    last completed step. The trainer's ``history`` (new for this fit) gets the records."""

    def __init__(self, trainer: Any, run: Run, guard: Guard, commit: Callable[[TrainState], None]):
        self.trainer, self.run, self.guard, self.commit = trainer, run, guard, commit
        self.remaining = run.steps
        self.good: TrainState | None = None  # the last state that passed the NaN guard
        # the state this fit committed from its own arrays, not shared with the caller or a
        # snapshot: the steps may update it in place (NumPy) or consume it (JAX donation);
        # any other state is copied before a step (the whole-fit program needs no copy)
        self.own: TrainState | None = None
        self.start = time.perf_counter()
        self.bar: Any = None
        self.interrupted: Callable[[], bool] = bool
        self.epochs_per_call = 1  # with a live progress bar: about half a second of epochs
        self._measured = False  # whether a program ran (compiled) already in this fit
        self.plan: tuple[int, int, Any] | None = None  # made by the fit's first program

    def __call__(self, progress: bool | None) -> History:
        trainer, run = self.trainer, self.run
        history = trainer.history
        self.good = trainer.state  # the originals, never changed by the fit: the first snapshot
        with progress_bar(progress, run.steps) as self.bar, sigint_deferred() as self.interrupted:
            for cb in run.callbacks:
                cb.on_fit_start(trainer)
            while self.remaining and not trainer.stop_training:
                if self.interrupted():
                    raise KeyboardInterrupt
                epochs, tail = self._whole_epochs()
                records = self._program(epochs, tail) if epochs else [self._validated_epoch()]
                for record in records:
                    history.append(record)
                    self.bar.show(record)
                    for cb in run.callbacks:
                        cb.on_epoch_end(trainer, record)
            for cb in run.callbacks:
                cb.on_fit_end(trainer, history)
            if self.interrupted():  # Ctrl-C after the last step: still the user's to see
                raise KeyboardInterrupt
        return history

    def _whole_epochs(self) -> tuple[int, int]:
        """(whole epochs, steps of one more) to run now as one program: as many as remain,
        one epoch where a callback needs each epoch's end, about half a second's worth under
        a live progress bar, the steps that end the fit mid-epoch with the last ones; none
        mid-epoch, without a program, or when checks fall inside epochs."""
        trainer, run = self.trainer, self.run
        n = run.X.shape[0]
        if run.program is None or next_position(trainer.position, n)[1] != 0:
            return 0, 0
        if run.check_every or any(cb.every for cb in run.callbacks):
            return 0, 0
        per_epoch = math.ceil(n / run.batch_size)
        epochs = self.remaining // per_epoch
        if run.callbacks:
            epochs = min(epochs, 1)
        if self.bar.live:
            epochs = min(epochs, self.epochs_per_call)
        left = self.remaining - epochs * per_epoch
        return epochs, (left if left < per_epoch else 0)

    def _program(self, epochs: int, tail: int) -> list[dict[str, Any]]:
        """``epochs`` whole epochs and ``tail`` steps of one more in one compiled call; their
        History records, built from the per-epoch arrays it returns (one host read). A
        non-finite epoch: the records before it are kept, and the guard replays from the
        last snapshot to the bad step."""
        trainer, run, backend = self.trainer, self.run, self.trainer.backend
        n, size = run.X.shape[0], run.batch_size
        per_epoch = math.ceil(n / size)
        state = trainer.state
        first = next_position(state.position, n)[0]
        if self.plan is None:
            self.plan = self._plan(first)
        start_epoch, capacity, orders = self.plan
        start = time.perf_counter()
        params, opt_state, out = run.program(
            state.params, state.opt_state, rows=run.rows, orders=orders,
            first=first - start_epoch, count=epochs, capacity=capacity, batch_size=size,
            val=run.val, tail=tail,
        )  # fmt: skip
        loss_sums, finite, val_loss, val_acc = (backend.to_numpy(a) for a in out)
        seconds = time.perf_counter() - start
        if self.bar.live and self._measured:
            self.epochs_per_call = max(1, int(epochs * 0.5 / seconds))
        self._measured = True  # from the second call on: the first one compiles
        samples = [n] * epochs + ([tail * size] if tail else [])
        per_sample_s = seconds / sum(samples)
        steps = epochs * per_epoch + tail
        # the program's outputs are new arrays that nothing else changes: the snapshot holds
        # them as they are, and a step that follows works on a copy
        position = (first + len(samples) - 1, samples[-1])
        end = TrainState(params, opt_state, state.steps_done + steps, position)
        records, done, steps_done = [], 0, state.steps_done
        for i, rows in enumerate(samples):
            steps_done += per_epoch if i < epochs else tail
            done += rows
            row = i if i < epochs else capacity  # where the program put the epoch's record
            if not finite[row]:
                for record in records:
                    trainer.history.append(record)
                raise self._replay(failed_at=steps_done, current=end)
            record = {
                "epoch": first + i + 1,
                "step": steps_done,
                "loss": per_row(loss_sums[row], rows),
                "samples_per_s": 1 / per_sample_s,
                "time_s": rows * per_sample_s,
                "elapsed_s": start - self.start + done * per_sample_s,
            }
            if run.val is not None:
                record["val_loss"] = per_row(val_loss[row])
                if run.val[2]:
                    record["val_accuracy"] = per_row(val_acc[row])
            if i == epochs:
                record["partial"] = True
            records.append(record)
        self.remaining -= steps
        self.bar.advance(first + len(samples), steps)
        self.good = end
        self.commit(self.good)
        return records

    def _plan(self, first: int) -> tuple[int, int, Any]:
        """At the fit's first program: (its first epoch, the programs' capacity: the whole
        epochs left rounded up to a power of two, so that fits of similar length share one
        program; the orders of every epoch left, one host-to-device transfer, or None)."""
        trainer, run = self.trainer, self.run
        n = run.X.shape[0]
        per_epoch = math.ceil(n / run.batch_size)
        whole, rest = divmod(self.remaining, per_epoch)
        capacity = 1 << max(whole - 1, 0).bit_length()
        orders = None
        if run.shuffle:
            used = [epoch_order(trainer.seed, first + j, n) for j in range(whole + bool(rest))]
            host = np.zeros((capacity + 1, *used[0].shape), dtype=np.int64)  # unused stay 0
            host[: len(used)] = used
            orders = trainer.backend.asarray(host)
        return first, capacity, orders

    def _validated_epoch(self) -> dict[str, Any]:
        """One epoch (or what remains of it) step by step, with validation on the host."""
        record = self._epoch()
        if self.run.validate is not None:
            record.update({f"val_{k}": v for k, v in self.run.validate().items()})
            record["elapsed_s"] = time.perf_counter() - self.start
        return record

    def _epoch(self) -> dict[str, Any]:
        """Steps until the epoch ends, the run runs out or a callback stops training; returns
        the epoch's record. An interrupt records the steps done so far, then propagates."""
        trainer, run = self.trainer, self.run
        n = run.X.shape[0]
        epoch, offset = next_position(trainer.state.position, n)
        rows = run.rows  # shuffle=False: the data order itself, no gather
        if run.shuffle:
            order = trainer.backend.asarray(epoch_order(trainer.seed, epoch, n, run.shuffle))
            rows = tuple(take_rows(a, order) for a in rows)
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        try:
            while offset < n and self.remaining and not trainer.stop_training:
                if self.interrupted():
                    raise KeyboardInterrupt
                k, stop, loss = self._steps(rows, epoch, offset)
                loss_sum = loss_sum + loss
                seen, offset, self.remaining = seen + stop - offset, stop, self.remaining - k
                self.bar.advance(epoch + 1, k)
                self._after_step(loss_sum, seen)
        except KeyboardInterrupt:
            if seen:
                trainer.history.append(self._record(epoch, offset < n, loss_sum, seen, start))
            raise
        self._check(loss_sum)
        return self._record(epoch, offset < n, loss_sum, seen, start)

    def _steps(self, rows: tuple[Any, ...], epoch: int, offset: int) -> tuple[int, int, Any]:
        """The next steps of epoch ``epoch`` over ``rows`` (X, T[, w] in its order) from row
        ``offset``: k full minibatches in one fused scan where the run has one (up to the
        next check), else one step; commits the state after them. Returns (k, the row after
        them, their loss summed over rows)."""
        run, size, n = self.run, self.run.batch_size, rows[0].shape[0]
        k = min(self.remaining, (n - offset) // size, self._steps_to_next_check())
        state = self.trainer.state
        params, opt_state = state.params, state.opt_state
        if state is not self.own:
            params, opt_state = self.guard.copy((params, opt_state))
        if run.fused is None or k == 0:
            k, stop = 1, min(offset + size, n)
            batch = tuple(a[offset:stop, ...] for a in rows)
            params, opt_state, loss = run.step(params, opt_state, *batch)
            loss = loss * (stop - offset)
        else:
            stop = offset + k * size
            if offset:  # from an epoch's start the arrays go in whole (the scan takes its
                # first k minibatches): no slice to dispatch, one compilation per k
                rows = tuple(a[offset:stop, ...] for a in rows)
            params, opt_state, loss = run.fused(params, opt_state, *rows, batch_size=size, steps=k)
        self.own = TrainState(params, opt_state, state.steps_done + k, (epoch, stop))
        self.commit(self.own)
        return k, stop, loss

    def _after_step(self, loss_sum: Any, seen: int) -> None:
        """At the steps a callback's ``every`` or ``check_every`` names: guard, then callbacks."""
        done, every = self.trainer.steps_done, self.run.check_every
        due = [cb for cb in self.run.callbacks if cb.every and done % cb.every == 0]
        if due or (every and done % every == 0):
            self._check(loss_sum)
            self.bar.show({"loss": per_row(self.trainer.backend.to_numpy(loss_sum), seen)})
            for cb in due:
                cb.on_step(self.trainer)

    def _check(self, loss_sum: Any) -> None:
        """The NaN guard: a new snapshot if the loss and params are finite (none after the last
        step: no replay can need it); otherwise replay from the last and raise."""
        state = self.trainer.state
        if self.guard.finite(loss_sum, state.params):
            if self.remaining:
                self.good = self.guard.snapshot(state)
            return
        raise self._replay(failed_at=state.steps_done, current=state)

    def _replay(self, failed_at: int, current: TrainState) -> NonFiniteLossError:
        """The guard's replay from the last snapshot up to step ``failed_at`` (``current``:
        the state the failed check saw): commits the state just before the first bad step
        and returns that step's error."""
        run = self.run
        state, error = self.guard.replay(
            self.good, failed_at=failed_at, rows=run.rows, batch_size=run.batch_size,
            shuffle=run.shuffle, seed=self.trainer.seed, step=run.step, current=current,
        )  # fmt: skip
        self.commit(state)
        return error

    def _steps_to_next_check(self) -> int:
        """Steps until the next step that ``check_every`` or a callback's ``every`` names."""
        done = self.trainer.steps_done
        periods = [cb.every for cb in self.run.callbacks if cb.every] + [self.run.check_every or 0]
        return min((p - done % p for p in periods if p), default=self.remaining)

    def _record(self, epoch: int, partial: bool, loss_sum: Any, seen: int, start: float):
        """The History record of an epoch (one host sync: the summed loss)."""
        backend = self.trainer.backend
        loss = per_row(backend.to_numpy(backend.sync(loss_sum)), seen)
        now = time.perf_counter()
        record = {
            "epoch": epoch + 1,
            "step": self.trainer.steps_done,
            "loss": loss,
            "samples_per_s": seen / (now - start),
            "time_s": now - start,
            "elapsed_s": now - self.start,
        }
        if partial:
            record["partial"] = True
        return record


def per_row(total: Any, rows: int = 1) -> float | list[float]:
    """A host value (a NumPy number or array) summed over ``rows`` rows as their mean: a
    float, or a list of floats, one per model of a stack."""
    a = np.asarray(total)
    return float(a) / rows if a.ndim == 0 else [float(v) / rows for v in a]


@contextlib.contextmanager
def sigint_deferred() -> Iterator[Callable[[], bool]]:
    """Inside, Ctrl-C only sets a flag (read with the yielded function) so that fit can stop
    between two steps; a second Ctrl-C raises at once. No change outside the main thread
    or when SIGINT already has a handler other than Python's default."""
    hits: list[int] = []

    def handler(signum, frame):
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: False
        return
    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)
