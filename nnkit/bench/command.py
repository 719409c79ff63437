"""``nnkit bench``: per-sample loops vs design-matrix batching on every backend, beside peers.

Its arguments, the matrix of contenders they name (timed by ``timing``, interleaved within
each scenario and dtype), and the tables and files it writes (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from typing import Any

from .. import backends
from ..io import atomic_write
from ..training import precision
from . import peers
from . import report as bench_report
from .contenders import STRATEGIES, Contender, default_backends, nnkit_contender, strategies_for
from .scenarios import scenarios
from .timing import matmul_peaks, median_times


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [kind(v) for v in text.split(",") if v]

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``nnkit bench``."""
    p = argparse.ArgumentParser(
        prog="nnkit bench",
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
    return p


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


def main(argv: list[str]) -> int:
    """``nnkit bench`` with ``argv`` (the arguments after "bench"): run the benchmark, print
    the tables, write --out, --plot and --markdown; the exit code."""
    args = build_parser().parse_args(argv)
    report = run(args)
    bench_report.print_tables(report)
    if args.out:
        atomic_write(args.out, bench_report.to_json(report).encode())
    if args.plot:
        atomic_write(args.plot, bench_report.plot_png(report))
    if args.markdown:
        atomic_write(args.markdown, bench_report.markdown(report).encode())
    return 0
