"""Trainer: minibatch training with the per-sample or the batched (design-matrix) strategy.

A thin facade: the step maths live in ``steps``, input checks in ``inputs``, the fit loop
in ``loop``, the NaN guard in ``guard``, files in ``checkpoint``, and what it shares with
the Sweep (state, fit's checks, predict) in ``fitter``. The Trainer owns its
``TrainState`` (``state``) and is its only writer: the loop hands each new state to
``_commit``; code outside a fit calls ``restore``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .. import backends, checks
from ..losses import Loss
from ..model import Sequential
from ..optim import Optimizer
from . import checkpoint, precision
from . import steps as step_fns
from .fitter import Fitter
from .history import History


class Trainer(Fitter):
    """Trains ``model`` on ``loss`` with ``optimizer``; owns ``params`` and ``opt_state``.

    ``strategy="batched"``: one forward/backward of the whole minibatch (Y = X @ W + b).
    ``strategy="per_sample"``: the lecture's loop, one row at a time, gradients
    averaged over the minibatch before the step. Both give the same gradients.

    ``dtype``: "float32" or "float64" for everything, or "bfloat16" for mixed precision
    (float32 master weights and optimizer state, bfloat16 forward/backward; JAX only):
    ``policy`` holds the two dtypes (see ``nnkit.training.precision``).

    ``l2``: an L2 penalty as scikit-learn's MLPs apply it (their ``alpha``): each minibatch
    of n rows adds ``0.5 * l2 * sum(W**2) / n`` over the Dense weights "W" (not biases) to
    the training loss (the History's "loss") and ``l2 * W / n`` to their gradients;
    ``evaluate`` and validation report the loss without it. 0 (the default): no penalty.

    State: ``state``, a frozen ``TrainState`` of ``params``, ``opt_state``, ``steps_done``
    and ``position`` (the (epoch, sample offset) where the next ``fit`` step starts), each
    also readable as an attribute of the trainer; ``history`` (the last fit's History) and
    ``stop_training`` (set by callbacks). During a fit they describe the last completed
    step. Only the trainer writes them: ``fit``, and ``restore(state)`` for anything else.
    ``save(path)`` / ``Trainer.load(path)`` keep it all.

    Arrays held before a ``fit`` never change: the compiled whole-fit program (JAX) returns
    new arrays, and before the first step, which donates its parameters and optimizer state
    (a compiled step may write the new values into them: NumPy's replay does, JAX may),
    the fit copies ``params`` and ``opt_state`` once. During a fit the steps go on updating
    that copy, so a callback that keeps params across steps keeps a copy
    (``nnkit.tree.tree_copy``).
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
        devices: Any = None,
        l2: float = 0.0,
    ):
        checks.check_instance("model", model, Sequential)
        checks.check_instance("loss", loss, Loss)
        checks.check_instance("optimizer", optimizer, Optimizer)
        checks.check_choice("strategy", strategy, step_fns.STRATEGIES)
        checks.check_choice("dtype", dtype, precision.DTYPES)
        checks.check_seed(seed)
        self._setup(
            model, loss, optimizer, backend=backend, strategy=strategy, seed=seed, dtype=dtype,
            devices=devices, l2=checks.check_nonnegative("l2", l2),
        )  # fmt: skip

    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        batch_size: int = 64,
        shuffle: bool = True,
        validation_data: tuple[Any, ...] | None = None,
        progress: bool | None = None,
        callbacks: Sequence[Any] = (),
        check_every: int | None = None,
        fused: bool | None = None,
        sample_weight: Any = None,
    ) -> History:
        """Train for ``epochs`` passes or ``steps`` minibatches (default: one epoch) of X
        (n, in) and Y (n,) or (n, out); returns one History record per epoch (also kept as
        ``self.history``).

        Epoch e visits the samples in ``data.epoch_order(seed, e)``; the last minibatch of
        an epoch may be smaller, and a fit that stops mid-epoch is continued mid-epoch by
        the next one.

        ``sample_weight`` (n,): per-sample weights, finite, >= 0 and not all 0; each
        minibatch's loss is then its weighted mean ``sum_i w_i l_i / sum_i w_i`` (the L2
        penalty divided by its weight sum), the weights following their rows through
        shuffling and minibatches. A record's ``loss`` is the mean of the epoch's minibatch
        losses weighted by their row counts, with sample weights too (as scikit-learn's
        ``loss_curve_``).

        ``validation_data=(X_val, Y_val)`` or ``(X_val, Y_val, w_val)`` adds ``val_loss``
        (and ``val_accuracy``) to each record, weighted by ``w_val`` where given.
        ``progress``: None (default): a rich bar when stdout is a terminal, else nothing;
        True: the rich bar where it can draw (a terminal, Jupyter), else a plain flushed
        line every tenth of the run (logs, pipes, nohup); False: nothing.
        ``callbacks``: Callback objects or functions ``fn(trainer, record)`` called after
        each epoch (see ``nnkit.callbacks``).

        NaN/inf guard: the loss is read from the device only at checks, at each epoch's end
        and every ``check_every`` steps (and at each step a callback's ``every`` asks for),
        so the steps between checks pay no host sync. A check tests the summed loss and the
        parameters on the device; when one is not finite, fit replays the steps since the
        last good check one at a time to find the first bad step, keeps the parameters from
        before it and raises NonFiniteLossError naming it.

        ``fused``: None (the default) compiles as much of the fit as one program as the
        backend allows: on JAX with strategy "batched", every whole epoch of the fit in
        one compiled call (a loop over epochs of scans over minibatches, validation
        included; one compilation however the fit is cut), or the longest stretches that
        callbacks, ``check_every`` and a live progress display (about two updates a
        second) leave, and runs of full minibatches in
        one scan where an epoch is split; elsewhere one step at a time. ``fused=True`` asks
        for that; on torch, where the default stays eager, it compiles the batched step
        whole with ``torch.compile`` (``Backend.compile_step``) and
        runs it one minibatch at a time: each new minibatch shape compiles once (tens of
        seconds on a small CPU; a fit: its minibatches and the smaller last one), kept by
        the trainer for later fits. It is refused for strategy "per_sample" and where the
        backend neither scans nor compiles a step (NumPy, CuPy); ``fused=False`` dispatches
        one step at a time. All give the same updates in the same order (compiled: within
        float rounding).

        Ctrl-C (KeyboardInterrupt) stops fit between two steps (between two compiled
        programs): ``params``, ``opt_state``, ``steps_done`` and ``history`` then describe
        the last completed step, and a new ``fit`` call continues from there.
        """
        return self._fit(
            X, Y, epochs=epochs, steps=steps, batch_size=batch_size, shuffle=shuffle,
            validation_data=validation_data, progress=progress, callbacks=callbacks,
            check_every=check_every, fused=fused, sample_weight=sample_weight,
        )  # fmt: skip

    def gradients(self, X: Any, Y: Any, sample_weight: Any = None) -> tuple[list[dict], Any]:
        """(grads, loss) of one minibatch X (n, in), Y with this trainer's strategy, weighted
        by ``sample_weight`` (n,) where given; parameters unchanged."""
        return self._steps.grads(self.params, *self._inputs.pair(X, Y, sample_weight).rows)

    def evaluate(self, X: Any, Y: Any, sample_weight: Any = None) -> dict[str, float]:
        """``{"loss": ...}``, plus ``"accuracy"`` when Y holds class labels or one-hot rows;
        both weighted by ``sample_weight`` (n,) where given (as ``fit`` takes it)."""
        return self._metrics(self._inputs.pair(X, Y, sample_weight))

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole trainer (model, params, optimizer state, loss, data position) to
        one safetensors file; ``Trainer.load(path)`` resumes exactly (see ``nnkit.io``)."""
        checkpoint.save_trainer(path, self)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        backend: str | backends.Backend | None = None,
        devices: Any = None,
    ):
        """The trainer written by ``save``, on ``backend`` (default: the default backend) and
        ``devices`` (as the constructor takes them)."""
        return checkpoint.load_trainer(cls, path, backends.get(backend).on(devices))
