"""Honest timing for ``nnkit bench``: warmed-up, interleaved repeats, and the matmul peak of
each library and dtype measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from .. import backends
from ..training import precision
from . import peers


def median_times(units: list[Callable[[], Any]], repeats: int) -> list[list[float]]:
    """Seconds per call of each unit: two warm-up calls each (JAX compiles twice: the
    optimizer's step count starts as a Python int), then ``repeats`` rounds that call every
    unit once (rotating who goes first), so drift hits all of them alike."""
    for unit in units:
        unit()
        unit()
    times: list[list[float]] = [[] for _ in units]
    for r in range(repeats):
        for i in [(r + j) % len(units) for j in range(len(units))]:
            start = time.perf_counter()
            units[i]()
            times[i].append(time.perf_counter() - start)
    return times


def matmul_peaks(
    names: list[str], dtypes: list[str], peer_names: list[str], n: int, repeats: int
) -> list[dict[str, Any]]:
    """GFLOP/s of an n x n @ n x n matmul per (library, dtype), with its device: each backend
    of ``names`` (those with the dtype) and each peer of ``peer_names`` that has one."""
    units, labels = [], []
    for dtype in dtypes:
        for name in names:
            be = backends.get(name)
            if dtype in precision.MIXED and not be.bfloat16:
                continue
            a = be.asarray(backends.get("numpy").xp.ones((n, n)), dtype=dtype)
            mm = be.jit(lambda x: x @ x)
            units.append(lambda be=be, mm=mm, a=a: be.sync(mm(a)))
            labels.append((name, be.device_name(), dtype))
        for peer in peer_names:
            found = peers.matmul_peak_fn(peer, n, dtype)
            if found is not None:
                units.append(found[1])
                labels.append((peer, found[0], dtype))
    return [
        {"library": lib, "device": device, "dtype": dtype, "n": n,
         "gflops": 2 * n**3 / statistics.median(t) / 1e9}
        for (lib, device, dtype), t in zip(labels, median_times(units, repeats), strict=True)
    ]  # fmt: skip
