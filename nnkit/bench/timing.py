"""Honest timing for ``nnkit bench``: warmed-up, interleaved repeats, and the matmul peak of
each library and dtype measured in the same run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np  # host-side: the peak matmuls' random operands are drawn on the host

from .. import backends
from . import peers
from .report import device_kind

# a size is left out of a peak when a call of it would take longer than this (estimated
# from the size below it as n**3), and so is every larger one
MAX_PEAK_CALL_S = 3.0
# a matmul faster than this is called again within a round of the peak's timing (cheap sizes
# get more chances at a quiet moment)
MIN_PEAK_ROUND_S = 0.05
MIN_ROUNDS = 3  # the fewest timed rounds a time budget may leave a cell (a median of three)
# the pause before a library's first call of a round: a library's worker threads spin for a
# while after its last call (OpenBLAS's for about 0.1 s), and on a machine with few cores
# they would take the next library's cores: PyTorch on 2 cores ran 2-3x slower right after
# a NumPy unit than alone. The pause keeps this core busy (``pause``)
SETTLE_S = 0.15


@dataclass(frozen=True)
class SelfTimed:
    """A unit that reads its own clock, in another process: ``measure(settle_s)`` pauses
    ``settle_s`` there (as ``pause``: the core that runs the unit kept busy), runs the unit
    once and returns the seconds it measured around the unit; a call runs it untimed (a
    warm-up)."""

    measure: Callable[[float], float]

    def __call__(self) -> None:
        self.measure(0.0)


def median_times(
    units: list[Callable[[], Any]],
    repeats: int,
    done: Callable[[int, list[float]], None] | None = None,
    budget_s: float | None = None,
    warmups: int = 2,
    libraries: Sequence[str] | None = None,
    settle_s: float = SETTLE_S,
) -> list[list[float]]:
    """Seconds per call of each unit: ``warmups`` calls each first (two by default: a JAX
    step may compile again once the optimizer's step count is an array), then ``repeats``
    rounds that call every unit once (rotating who goes first), so drift hits all of them
    alike. ``libraries`` names each unit's array library: a round calls one library's units
    together (rotating which library goes first) and pauses ``settle_s`` before them (see
    ``pause``), so that no library is timed while another's idle threads still spin. With
    ``budget_s``, as many rounds as the first round's time (its pauses included) says fit
    in it, at least ``MIN_ROUNDS`` and at most ``repeats``.
    A ``SelfTimed`` unit's time is the one it measured itself, and its pause is taken
    where it runs.
    ``done(i, times)`` is called as unit i finishes its last round."""
    libs = list(libraries) if libraries is not None else [""] * len(units)
    if len(libs) != len(units):
        raise ValueError(f"got {len(libs)} libraries for {len(units)} units; expected one each")
    for unit in units:
        for _ in range(warmups):
            unit()
    names = list(dict.fromkeys(libs))  # each library once, in the order of its first unit
    times: list[list[float]] = [[] for _ in units]
    rounds, last, start = repeats, libs[-1] if libs else "", perf_counter()
    for r in range(repeats):
        if r == 1 and budget_s is not None:  # round 0 (pauses too) is never the last one it cuts
            rounds = _rounds(budget_s, perf_counter() - start, repeats)
        if r == rounds:
            break
        for name in _rotated(names, r):
            for i in _rotated([i for i, lib in enumerate(libs) if lib == name], r):
                settle = settle_s if libs[i] != last else 0.0
                last = libs[i]
                times[i].append(_timed(units[i], settle))
                if done is not None and r == rounds - 1:
                    done(i, times[i])
    return times


def pause(seconds: float) -> None:
    """Wait ``seconds`` with this core busy: a core that sleeps comes back slow (a NumPy S1
    unit timed right after a 0.15 s sleep took 1.5x its time in a back-to-back loop; after
    as long a busy wait, its back-to-back time)."""
    end = perf_counter() + seconds
    while perf_counter() < end:
        pass


def _rotated(items: list, k: int) -> list:
    """``items`` from its ``k``-th (modulo its length) on, then the ones before."""
    k %= len(items)
    return items[k:] + items[:k]


def _rounds(budget_s: float, round_s: float, repeats: int) -> int:
    """The rounds of ``round_s`` seconds that fit in ``budget_s``, within MIN_ROUNDS..repeats."""
    fit = int(budget_s / round_s) if round_s > 0 else repeats
    return max(min(MIN_ROUNDS, repeats), min(repeats, fit))


def matmul_gflops(n: int, seconds: float) -> float:
    """GFLOP/s of an n x n @ n x n matmul (2 n**3 FLOPs) that took ``seconds``."""
    return 2 * n**3 / seconds / 1e9


def best_peak(times_by_n: dict[int, list[float]]) -> tuple[int, float, dict[int, float]]:
    """(n, GFLOP/s, GFLOP/s by n) of the peak from the call times of n x n matmuls: each
    size's rate from its fastest call (noise only ever slows a call down, so the minimum is
    the least disturbed), the peak the best size's."""
    by_n = {n: matmul_gflops(n, min(t)) for n, t in sorted(times_by_n.items()) if t}
    if not by_n:
        raise ValueError("no matmul was timed")
    n = max(by_n, key=by_n.__getitem__)
    return n, by_n[n], by_n


