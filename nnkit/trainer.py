"""Trainer: minibatch training with the per-sample or the batched (design-matrix) strategy."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import backends, precision, validation
from . import fused as fused_module
from ._ns import namespace
from .callbacks import as_callback
from .data import epoch_order, one_hot
from .guard import NonFiniteLossError, finite
from .history import History
from .losses import CrossEntropy, Loss
from .metrics import accuracy
from .model import Sequential
from .optim import Optimizer
from .progress import progress_bar
from .tree import tree_copy, tree_map


class Trainer:
    """Trains ``model`` on ``loss`` with ``optimizer``; owns ``params`` and ``opt_state``.

    ``strategy="batched"``: one forward/backward of the whole minibatch (Y = X @ W + b).
    ``strategy="per_sample"``: the lecture's loop, one row at a time, gradients
    averaged over the minibatch before the step. Both give the same gradients.

    ``dtype``: "float32" or "float64" for everything, or "bfloat16" for mixed precision
    (float32 master weights and optimizer state, bfloat16 forward/backward; JAX only):
    ``policy`` holds the two dtypes (see ``nnkit.precision``).

    State: ``params``, ``opt_state``, ``steps_done``, the data position (where the next
    ``fit`` step starts), ``history`` (the last fit's History) and ``stop_training`` (set
    by callbacks). ``save(path)`` / ``Trainer.load(path)`` keep all of it.

    ``fit`` trains a copy of ``params`` and ``opt_state`` that it owns: arrays held before a
    fit never change. During a fit the steps update that copy in place on backends with
    ``inplace`` (NumPy) and consume it on JAX (donation), so a callback that keeps params
    across steps keeps a copy (``nnkit.tree.tree_copy``).
    """

    def __init__(
        self,
        model: Sequential,
        loss: Loss,
        optimizer: Optimizer,
        *,
        backend: str | backends.Backend | None = None,
        strategy: str = "batched",
        seed: int = 0,
        dtype: str = "float32",
    ):
        validation.check_instance("model", model, Sequential)
        validation.check_instance("loss", loss, Loss)
        validation.check_instance("optimizer", optimizer, Optimizer)
        validation.check_choice("strategy", strategy, validation.STRATEGIES)
        validation.check_choice("dtype", dtype, precision.DTYPES)
        validation.check_seed(seed)
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.backend = backends.get(backend)
        self.policy = precision.policy(dtype, self.backend)
        self.strategy, self.seed, self.dtype = strategy, seed, dtype
        self.params = model.init(seed=seed, backend=self.backend, dtype=self.policy.param)
        self.opt_state = optimizer.init(self.params)
        self.steps_done = 0
        self._position = (0, 0)  # (epoch, sample offset) where the next fit step starts
        self.history = History()
        self.stop_training = False
        jit = self.backend.jit
        self._update = optimizer.step  # in place where the backend can: fit owns its arrays
        if self.backend.inplace:
            self._update = functools.partial(optimizer.step_inplace, updates=self.backend.updates())
        self._batched_step = jit(self._batched_step_fn, donate_argnums=(0, 1))
        self._sample_grads = jit(self._sample_grads_fn)
        self._apply = jit(self._update, donate_argnums=(0, 2))
        self._predict = jit(self._predict_fn)
        self._checked = None  # (X, Y, X', T) of the last _inputs call, where reusable
        self._fused_epoch = None  # built on the first fit(fused=True)
        self._finite = jit(finite)
        self._copy = jit(tree_copy)  # one compiled call on JAX

    # -- the maths of one step ------------------------------------------------

    def _batched_step_fn(self, params, opt_state, X, T):
        grads, loss = self._sample_grads_fn(params, X, T)
        params, opt_state = self._update(params, grads, opt_state)
        return params, opt_state, loss

    def _sample_grads_fn(self, params, x, t):
        """(grads, loss): forward and backward in the policy's compute dtype, the loss, its
        gradient and the returned grads in the parameter dtype (see ``nnkit.precision``).
        The input gradient of the first layer is not computed: nothing uses it."""
        low = self.policy.to_compute(params)
        y, cache = self.model.forward(low, self.policy.to_compute(x))
        y = self.policy.to_param(y)
        dy = self.policy.to_compute(self.loss.unchecked_grad(y, t))
        _, grads = self.model.backward(low, cache, dy, input_grad=False)
        return self.policy.to_param(grads), self.loss.unchecked(y, t)

    def _predict_fn(self, params, X):
        low = self.policy.to_compute(params)
        return self.policy.to_param(self.model.predict(low, self.policy.to_compute(X)))

    def _per_sample_grads(self, params, X, T):
        """The lecture's loop: one row at a time, gradients summed, then averaged."""
        n = X.shape[0]
        grads, total = self._sample_grads(params, X[0:1, ...], T[0:1, ...])
        for i in range(1, n):
            g, loss = self._sample_grads(params, X[i : i + 1, ...], T[i : i + 1, ...])
            grads = tree_map(lambda a, b: a + b, grads, g)
            total = total + loss
        return tree_map(lambda a: a / n, grads), total / n

    def _per_sample_step(self, params, opt_state, X, T):
        grads, loss = self._per_sample_grads(params, X, T)
        params, opt_state = self._apply(params, grads, opt_state)
        return params, opt_state, loss

    def gradients(self, X: Any, Y: Any) -> tuple[list[dict], Any]:
        """(grads, loss) of one minibatch with this trainer's strategy; parameters unchanged."""
        X, T = self._inputs(X, Y)
        if self.strategy == "batched":
            return self._sample_grads(self.params, X, T)
        return self._per_sample_grads(self.params, X, T)

    # -- data -------------------------------------------------------------------

    def _features(self, X: Any) -> Any:
        """X checked (shape, finite) and moved: (n, in) in the trainer's dtype on the backend."""
        X = validation.to_backend(self.backend, X, "X", dtype=self.policy.param)
        validation.check_features(X, self.model.in_features)
        validation.check_finite(X, "X")
        return X

    def _inputs(self, X: Any, Y: Any) -> tuple[Any, Any]:
        """X (n, in) in the trainer's dtype, and Y as the loss wants it, both on the backend.

        Every check that reads values runs here, once per call, before any step:
        the training step itself uses the loss's unchecked maths. On a backend with
        immutable arrays (JAX), the result for the very same X and Y objects as the last
        call is reused: those values cannot have changed, so neither can the checks.
        """
        last = self._checked
        if last is not None and last[0] is X and last[1] is Y:
            return last[2], last[3]
        X_in, Y_in = X, Y
        X = self._features(X)
        T = validation.to_backend(self.backend, Y, "Y")
        validation.check_same_length(X, T)
        validation.check_finite(T, "Y")
        k = self.model.out_features or X.shape[1]  # activations alone keep the width
        if T.ndim == 1 and not isinstance(self.loss, CrossEntropy):
            if _is_integer(T) and k > 1:
                validation.check_range(T, 0, k, "Y labels", closed_high=False)
                T = one_hot(T, k, dtype=X.dtype)  # MSE/BCE against one-hot targets
            else:
                T = T[:, None]
        if (T.ndim == 2 or not _is_integer(T)) and T.dtype != X.dtype:
            T = self.backend.xp.astype(T, X.dtype)
        self.loss.check_shapes((X.shape[0], k), T)
        self.loss.check_values((X.shape[0], k), T)
        owners = {backends.name_of(X_in), backends.name_of(Y_in)}
        if self.backend.immutable and owners == {self.backend.name}:
            self._checked = (X_in, Y_in, X, T)
        return X, T

    # -- public API ---------------------------------------------------------------

    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        batch_size: int = 64,
        shuffle: bool = True,
        validation_data: tuple[Any, Any] | None = None,
        progress: bool | None = None,
        callbacks: Sequence[Any] = (),
        check_every: int | None = None,
        fused: bool = False,
    ) -> History:
        """Train for ``epochs`` passes or ``steps`` minibatches (default: one epoch).

        Epoch e visits the samples in ``data.epoch_order(seed, e)``; the last minibatch of
        an epoch may be smaller, and a fit that stops mid-epoch is continued mid-epoch by
        the next one. Returns one History record per epoch (also kept as ``self.history``).

        ``validation_data=(X_val, Y_val)`` adds ``val_loss`` (and ``val_accuracy``) to each
        record. ``progress``: a rich progress bar (None: on when stdout is a terminal).
        ``callbacks``: Callback objects or functions ``fn(trainer, record)`` called after
        each epoch (see ``nnkit.callbacks``).

        NaN/inf guard: the loss is read from the device only at checks, at each epoch's end
        and every ``check_every`` steps (and at each step a callback's ``every`` asks for),
        so the steps between checks pay no host sync. A check tests the summed loss and the
        parameters on the device; when one is not finite, fit replays the steps since the
        last good check one at a time to find the first bad step, keeps the parameters from
        before it and raises NonFiniteLossError naming it.

        ``fused=True`` (strategy "batched" on a backend with ``can_scan``, i.e. JAX) runs
        runs of full minibatches in one compiled ``scan`` each (a whole epoch when no
        ``check_every`` or callback ``every`` falls inside it) and the smaller last
        minibatch as usual: the same updates in the same order, one dispatch per run.

        Ctrl-C (KeyboardInterrupt) stops fit between two steps: ``params``, ``opt_state``,
        ``steps_done`` and ``history`` then describe the last completed step, and a new
        ``fit`` call continues from there.
        """
        if epochs is not None and steps is not None:
            raise validation.InvalidValueError("give epochs or steps, not both")
        batch_size = validation.check_positive_int("batch_size", batch_size)
        if check_every is not None:
            check_every = validation.check_positive_int("check_every", check_every)
        X, T = self._inputs(X, Y)
        val = None if validation_data is None else self._inputs(*validation_data)
        n = X.shape[0]
        if steps is None:
            steps = validation.check_positive_int("epochs", 1 if epochs is None else epochs)
            steps *= math.ceil(n / batch_size)
        steps = validation.check_positive_int("steps", steps)
        if fused:
            fused_module.check_fusable(self.backend, self.strategy)
            self._fused_epoch = self._fused_epoch or fused_module.FusedEpoch(
                self._batched_step_fn, self.backend
            )
        step_fn = self._batched_step if self.strategy == "batched" else self._per_sample_step
        run = _Run(X, T, batch_size, shuffle, step_fn, steps, check_every, fused)
        run.callbacks = [as_callback(c) for c in callbacks]
        history = self.history = History()
        self.stop_training = False
        # fit works on its own copy: the step may update it in place (NumPy) or donate
        # (consume) it (JAX); the originals, untouched from here on, are the first snapshot
        run.good = (self.params, self.opt_state, self.steps_done, self._position)
        self.params, self.opt_state = self._copy((self.params, self.opt_state))
        with progress_bar(progress, steps) as run.bar, _sigint_deferred() as run.interrupted:
            for cb in run.callbacks:
                cb.on_fit_start(self)
            while run.remaining and not self.stop_training:
                record = self._fit_epoch(run)
                if val is not None:
                    record.update({f"val_{k}": v for k, v in self._metrics(*val).items()})
                    record["elapsed_s"] = time.perf_counter() - run.start
                history.append(record)
                run.bar.show(record)
                for cb in run.callbacks:
                    cb.on_epoch_end(self, record)
            for cb in run.callbacks:
                cb.on_fit_end(self, history)
            if run.interrupted():  # Ctrl-C after the last step: still the user's to see
                raise KeyboardInterrupt
        return history

    def _fit_epoch(self, run: _Run) -> dict[str, Any]:
        """Steps until the epoch ends, ``run`` runs out or a callback stops training; returns
        the epoch's record. An interrupt records the steps done so far, then propagates."""
        xp, n, size = self.backend.xp, run.X.shape[0], run.batch_size
        epoch, offset = self._next_position(n)
        Xe, Te = run.X, run.T  # shuffle=False: the data order itself, no gather
        if run.shuffle:
            order = self.backend.asarray(epoch_order(self.seed, epoch, n, run.shuffle))
            Xe, Te = xp.take(run.X, order, axis=0), xp.take(run.T, order, axis=0)
        start, loss_sum, seen = time.perf_counter(), 0.0, 0
        try:
            while run.fused and n - offset >= size and run.remaining and not self.stop_training:
                if run.interrupted():
                    raise KeyboardInterrupt
                k = min(run.remaining, (n - offset) // size, self._steps_to_next_check(run))
                stop = offset + k * size
                # from an epoch's start the arrays go in whole (the compiled scan takes its
                # first k minibatches): no slice to dispatch, one compilation per k
                Xc, Tc = (Xe, Te) if offset == 0 else (Xe[offset:stop, ...], Te[offset:stop, ...])
                self.params, self.opt_state, chunk_loss = self._fused_epoch(
                    self.params, self.opt_state, Xc, Tc, size, k
                )
                self.steps_done += k
                loss_sum = loss_sum + chunk_loss
                seen, offset, run.remaining = seen + stop - offset, stop, run.remaining - k
                self._position = (epoch, offset)
                run.bar.advance(epoch + 1, k)
                self._after_step(run, loss_sum, seen)
            while offset < n and run.remaining and not self.stop_training:
                if run.interrupted():
                    raise KeyboardInterrupt
                stop = min(offset + size, n)
                params, opt_state, loss = run.step_fn(
                    self.params, self.opt_state, Xe[offset:stop, ...], Te[offset:stop, ...]
                )
                self.params, self.opt_state = params, opt_state
                self.steps_done += 1
                loss_sum = loss_sum + loss * (stop - offset)
                seen, offset, run.remaining = seen + stop - offset, stop, run.remaining - 1
                self._position = (epoch, offset)
                run.bar.advance(epoch + 1)
                self._after_step(run, loss_sum, seen)
        except KeyboardInterrupt:
            if seen:
                self.history.append(self._record(run, epoch, offset < n, loss_sum, seen, start))
            raise
        run.good = self._guard(loss_sum, run)
        return self._record(run, epoch, offset < n, loss_sum, seen, start)

    def _after_step(self, run: _Run, loss_sum: Any, seen: int) -> None:
        """At the steps a callback's ``every`` or ``check_every`` names: guard, then callbacks."""
        due = [cb for cb in run.callbacks if cb.every and self.steps_done % cb.every == 0]
        if due or (run.check_every and self.steps_done % run.check_every == 0):
            run.good = self._guard(loss_sum, run)
            run.bar.show({"loss": float(self.backend.to_numpy(loss_sum)) / seen})
            for cb in due:
                cb.on_step(self)

    # -- fit's bookkeeping --------------------------------------------------------

    def _steps_to_next_check(self, run: _Run) -> int:
        """Steps until the next step that ``check_every`` or a callback's ``every`` names."""
        periods = [cb.every for cb in run.callbacks if cb.every] + [run.check_every or 0]
        return min((p - self.steps_done % p for p in periods if p), default=run.remaining)

    def _next_position(self, n: int) -> tuple[int, int]:
        """(epoch, sample offset) where the next step starts: a finished epoch moves on."""
        epoch, offset = self._position
        return (epoch + 1, 0) if offset >= n else (epoch, offset)

    def _record(self, run, epoch, partial, loss_sum, seen, start_time) -> dict[str, Any]:
        """The History record of an epoch (one host sync: the summed loss)."""
        loss = float(self.backend.to_numpy(self.backend.sync(loss_sum))) / seen
        now = time.perf_counter()
        record = {
            "epoch": epoch + 1,
            "step": self.steps_done,
            "loss": loss,
            "samples_per_s": seen / (now - start_time),
            "time_s": now - start_time,
            "elapsed_s": now - run.start,
        }
        if partial:
            record["partial"] = True
        return record

    def _snapshot(self) -> tuple[Any, Any, int, tuple[int, int]]:
        """Copies of params and optimizer state, with the step count and data position."""
        params, opt_state = self._copy((self.params, self.opt_state))
        return params, opt_state, self.steps_done, self._position

    def _all_finite(self, loss: Any, params: Any) -> bool:
        """The NaN/inf check: one compiled reduction on the device, one host read."""
        return bool(self.backend.to_numpy(self._finite(loss, params)))

    def _guard(self, loss_sum: Any, run: _Run) -> tuple:
        """A new snapshot if the loss and params are finite (none after the last step: no
        replay can need it); otherwise replay from the last."""
        if self._all_finite(loss_sum, self.params):
            return self._snapshot() if run.remaining else run.good
        return self._replay(run)

    def _replay(self, run: _Run):
        """Re-run the steps after snapshot ``run.good`` one at a time, checking each, and raise
        NonFiniteLossError at the first bad one with the state from just before it. (Should
        a nondeterministic device not reproduce the failure, the error names the checked
        step and the replayed, finite state is kept.)"""
        xp, n, failed_at = self.backend.xp, run.X.shape[0], self.steps_done
        params, opt_state, self.steps_done, self._position = run.good
        self.params, self.opt_state = tree_copy(params), tree_copy(opt_state)
        while self.steps_done < failed_at:
            epoch, offset = self._next_position(n)
            index = epoch_order(self.seed, epoch, n, run.shuffle)[offset : offset + run.batch_size]
            rows = self.backend.asarray(index)
            xb, tb = xp.take(run.X, rows, axis=0), xp.take(run.T, rows, axis=0)
            p, o, loss = run.step_fn(tree_copy(self.params), tree_copy(self.opt_state), xb, tb)
            if not self._all_finite(loss, p):
                break
            self.params, self.opt_state = p, o
            self.steps_done, self._position = self.steps_done + 1, (epoch, offset + len(index))
        else:
            raise NonFiniteLossError(failed_at, float("nan"))
        raise NonFiniteLossError(self.steps_done + 1, float(self.backend.to_numpy(loss)))

    def save(self, path: str) -> None:
        """Write the whole trainer (model, params, optimizer state, loss, data position) to
        one safetensors file; ``Trainer.load(path)`` resumes exactly (see ``nnkit.io``)."""
        from .io import save_trainer

        save_trainer(path, self)

    @classmethod
    def load(cls, path: str, backend: str | backends.Backend | None = None) -> Trainer:
        """The trainer written by ``save``, on ``backend`` (default: the default backend)."""
        from .io import load_trainer

        return load_trainer(path, backend)

    def predict(self, X: Any) -> Any:
        """Model output for X (batch, in) as an array of the trainer's backend."""
        return self._predict(self.params, self._features(X))

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """``{"loss": ...}``, plus ``"accuracy"`` when Y holds class labels or one-hot rows."""
        return self._metrics(*self._inputs(X, Y))

    def _metrics(self, X: Any, T: Any) -> dict[str, float]:
        pred = self._predict(self.params, X)
        result = {"loss": float(self.backend.to_numpy(self.loss(pred, T)))}
        if _is_classification(T, pred):
            result["accuracy"] = accuracy(pred, T)
        return result


@dataclasses.dataclass(eq=False)
class _Run:
    """The state of one ``fit`` call that its helpers share."""

    X: Any
    T: Any
    batch_size: int
    shuffle: bool
    step_fn: Callable
    remaining: int
    check_every: int | None
    fused: bool = False
    callbacks: list = dataclasses.field(default_factory=list)
    good: tuple = ()  # the last snapshot that passed the NaN guard
    bar: Any = None
    interrupted: Callable[[], bool] = bool
    start: float = dataclasses.field(default_factory=time.perf_counter)


def _is_integer(x: Any) -> bool:
    return namespace(x).isdtype(x.dtype, "integral")


def _is_classification(T: Any, pred: Any) -> bool:
    """Integer labels, or one-hot rows (0/1, summing to 1) with more than one class."""
    if T.ndim == 1:
        return _is_integer(T)
    if T.shape[1] < 2 or pred.shape[1] != T.shape[1]:
        return False
    xp = namespace(T)
    one_hot_rows = xp.all((T == 0) | (T == 1)) & xp.all(xp.sum(T, axis=1) == 1)
    return bool(one_hot_rows)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[Callable[[], bool]]:
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
