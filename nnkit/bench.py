"""``nnkit bench``: per-sample loops vs design-matrix batching on every backend, beside peers.

Warm-up first, ``Backend.sync`` before the clock is read, medians over repeats
interleaved across the contenders of a scenario, and the device's float matmul
peak measured in the same run. See docs for the report's columns.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from . import backends, bench_report, peers, precision
from .bench_cases import (
    STRATEGIES,
    Contender,
    default_backends,
    nnkit_contender,
    scenarios,
    strategies_for,
)


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [kind(v) for v in text.split(",") if v]

    return parse


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``nnkit bench`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "bench",
        help="time per-sample vs batched training on each backend, beside peer libraries",
        description="Times scenarios S1 (lecture MLP), S2 (wide MLP), S3 (digits epoch) "
        "with each backend x strategy and each installed peer, and prints a table.",
    )
    p.add_argument(
        "--backends",
        type=_csv(str),
        default=None,
        help="comma list (default: every available backend but array_api_strict)",
    )
    p.add_argument(
        "--strategies",
        type=_csv(str),
        default=list(STRATEGIES),
        help="comma list of per_sample,batched,fused (fused: JAX only)",
    )
    p.add_argument(
        "--batch-sizes",
        type=_csv(int),
        default=None,
        help="comma list (default: each scenario's own)",
    )
    p.add_argument("--scenarios", type=_csv(str), default=["S1", "S2", "S3"])
    p.add_argument(
        "--dtype",
        type=_csv(str),
        default=["float32"],
        help="comma list of float32, float64, bfloat16 (mixed precision: JAX and peers)",
    )
    p.add_argument(
        "--peers",
        type=_csv(str),
        default=None,
        help=f"comma list of {','.join(peers.PEERS)}, or 'none' (default: every installed one)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed units per contender (median)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every library (BLAS, XLA, torch; default: every core)",
    )
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the peak n x n matmul")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--plot", default=None, help="write samples/s vs batch size (PNG) here")
    p.add_argument("--markdown", default=None, help="write the tables as markdown here")
    p.set_defaults(func=cmd_bench)  # fmt: skip
    return p


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


def matmul_peaks(names: list[str], dtypes: list[str], peer_names: list[str], n: int, repeats: int):
    """GFLOP/s of an n x n @ n x n matmul per (library, dtype), with its device."""
    rows, units, labels = [], [], []
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
    for (lib, device, dtype), t in zip(labels, median_times(units, repeats), strict=True):
        gflops = 2 * n**3 / statistics.median(t) / 1e9
        rows.append({"library": lib, "device": device, "dtype": dtype, "n": n, "gflops": gflops})
    return rows


def build_contenders(args: argparse.Namespace) -> tuple[list[Contender], list[str]]:
    """Every contender of the matrix, and a note for each one skipped."""
    names = args.backends or default_backends()
    peer_names = _peer_names(args.peers)
    found, skipped = [], []
    for sname in args.scenarios:
        scenario = scenarios()[sname]
        for dtype in args.dtype:
            for batch in args.batch_sizes or scenario.batch_sizes:
                for name in names:
                    if dtype in precision.MIXED and not backends.get(name).bfloat16:
                        skipped.append(f"backend {name!r} has no {dtype}")
                        continue
                    for strategy in strategies_for(name, tuple(args.strategies)):
                        found.append(nnkit_contender(scenario, name, strategy, batch, dtype))
                for peer in peer_names:
                    try:
                        found.append(peers.contender(peer, scenario, batch, dtype))
                    except peers.PeerUnavailable as e:
                        skipped.append(str(e))
    return found, sorted(set(skipped))


def _peer_names(requested: list[str] | None) -> list[str]:
    if requested is None:
        return peers.available()
    return [] if requested == ["none"] else requested


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the matrix in ``args``; the report as a JSON-ready dict."""
    for name in args.backends or []:
        backends.get(name)  # unknown or unavailable: BackendUnavailable, before any timing
    for strategy in args.strategies:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {list(STRATEGIES)}")
    for peer in _peer_names(args.peers):
        if peer not in peers.PEERS:
            raise ValueError(f"unknown peer {peer!r}; expected one of {list(peers.PEERS)} or none")
    for sname in args.scenarios:
        if sname not in scenarios():
            raise ValueError(f"unknown scenario {sname!r}; expected one of {sorted(scenarios())}")
    peers.pin(args.threads)
    contenders, skipped = build_contenders(args)
    results = []
    for group in _groups(contenders):  # interleave within a scenario, one group at a time
        for c, t in zip(group, median_times([c.run for c in group], args.repeats), strict=True):
            results.append({**c.info(), "label": c.label, "times_s": t})
    names = args.backends or default_backends()
    peaks = matmul_peaks(names, args.dtype, _peer_names(args.peers), args.matmul_size,
                         args.repeats)  # fmt: skip
    return bench_report.summarise(results, peaks, skipped, _machine())


def _groups(contenders: list[Contender]) -> list[list[Contender]]:
    groups: dict[tuple, list[Contender]] = {}
    for c in contenders:
        groups.setdefault((c.scenario, c.dtype), []).append(c)
    return list(groups.values())


def _machine() -> dict[str, Any]:
    import numpy as np  # host-side: the version for the report

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": peers.threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "backends": {n: backends.get(n).device_name() for n in backends.available()},
    }


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table, write --out and --plot."""
    report = run(args)
    bench_report.print_tables(report)
    if args.out:
        bench_report.write_json(report, args.out)
    if args.plot:
        bench_report.plot(report, args.plot)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(bench_report.markdown(report))
    return 0
