"""NumPy's BLAS on one thread for small matmuls.

OpenBLAS splits a matmul over its threads from about half a million multiply-adds on; for
a small one, waking the threads costs more than they save (a 64x64 @ 64x128 float32
matmul on a 2-core x86_64: 15 us on one thread, 27 us on two; one thread stays faster up
to about 1.5 M multiply-adds). ``one_thread()`` sets every loaded BLAS library to one
thread and returns what ``restore`` puts back. It works through threadpoolctl (scikit-learn
depends on it; ``pip install threadpoolctl``); where threadpoolctl is not installed it does
nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

# the largest matmul (multiply-adds) that one_thread() is worth it for
SERIAL_BELOW = 1_500_000

_libraries: list[Any] | None = None


def libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded now (found once), or []."""
    global _libraries
    if _libraries is None:
        _libraries = []
        if importlib.util.find_spec("threadpoolctl") is not None:
            from threadpoolctl import ThreadpoolController

            _libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _libraries


def one_thread() -> list[int]:
    """Every BLAS library on one thread; returns their thread counts before, for restore."""
    found = libraries()
    counts = [lib.get_num_threads() for lib in found]
    for lib in found:
        lib.set_num_threads(1)
    return counts


def restore(counts: list[int]) -> None:
    """The thread counts ``one_thread`` returned, back."""
    for lib, count in zip(libraries(), counts, strict=True):
        lib.set_num_threads(count)
