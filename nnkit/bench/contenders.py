"""What ``nnkit bench`` and the pytest-benchmark suite time: a Contender runs one unit of a
scenario per call (``steps`` minibatch updates, synchronised at the end)."""

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


class Planned(NamedTuple):
    """A row of the matrix before it is built: "nnkit" on ``backend`` with ``strategy``, or
    a peer (``library`` its name, ``backend`` None, ``strategy`` "peer")."""

    scenario: str
    dtype: str
    batch_size: int
    library: str
    backend: str | None
    strategy: str

    @property
    def cell(self) -> tuple[str, str, int]:
        """What the rows timed together (interleaved) and compared share."""
        return self.scenario, self.dtype, self.batch_size

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
                   checkout, info.get("first_unit_s"))  # fmt: skip

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
            **extra,
        }


def nnkit_contender(
    scenario: Scenario, backend: str, strategy: str, batch_size: int, dtype: str
) -> Contender:
    """An nnkit Trainer on ``backend``; strategy "fused" is "batched" with fit(fused=True)
    (JAX: the whole fit as one program; torch: the step compiled by ``torch.compile``)."""
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
        for _ in range(scenario.fit_calls):
            trainer.fit(X, T, epochs=scenario.epochs_per_fit, batch_size=batch_size,
                        shuffle=shuffle, fused=fused)  # fmt: skip
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
        scenario.executed_flops_per_step(batch_size),
    )


def strategies_for(backend: str, wanted: tuple[str, ...] = STRATEGIES) -> list[str]:
    """The strategies of ``wanted`` that ``backend`` runs ("fused" needs a compiled scan or
    a compiled step)."""
    be = backends.get(backend)
    return [s for s in wanted if s != "fused" or be.can_scan or be.can_compile_step]


def default_backends() -> list[str]:
    """Every available backend except the correctness references (``Backend.reference_only``:
    array_api_strict)."""
    return [b for b in backends.available() if not backends.get(b).reference_only]
