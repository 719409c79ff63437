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

    State: ``state``, a frozen ``TrainState`` of ``params``, ``opt_state``, ``steps_done``
    and ``position`` (the (epoch, sample offset) where the next ``fit`` step starts), each
    also readable as an attribute of the trainer; ``history`` (the last fit's History) and
    ``stop_training`` (set by callbacks). During a fit they describe the last completed
    step. Only the trainer writes them: ``fit``, and ``restore(state)`` for anything else.
    ``save(path)`` / ``Trainer.load(path)`` keep it all.

    Parameters
    ----------
    model : Sequential
        The network; the trainer draws its initial parameters (``model.init(seed=seed)``).
    loss : Loss
        What training minimises.
    optimizer : Optimizer
        How the parameters move.
    backend : str, Backend or None
        Where training runs (None: the default backend).
    strategy : {"batched", "per_sample"}
        "batched": one forward/backward of the whole minibatch (Y = X @ W + b).
        "per_sample": the lecture's loop, one row at a time, gradients averaged over the
        minibatch before the step. Both give the same gradients.
    seed : int
        Seeds the initial weights and every epoch's minibatch order, an int >= 0.
    dtype : {"float32", "float64", "bfloat16"}
        One dtype for everything, or "bfloat16" for mixed precision (float32 master
        weights and optimizer state, bfloat16 forward/backward; JAX only): ``policy``
        holds the two dtypes (see ``nnkit.training.precision``).
    devices : None, int, "all" or sequence of devices
        Several devices, data-parallel (``Backend.on``; JAX): each minibatch split over
        them, parameters replicated. None: one device.
    l2 : float
        An L2 penalty as scikit-learn's MLPs apply it (their ``alpha``): each minibatch of
        n rows adds ``0.5 * l2 * sum(W**2) / n`` over the Dense weights "W" (not biases) to
        the training loss (the History's "loss") and ``l2 * W / n`` to their gradients;
        ``evaluate`` and validation report the loss without it. 0: no penalty.

    Attributes
    ----------
    model, loss, optimizer, strategy, seed, dtype, l2
        As given.
    backend : Backend
        The backend (over ``devices``) the trainer runs on.
    policy : Policy
        The parameter and compute dtypes (they differ only under mixed precision).

    Raises
    ------
    InvalidTypeError
        ``model``, ``loss`` or ``optimizer`` of the wrong type.
    InvalidValueError
        An unknown strategy or dtype, a dtype the backend cannot compute in, a seed or l2
        out of range, or several devices with strategy "per_sample".
    BackendUnavailable
        ``backend`` cannot run here.
    ValueError
        ``devices`` on a backend that trains on one device, or devices that do not exist.

    Notes
    -----
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
        """Train for ``epochs`` passes or ``steps`` minibatches of X and Y.

        Epoch e visits the samples in ``data.epoch_order(seed, e)``; the last minibatch of
        an epoch may be smaller, and a fit that stops mid-epoch is continued mid-epoch by
        the next one.

        Parameters
        ----------
        X : array_like of shape (n, in)
            The features: NumPy arrays or lists (moved to the trainer's backend) or arrays
            of the trainer's backend.
        Y : array_like of shape (n,) or (n, out)
            The targets: class labels, values, or rows as the loss takes them (labels
            become one-hot rows for MSE and BCE).
        epochs : int, optional
            Passes over the data.
        steps : int, optional
            Minibatches, instead of ``epochs`` (default: one epoch).
        batch_size : int
            Rows per minibatch, a multiple of the device count.
        shuffle : bool
            Visit the samples in a new order each epoch (drawn from ``seed``); False: in
            order.
        validation_data : tuple, optional
            ``(X_val, Y_val)`` or ``(X_val, Y_val, w_val)``: adds ``val_loss`` (and
            ``val_accuracy``) to each record, weighted by ``w_val`` where given.
        progress : bool or None
            None: a rich bar when stdout is a terminal, else nothing; True: the rich bar
            where it can draw (a terminal, Jupyter), else a plain flushed line every tenth
            of the run (logs, pipes, nohup); False: nothing.
        callbacks : sequence
            Callback objects or functions ``fn(trainer, record)`` called after each epoch
            (see ``nnkit.callbacks``).
        check_every : int, optional
            Check the loss and parameters for NaN/inf every that many steps too (below).
        fused : bool or None
            How much of the fit is compiled as one program (below).
        sample_weight : array_like of shape (n,), optional
            Per-sample weights, finite, >= 0 and not all 0; each minibatch's loss is then
            its weighted mean ``sum_i w_i l_i / sum_i w_i`` (the L2 penalty divided by its
            weight sum), the weights following their rows through shuffling and
            minibatches. A record's ``loss`` is the mean of the epoch's minibatch losses
            weighted by their row counts, with sample weights too (as scikit-learn's
            ``loss_curve_``).

        Returns
        -------
        History
            One record per epoch (also kept as ``self.history``).

        Raises
        ------
        ShapeError, ValueRangeError, InvalidTypeError, BackendMismatchError
            Data that do not fit the model and loss, or arrays of another backend; the
            trainer is then unchanged.
        InvalidValueError
            Both ``epochs`` and ``steps``, a count that is not an int >= 1, a batch size
            the devices do not divide, bad ``validation_data``, or ``fused=True`` where it
            cannot be.
        NonFiniteLossError
            The loss (or the parameters) became NaN or inf; the trainer keeps the state
            before the first bad step.
        KeyboardInterrupt
            Ctrl-C, after the step in progress (below).

        Notes
        -----
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
        """The gradients and loss of one minibatch, with this trainer's strategy;
        parameters unchanged.

        Parameters
        ----------
        X : array_like of shape (n, in)
            The minibatch's features.
        Y : array_like of shape (n,) or (n, out)
            Its targets, as ``fit`` takes them.
        sample_weight : array_like of shape (n,), optional
            Per-sample weights.

        Returns
        -------
        tuple
            ``(grads, loss)``: the gradients, structured like ``params`` (the L2 penalty
            included), and the loss, a 0-d array of the trainer's backend.

        Raises
        ------
        ShapeError, ValueRangeError, InvalidTypeError, BackendMismatchError
            As ``fit``.
        """
        return self._steps.grads(self.params, *self._inputs.pair(X, Y, sample_weight).rows)

    def evaluate(self, X: Any, Y: Any, sample_weight: Any = None) -> dict[str, float]:
        """The loss (and accuracy) of the model on X and Y.

        Parameters
        ----------
        X : array_like of shape (n, in)
            The features, as ``fit`` takes them.
        Y : array_like of shape (n,) or (n, out)
            The targets, as ``fit`` takes them.
        sample_weight : array_like of shape (n,), optional
            Per-sample weights, as ``fit`` takes them.

        Returns
        -------
        dict
            ``{"loss": ...}`` (without the L2 penalty), plus ``"accuracy"`` when Y holds
            class labels or one-hot rows; both weighted by ``sample_weight`` where given.

        Raises
        ------
        ShapeError, ValueRangeError, InvalidTypeError, BackendMismatchError
            As ``fit``.
        """
        return self._metrics(self._inputs.pair(X, Y, sample_weight))

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole trainer to one safetensors file, atomically.

        The file holds the model, params, optimizer and its state, loss, seed, strategy,
        dtype, steps done and data position: ``Trainer.load(path)`` resumes exactly (see
        ``nnkit.io``). In a run of several processes only process 0 writes.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write.

        Raises
        ------
        InvalidTypeError
            A loss, optimizer or schedule that files cannot hold (not one of nnkit's).
        MissingDependencyError
            safetensors is not installed.
        OSError
            The file cannot be written (the previous one is then untouched).
        """
        checkpoint.save_trainer(path, self)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        backend: str | backends.Backend | None = None,
        devices: Any = None,
    ):
        """The trainer written by ``save``.

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        backend : str, Backend or None
            Where the trainer runs (None: the default backend).
        devices : None, int, "all" or sequence of devices
            As the constructor takes them.

        Returns
        -------
        Trainer
            A trainer whose next ``fit`` continues the saved run exactly.

        Raises
        ------
        CorruptFileError
            The file fails its checks, or holds no trainer.
        OSError
            The file cannot be read.
        """
        return checkpoint.load_trainer(cls, path, backends.get(backend).on(devices))
