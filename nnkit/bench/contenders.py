"""What ``nnkit bench`` and the pytest-benchmark suite time: a Contender runs one unit of a
scenario per call (``steps`` minibatch updates, synchronised at the end; in S6 each of K
models makes them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import backends
from ..data import one_hot
from ..training import Trainer, precision
from .scenarios import Scenario

STRATEGIES = ("per_sample", "batched", "fused")
QUICK_STRATEGIES = ("batched", "fused")  # the quick run's: per_sample only with --full
# the nnkit rows of a scenario of K models at once (S6): one Sweep of the K, and K Trainer
# fits one after another (the baseline), each with the backend's default fit
STACK_STRATEGIES = ("sweep", "sequential")


class Planned(NamedTuple):
    """A row of the matrix before it is built: "nnkit" on ``backend`` with ``strategy``, or
    a peer (``library`` its name, ``backend`` None, ``strategy`` "peer")."""

    scenario: str
    dtype: str
    batch_size: int
    library: str
    backend: str | None
    strategy: str
    models: int | None = None  # K, in a scenario of K models at once (S6); else None

    @property
    def cell(self) -> tuple[str, str, int, int | None]:
        """What the rows timed together (interleaved) and compared share."""
        return self.scenario, self.dtype, self.batch_size, self.models

    @property
    def name(self) -> str:
        """The row with its cell, as the notes on it name it: "S6 float32 b64 K16 LABEL"."""
        k = k_suffix(self.models)
        return f"{self.scenario} {self.dtype} b{self.batch_size}{k} {self.label}"

    @property
    def label(self) -> str:
        """The row's name, as ``Contender.label``."""
        return f"nnkit {self.backend} {self.strategy}" if self.library == "nnkit" else self.library


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
    executed_flops_per_step: int | None = None  # None: as flops_per_step
    # the other checkout whose nnkit this row runs (``nnkit bench --against``: its path,
    # commit and label); None: this checkout's
    checkout: dict[str, str | None] | None = None
    # seconds of the first ``run()``, which compiles (``command.build`` times it for the rows
    # that compile); None: not timed
    first_unit_s: float | None = None
    # K, the models a unit trains at once (S6: ``steps`` updates of each; ``flops_per_step``
    # all K models'); None: one model, a scenario without K
    models: int | None = None

    @property
    def label(self) -> str:
        """The row's name in the tables: "nnkit BACKEND STRATEGY", or the peer's name; an
        other checkout's row ends in " @LABEL"."""
        if self.library != "nnkit":
            return self.library
        name = f"nnkit {self.backend} {self.strategy}"
        return name if self.checkout is None else f"{name} @{self.checkout['label']}"

    @classmethod
    def from_info(
        cls, info: dict[str, Any], run: Callable[[], Any], checkout: dict[str, str | None]
    ) -> Contender:
        """The contender whose ``info()`` is ``info`` (made by ``checkout``'s nnkit), ``run``
        running it."""
        return cls(info["scenario"], info["library"], info["backend"], info["strategy"],
                   info["batch_size"], info["dtype"], info["device"], info["steps_per_unit"],
                   info["flops_per_step"], run, info["executed_flops_per_step"],
                   checkout, info.get("first_unit_s"), info.get("models"))  # fmt: skip

    def info(self) -> dict[str, Any]:
        """What pytest-benchmark's extra_info and the JSON report carry (``checkout`` only
        on an other checkout's row)."""
        extra = {} if self.checkout is None else {"checkout": self.checkout}
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
            "executed_flops_per_step": self.executed_flops_per_step or self.flops_per_step,
            "first_unit_s": self.first_unit_s,
            "models": self.models,
            **extra,
        }


def nnkit_contender(
    scenario: Scenario, backend: str, strategy: str, batch_size: int, dtype: str
) -> Contender:
    """An nnkit Trainer on ``backend``; strategy "fused" is "batched" with fit(fused=True)
    (JAX: the whole fit as one program; torch: the step compiled by ``torch.compile``)."""
    be = backends.get(backend)
    trainer = _trainer(scenario, be, "batched" if strategy == "fused" else strategy, dtype)
    X, T = _training_data(scenario, be, batch_size, dtype)
    fused, shuffle = strategy == "fused", scenario.digits

    def run() -> None:
        for _ in range(scenario.fit_calls):
            trainer.fit(X, T, epochs=scenario.epochs_per_fit, batch_size=batch_size,
                        shuffle=shuffle, fused=fused, progress=False)  # fmt: skip
        be.sync(trainer.params)

    return _contender(scenario, be, strategy, batch_size, dtype, run)


