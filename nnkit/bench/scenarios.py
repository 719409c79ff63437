"""The benchmark scenarios S1 (lecture MLP), S2 (wide MLP), S3 (digits epoch), S4 and S5 (S1
in one fit call or ten) and S6 (S1 for K models at once), in full or, with
``NNKIT_BENCH_SMOKE`` set, on tiny shapes; which of their cells the quick run of
``nnkit bench`` (no arguments) times, and the sizes of its matmul peaks.

A scenario's *unit* of work is ``steps`` minibatch updates of ``batch_size`` samples: one
epoch over a fixed data set, or (S4, S5) ``fit_calls`` calls of ``epochs_per_fit`` epochs;
in S6 each of its K models makes them (a cell per K of ``models``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np  # host-side: synthetic data and the digits set are made on the host

from ..losses import MSE, CrossEntropy
from ..model import Sequential, mlp
from ..optim import SGD, Adam

SMOKE_ENV = "NNKIT_BENCH_SMOKE"


@dataclass(frozen=True)
class Scenario:
    """An MLP ``sizes`` with ``activation`` after every hidden Dense layer, trained with
    ``loss`` ("mse": sigmoid output too; "cross_entropy": logits) and ``optimizer``."""

    name: str
    title: str
    sizes: tuple[int, ...]
    activation: str
    loss: str
    optimizer: str
    lr: float
    batch_sizes: tuple[int, ...]
    unit_samples: int  # samples per timed unit (steps = max(1, unit_samples // batch))
    digits: bool = False  # S3: the real digits training set, shuffled, one epoch
    quick_batch_sizes: tuple[int, ...] = ()  # the quick run's cells; () = not in the quick run
    quick_unit_samples: int | None = None  # the quick run's unit of work (None: unit_samples)
    fit_calls: int = 1  # a unit: this many fit calls (peers: their epochs in one go) ...
    epochs_per_fit: int = 1  # ... of this many epochs each
    only: tuple[str, ...] = ()  # the row labels that run it ("nnkit jax fused", a peer); (): all
    models: tuple[int, ...] = ()  # S6: the K of its cells (K models trained at once); (): one
    quick_models: tuple[int, ...] = ()  # ... the quick run's

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each Dense layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def model(self) -> Sequential:
        """The nnkit network: Dense layers, ``activation`` after each (not the last for
        cross_entropy, which takes logits)."""
        return mlp(self.sizes, self.activation, self.activation if self.loss == "mse" else None)

    def make_loss(self) -> Any:
        """The nnkit loss: MSE or CrossEntropy (from logits)."""
        return MSE() if self.loss == "mse" else CrossEntropy()

    def make_optimizer(self) -> Any:
        """The nnkit optimizer: SGD or Adam at ``lr``."""
        return SGD(self.lr) if self.optimizer == "sgd" else Adam(self.lr)

    def flops_per_step(self, batch_size: int) -> int:
        """The model's matmul FLOPs of one step: forward X@W, backward X.T@dY and dY@W.T,
        2*B*in*out each, for every layer (the count every row is reported in)."""
        return 6 * batch_size * sum(a * b for a, b in self.shapes)

    def executed_flops_per_step(self, batch_size: int) -> int:
        """The matmul FLOPs every contender executes: ``flops_per_step`` less the first
        layer's input gradient dY@W.T, which nothing needs and no contender computes (nnkit's
        steps, autograd in torch and JAX, scikit-learn's backprop). What a matmul peak holds."""
        a, b = self.shapes[0]
        return self.flops_per_step(batch_size) - 2 * batch_size * a * b

    @property
    def stacked(self) -> bool:
        """Whether the scenario trains K models at once (S6): its rows are an nnkit Sweep,
        K sequential fits and the peers that stack models by hand."""
        return bool(self.models)

    @property
    def epochs(self) -> int:
        """Epochs in one unit of work."""
        return self.fit_calls * self.epochs_per_fit

    def epoch_steps(self, batch_size: int) -> int:
        """Minibatch updates in one epoch over ``data``."""
        if self.digits:
            return math.ceil(self.data(batch_size)[0].shape[0] / batch_size)
        return max(1, self.unit_samples // batch_size)

    def steps(self, batch_size: int) -> int:
        """Minibatch updates in one unit of work."""
        return self.epoch_steps(batch_size) * self.epochs

    def runs(self, label: str) -> bool:
        """Whether the row called ``label`` runs this scenario."""
        return not self.only or label in self.only

    def data(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Host X (n, in) float64 and integer labels y (n,): the data of one epoch."""
        if self.digits:
            return _digits_train()
        n = self.epoch_steps(batch_size) * batch_size
        rng = np.random.default_rng(0)
        return rng.random((n, self.sizes[0])), rng.integers(0, self.sizes[-1], size=n)


@functools.cache
def _digits_train() -> tuple[np.ndarray, np.ndarray]:
    from ..datasets import digits

    X, y, _, _ = digits()
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _scenarios(smoke: bool) -> dict[str, Scenario]:
    if smoke:  # tiny shapes for CI: the code paths, not the figures
        return {
            "S1": Scenario("S1", "lecture MLP (smoke)", (8, 16, 8, 4), "sigmoid", "mse", "sgd",
                           0.1, (1, 8), 16, quick_batch_sizes=(1, 8)),
            "S2": Scenario("S2", "wide MLP (smoke)", (16, 32, 32, 4), "relu", "cross_entropy",
                           "adam", 1e-3, (8,), 16, quick_batch_sizes=(8,)),
            "S3": Scenario("S3", "digits epoch (smoke)", (64, 16, 10), "sigmoid", "mse", "sgd",
                           0.1, (256,), 0, digits=True),
            **_fit_calls((8, 16, 8, 4), 16, (8,), ((1, 4), (2, 2))),
            "S6": _many_models((8, 16, 8, 4), 16, 8, (1, 2, 4), (1, 4)),
        }  # fmt: skip
    return {
        "S1": Scenario("S1", "lecture MLP 64-128-64-10, sigmoid, MSE, SGD", (64, 128, 64, 10),
                       "sigmoid", "mse", "sgd", 0.1, (1, 8, 64, 256, 1024), 2048,
                       quick_batch_sizes=(64, 1024)),
        "S2": Scenario("S2", "wide MLP 1024-2048-2048-10, ReLU, softmax-CE, Adam",
                       (1024, 2048, 2048, 10), "relu", "cross_entropy", "adam", 1e-3,
                       (256, 1024), 512, quick_batch_sizes=(256,), quick_unit_samples=256),
        "S3": Scenario("S3", "one digits epoch (1437 samples, shuffled), lecture MLP",
                       (64, 128, 64, 10), "sigmoid", "mse", "sgd", 0.1, (64,), 0, digits=True),
        **_fit_calls((64, 128, 64, 10), 2048, (64,), ((1, 100), (10, 10))),
        "S6": _many_models((64, 128, 64, 10), 2048, 64, (1, 4, 16, 64, 256), (1, 16)),
    }  # fmt: skip


# the rows of S4 and S5: JAX's default fit (one compiled program per call) beside the
# hand-written per-epoch scan; other contenders pay no per-call cost worth timing there
FIT_CALL_ROWS = ("nnkit jax fused", "jax_optax_scan")


def _fit_calls(sizes: tuple[int, ...], unit: int, batches: tuple[int, ...],
               calls: tuple[tuple[int, int], ...]) -> dict[str, Scenario]:  # fmt: skip
    """S4 and S5: S1 trained by (fit calls, epochs each) of ``calls``, the unit all of it."""
    found = {}
    for name, (k, e) in zip(("S4", "S5"), calls, strict=True):
        title = f"S1 for {k * e} epochs: " + ("one fit call" if k == 1 else f"{k} fit calls of {e}")
        found[name] = Scenario(name, title, sizes, "sigmoid", "mse", "sgd", 0.1, batches, unit,
                               quick_batch_sizes=batches, fit_calls=k, epochs_per_fit=e,
                               only=FIT_CALL_ROWS)  # fmt: skip
    return found


def _many_models(sizes: tuple[int, ...], unit: int, batch: int, models: tuple[int, ...],
                 quick: tuple[int, ...]) -> Scenario:  # fmt: skip
    """S6: S1 (its network, SGD, one epoch of its data a unit) for K models at once, K each
    of ``models`` (``quick``: the quick run's), at one batch size."""
    return Scenario("S6", "K lecture MLPs at once (S1 for K models: a Sweep, K fits, peers)",
                    sizes, "sigmoid", "mse", "sgd", 0.1, (batch,), unit,
                    quick_batch_sizes=(batch,), models=models, quick_models=quick)  # fmt: skip


def smoke_mode() -> bool:
    """True when ``NNKIT_BENCH_SMOKE`` is set to a non-empty value other than "0"."""
    return os.environ.get(SMOKE_ENV, "") not in ("", "0")


def scenarios() -> dict[str, Scenario]:
    """S1 to S6 (tiny versions when ``NNKIT_BENCH_SMOKE`` is set)."""
    return _scenarios(smoke_mode())


def scenario(name: str, full: bool = True) -> Scenario:
    """Scenario ``name``: as ``scenarios()`` has it for the full run, with its quick unit of
    work (one step of S2) for the quick one."""
    s = scenarios()[name]
    if not full and s.quick_unit_samples:
        s = dataclasses.replace(s, unit_samples=s.quick_unit_samples)
    return s


def peak_sizes(full: bool) -> tuple[int, ...]:
    """The n of the n x n matmuls whose best is a library's peak: up to 2048 in the quick
    run, 4096 too in the full one (a size is left out where memory or time do not allow;
    see ``timing.matmul_peaks``); tiny ones in smoke mode."""
    if smoke_mode():
        return (32, 64)
    return (512, 1024, 2048, 4096) if full else (512, 1024, 2048)