def time_matmuls(
    makers: list[Callable[[int], Callable[[], Any]]],
    sizes: Sequence[int],
    repeats: int,
    max_call_s: float = MAX_PEAK_CALL_S,
    min_round_s: float = MIN_PEAK_ROUND_S,
    settle_s: float = SETTLE_S,
) -> list[tuple[dict[int, list[float]], list[str]]]:
    """Call times of ``make(n)()`` (a synchronised n x n matmul) for each maker and each n of
    ``sizes``, and notes on the sizes left out. First each maker's sizes, smallest first: a
    warm-up call (compiles under JAX) and a timed one; a size whose call would take over
    ``max_call_s`` (estimated from the size before it as n**3), or whose operands do not fit
    in memory, is left out with the larger ones. Then ``repeats - 1`` rounds that call every
    (maker, size) in turn, so that a quiet moment of a busy machine can come to each of
    them; a fast one is called again within a round until ``min_round_s`` is spent. Each
    maker is one library: ``settle_s`` passes before a maker's first call of a round (see
    ``median_times``)."""
    out: list[tuple[dict[int, list[float]], list[str]]] = []
    units: list[tuple[int, list[float], Callable[[], Any]]] = []
    for m, make in enumerate(makers):
        times: dict[int, list[float]] = {}
        notes: list[str] = []
        pause(settle_s)
        for n in sorted(set(sizes)):
            last = max(times, default=0)
            if last and times[last][0] * (n / last) ** 3 > max_call_s:
                notes.append(f"n>={n}: over {max_call_s:g} s a call")
                break
            try:
                unit = make(n)
                unit()
            except (MemoryError, RuntimeError) as e:  # out of host or device memory
                notes.append(f"n>={n}: {type(e).__name__}: {str(e).splitlines()[0][:80]}")
                break
            times[n] = [_timed(unit)]
            units.append((m, times[n], unit))
        out.append((times, notes))
    for _ in range(repeats - 1):
        last = None
        for m, calls, unit in units:
            if m != last:
                pause(settle_s)
                last = m
            for _ in range(max(1, int(min_round_s / max(min(calls), 1e-6)))):
                calls.append(_timed(unit))
    return out


def _timed(unit: Callable[[], Any], settle_s: float = 0.0) -> float:
    """Seconds of one call of ``unit``, after a pause of ``settle_s`` (none at 0)."""
    if isinstance(unit, SelfTimed):
        return unit.measure(settle_s)
    if settle_s:
        pause(settle_s)
    start = perf_counter()
    unit()
    return perf_counter() - start


def _backend_matmul(name: str, dtype: str) -> Callable[[int], Callable[[], Any]]:
    """n -> a compiled (where the backend compiles), synchronised matmul of two random
    n x n arrays of ``dtype`` on backend ``name``'s device."""
    be = backends.get(name)
    mm = be.jit(lambda a, b: a @ b)

    def make(n: int) -> Callable[[], Any]:
        rng = np.random.default_rng(0)
        a, b = (be.asarray(rng.random((n, n)), dtype=dtype) for _ in range(2))
        return lambda: be.sync(mm(a, b))

    return make


def peak_sources(rows: list[dict]) -> list[tuple[str, str, str, Callable]]:
    """(library, device, dtype, n -> matmul) of each peak the ``rows`` (Contender.info()
    dicts) are held against: one per library, device kind and dtype."""
    found: dict[tuple, tuple[str, str, str, Callable]] = {}
    for r in rows:
        lib, dtype = peers.peak_library(r["library"], r["backend"]), r["dtype"]
        key = lib, device_kind(r["device"]), dtype
        if key in found:
            continue
        own = peers.matmul_peak_maker(lib, dtype) if r["library"] != "nnkit" else None
        if own is not None:  # torch: its own tensors
            found[key] = (lib, own[0], dtype, own[1])
        elif lib in backends.available():
            found[key] = (lib, backends.get(lib).device_name(), dtype, _backend_matmul(lib, dtype))
    return list(found.values())


def matmul_peaks(
    sources: list[tuple[str, str, str, Callable]],
    sizes: Sequence[int],
    repeats: int,
    say: Callable[[str], None] = lambda line: None,
) -> list[dict[str, Any]]:
    """The peak of each source (see ``peak_sources``): the best GFLOP/s of its n x n
    matmuls over ``sizes``, each size's from its fastest call (``repeats`` calls at least,
    more for fast ones; see ``time_matmuls``); ``n`` the size that gave it, ``gflops_by_n``
    and ``calls_by_n`` every size's. The threads are those the rows ran with (the
    process-wide settings of ``peers.pin``)."""
    timed = time_matmuls([make for *_, make in sources], sizes, repeats)
    out = []
    for (lib, device, dtype, _), (times, notes) in zip(sources, timed, strict=True):
        if not times:
            say(f"matmul peak {lib} {dtype}: none ({'; '.join(notes)})")
            continue
        n, gflops, by_n = best_peak(times)
        out.append({"library": lib, "device": device, "dtype": dtype, "n": n,
                    "gflops": gflops, "gflops_by_n": {str(k): v for k, v in by_n.items()},
                    "calls_by_n": {str(k): len(v) for k, v in times.items()},
                    "sizes_left_out": notes})  # fmt: skip
        say(f"matmul peak {lib} {dtype}: {gflops:.1f} GFLOP/s at n={n} ("
            + ", ".join(f"{k}: {v:.1f}" for k, v in by_n.items()) + ")")  # fmt: skip
    return out
