"""NumPy on the CPU: eager maths, and a ``jit`` that records a function once and replays the
array calls it made (``compiled``, on ``tracing``), bitwise the plain call.

``Backend.jit`` is how every backend speeds up nnkit's formulas as they are written: JAX
compiles them with XLA; NumPy traces them through NumPy's own dispatch protocols
(``__array_ufunc__``, NEP 13; ``__array_function__``, NEP 18; ``__array_namespace__``)
and, from then on, makes the same ufunc and BLAS calls into buffers it keeps, without the
layers' Python. A training step so compiled donates its parameters and optimizer state: the
replay writes the updated values into them. Independent jobs (``concurrently``) run in a
thread a core (``threads``).
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import array_api_compat.numpy as xp

from ..base import Backend
from . import threads
from .compiled import Compiled, jit


class NumpyBackend(Backend):
    name = "numpy"
    install = "pip install numpy"
    is_host = True
    donates = True  # a replayed step writes its outputs into the donated arrays
    workers = threads.cores()  # ufunc loops and BLAS calls release the GIL: a job a core

    def jit(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Compiled:
        return jit(fn, donate_argnums)

    @contextlib.contextmanager
    def concurrently(self) -> Iterator[Callable[[Sequence[Callable[[], Any]]], list[Any]]]:
        with threads.concurrently(self.workers) as run:
            yield run

    def device_name(self) -> str:
        return f"cpu ({platform.processor() or platform.machine()})"


def load() -> NumpyBackend:
    return NumpyBackend(xp, "cpu")