def stack_contender(
    scenario: Scenario, backend: str, strategy: str, batch_size: int, dtype: str, models: int
) -> Contender:
    """A row of K = ``models`` models at once (S6) on ``backend``, each model seeded with its
    index, a unit one epoch of each, every fit the backend's default (batched; on JAX the
    whole fit one compiled program). Strategy "sweep": one ``Sweep`` of the K models.
    "sequential": K Trainer fits one after another, the baseline; they take turns in one
    Trainer (``restore`` of model k's state, its fit, its state kept), so that its compiled
    program (JAX) is built once, not K times: a unit is the K fits' work, as K Trainers' in
    a row would be once compiled."""
    be = backends.get(backend)
    X, T = _training_data(scenario, be, batch_size, dtype)
    fit = {"epochs": scenario.epochs, "batch_size": batch_size, "shuffle": scenario.digits,
           "progress": False}  # fmt: skip
    if strategy == "sweep":
        from ..training import Sweep

        sweep = Sweep(scenario.model(), scenario.make_loss(), scenario.make_optimizer(),
                      seeds=list(range(models)), backend=be, dtype=dtype)  # fmt: skip

        def run() -> None:
            sweep.fit(X, T, **fit)
            be.sync(sweep.params)

    else:
        states = [_trainer(scenario, be, "batched", dtype, seed=k).state for k in range(models)]
        trainer = _trainer(scenario, be, "batched", dtype)

        def run() -> None:
            for k, state in enumerate(states):
                trainer.restore(state)
                trainer.fit(X, T, **fit)
                states[k] = trainer.state
            be.sync(trainer.params)

    return _contender(scenario, be, strategy, batch_size, dtype, run, models)


def _trainer(scenario: Scenario, be: Any, strategy: str, dtype: str, seed: int = 0) -> Trainer:
    return Trainer(scenario.model(), scenario.make_loss(), scenario.make_optimizer(),
                   backend=be, strategy=strategy, dtype=dtype, seed=seed)  # fmt: skip


def _training_data(scenario: Scenario, be: Any, batch_size: int, dtype: str) -> tuple[Any, Any]:
    """The scenario's X and what its loss takes (one-hot targets for MSE, labels for
    cross-entropy) on ``be``, float32 data for mixed precision."""
    X, y = scenario.data(batch_size)
    T = one_hot(y, scenario.sizes[-1]) if scenario.loss == "mse" else y
    data_dtype = precision.MIXED.get(dtype, dtype)
    return be.asarray(X, dtype=data_dtype), be.asarray(T, dtype=data_dtype if T.ndim == 2 else None)


def _contender(
    scenario: Scenario, be: Any, strategy: str, batch_size: int, dtype: str,
    run: Callable[[], Any], models: int | None = None,
) -> Contender:  # fmt: skip
    """The nnkit row of ``run``: ``steps`` updates of each of ``models`` models (None: one)."""
    k = models or 1
    return Contender(scenario.name, "nnkit", be.name, strategy, batch_size, dtype,
                     be.device_name(), scenario.steps(batch_size),
                     k * scenario.flops_per_step(batch_size), run,
                     k * scenario.executed_flops_per_step(batch_size), models=models)  # fmt: skip


def k_suffix(models: int | None) -> str:
    """The K of a row's cell as its name shows it: " K16" (16 models at once), or ""."""
    return "" if models is None else f" K{models}"


def strategies_for(backend: str, wanted: tuple[str, ...] = STRATEGIES) -> list[str]:
    """The strategies of ``wanted`` (of ``STRATEGIES``: one model a row) that ``backend``
    runs ("fused" needs a compiled scan or a compiled step)."""
    be = backends.get(backend)
    compiles = be.can_scan or be.can_compile_step
    return [s for s in wanted if s in STRATEGIES and (s != "fused" or compiles)]


def stack_strategies(wanted: tuple[str, ...]) -> list[str]:
    """The rows of a scenario of K models at once: those of ``STACK_STRATEGIES`` that
    ``wanted`` names, or both where it names neither."""
    return [s for s in STACK_STRATEGIES if s in wanted] or list(STACK_STRATEGIES)


def default_backends() -> list[str]:
    """Every available backend except the correctness references (``Backend.reference_only``:
    array_api_strict)."""
    return [b for b in backends.available() if not backends.get(b).reference_only]
