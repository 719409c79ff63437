"""Benchmark scenarios and the nnkit contenders that run them (used by ``nnkit bench``
and by the pytest-benchmark suite in benchmarks/).

A contender runs one *unit* of work per call: ``steps`` minibatch updates of
``batch_size`` samples (one epoch over a fixed data set), synchronised at the end.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np  # host-side: synthetic data and the digits set are made on the host

from . import backends, precision
from .data import one_hot
from .layers import ACTIVATIONS, Dense
from .losses import MSE, CrossEntropy
from .model import Sequential
from .optim import SGD, Adam
from .trainer import Trainer

SMOKE_ENV = "NNKIT_BENCH_SMOKE"
STRATEGIES = ("per_sample", "batched", "fused")


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

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each Dense layer."""
        return list(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def model(self) -> Sequential:
        act = ACTIVATIONS[self.activation]
        layers: list = []
        for i, (a, b) in enumerate(self.shapes):
            layers.append(Dense(a, b))
            if i < len(self.sizes) - 2 or self.loss == "mse":
                layers.append(act())
        return Sequential(layers)

    def make_loss(self) -> Any:
        return MSE() if self.loss == "mse" else CrossEntropy()

    def make_optimizer(self) -> Any:
        return SGD(self.lr) if self.optimizer == "sgd" else Adam(self.lr)

    def flops_per_step(self, batch_size: int) -> int:
        """Matmul FLOPs of one step: forward X@W, backward X.T@dY and dY@W.T, 2*B*in*out each."""
        return 6 * batch_size * sum(a * b for a, b in self.shapes)

    def steps(self, batch_size: int) -> int:
        if self.digits:
            return math.ceil(self.data(batch_size)[0].shape[0] / batch_size)
        return max(1, self.unit_samples // batch_size)

    def data(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Host X (n, in) float64 and integer labels y (n,) for one unit of work."""
        if self.digits:
            return _digits_train()
        n = self.steps(batch_size) * batch_size
        rng = np.random.default_rng(0)
        return rng.random((n, self.sizes[0])), rng.integers(0, self.sizes[-1], size=n)


@functools.cache
def _digits_train() -> tuple[np.ndarray, np.ndarray]:
    from .datasets import digits

    X, y, _, _ = digits()
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _scenarios(smoke: bool) -> dict[str, Scenario]:
    if smoke:  # tiny shapes for CI: the code paths, not the figures
        return {
            "S1": Scenario("S1", "lecture MLP (smoke)", (8, 16, 8, 4), "sigmoid", "mse", "sgd",
                           0.1, (1, 8), 16),
            "S2": Scenario("S2", "wide MLP (smoke)", (16, 32, 32, 4), "relu", "cross_entropy",
                           "adam", 1e-3, (8,), 16),
            "S3": Scenario("S3", "digits epoch (smoke)", (64, 16, 10), "sigmoid", "mse", "sgd",
                           0.1, (256,), 0, digits=True),
        }  # fmt: skip
    return {
        "S1": Scenario("S1", "lecture MLP 64-128-64-10, sigmoid, MSE, SGD", (64, 128, 64, 10),
                       "sigmoid", "mse", "sgd", 0.1, (1, 8, 64, 256, 1024), 2048),
        "S2": Scenario("S2", "wide MLP 1024-2048-2048-10, ReLU, softmax-CE, Adam",
                       (1024, 2048, 2048, 10), "relu", "cross_entropy", "adam", 1e-3,
                       (256, 1024), 512),
        "S3": Scenario("S3", "one digits epoch (1437 samples, shuffled), lecture MLP",
                       (64, 128, 64, 10), "sigmoid", "mse", "sgd", 0.1, (64,), 0, digits=True),
    }  # fmt: skip


def smoke_mode() -> bool:
    """True when ``NNKIT_BENCH_SMOKE`` is set to a non-empty value other than "0"."""
    return os.environ.get(SMOKE_ENV, "") not in ("", "0")


def scenarios() -> dict[str, Scenario]:
    """S1, S2, S3 (tiny versions when ``NNKIT_BENCH_SMOKE`` is set)."""
    return _scenarios(smoke_mode())


@dataclass
class Contender:
    """One row of the benchmark: ``run()`` does ``steps`` updates and waits for them."""

    scenario: str
    library: str  # "nnkit" or a peer's name
    backend: str
    strategy: str
    batch_size: int
    dtype: str
    device: str
    steps: int
    flops_per_step: int
    run: Callable[[], Any] = field(repr=False)

    @property
    def label(self) -> str:
        if self.library == "nnkit":
            return f"nnkit {self.backend} {self.strategy}"
        return self.library

    def info(self) -> dict[str, Any]:
        """What pytest-benchmark's extra_info and the JSON report carry."""
        return {
            "scenario": self.scenario,
            "library": self.library,
            "backend": self.backend,
            "strategy": self.strategy,
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "device": self.device,
            "steps_per_unit": self.steps,
            "flops_per_step": self.flops_per_step,
        }


def nnkit_contender(
    scenario: Scenario, backend: str, strategy: str, batch_size: int, dtype: str
) -> Contender:
    """An nnkit Trainer on ``backend``; strategy "fused" is "batched" with fit(fused=True)."""
    be = backends.get(backend)
    trainer = Trainer(
        scenario.model(),
        scenario.make_loss(),
        scenario.make_optimizer(),
        backend=be,
        strategy="batched" if strategy == "fused" else strategy,
        dtype=dtype,
    )
    X, y = scenario.data(batch_size)
    T = one_hot(y, scenario.sizes[-1]) if scenario.loss == "mse" else y  # what the loss takes
    data_dtype = precision.MIXED.get(dtype, dtype)  # mixed precision: float32 data
    X = be.asarray(X, dtype=data_dtype)
    T = be.asarray(T, dtype=data_dtype if T.ndim == 2 else None)
    fused, shuffle = strategy == "fused", scenario.digits

    def run() -> None:
        trainer.fit(X, T, epochs=1, batch_size=batch_size, shuffle=shuffle, fused=fused)
        be.sync(trainer.params)

    return Contender(
        scenario.name,
        "nnkit",
        backend,
        strategy,
        batch_size,
        dtype,
        be.device_name(),
        scenario.steps(batch_size),
        scenario.flops_per_step(batch_size),
        run,
    )


def strategies_for(backend: str, wanted: tuple[str, ...] = STRATEGIES) -> list[str]:
    """The strategies of ``wanted`` that ``backend`` runs ("fused" needs a compiled scan)."""
    can_scan = backends.get(backend).can_scan
    return [s for s in wanted if s != "fused" or can_scan]


def default_backends() -> list[str]:
    """Every available backend except array_api_strict (a correctness reference, not a target)."""
    return [b for b in backends.available() if b != "array_api_strict"]
