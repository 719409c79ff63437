"""``nnkit bench``: per-sample loops vs design-matrix batching on every backend, beside peers.

Its arguments, the matrix of contenders they name (with no arguments the quick run, about a
minute on a 2-core CPU; ``--full`` the whole matrix), timed by ``timing`` one cell (scenario,
dtype, batch size) at a time, interleaved within it (with ``--against``, beside each nnkit
row its twin of another checkout: ``against``), a progress line per contender on stderr, and
the tables and files it writes (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .. import backends
from ..checks import check_choice
from ..errors import InvalidValueError
from ..io import atomic_write
from ..training import precision
from . import against, peers
from . import report as bench_report
from .contenders import (
    QUICK_STRATEGIES,
    STACK_STRATEGIES,
    STRATEGIES,
    Contender,
    Planned,
    default_backends,
    k_suffix,
    nnkit_contender,
    stack_contender,
    stack_strategies,
    strategies_for,
)
from .scenarios import Scenario, peak_sizes, scenarios
from .scenarios import scenario as scenario_named
from .timing import MIN_ROUNDS, matmul_peaks, median_times, peak_sources

REPEATS = 5
# the quick run's time for the timed rounds of one cell: a cell whose round is slow (S2 on a
# busy 2-core CPU) gets fewer than --repeats rounds, never fewer than timing.MIN_ROUNDS
QUICK_CELL_BUDGET_S = 3.0
# warm-up calls per contender: one in the quick run (it compiles; a later compile would be
# one slow round, which the median of three or more leaves out), two in the full one
QUICK_WARMUPS, FULL_WARMUPS = 1, 2
# why the quick run leaves a contender out: nnkit's fused row on a backend that compiles a step
# with torch.compile, and the torch_compile peers
QUICK_LEAVES_OUT = ("torch.compile takes tens of seconds a contender, so the quick run leaves "
                    "it out (name it in --backends or --peers, or use --full)")  # fmt: skip


def _csv(kind: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        return [kind(v) for v in text.split(",") if v]

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``nnkit bench``."""
    p = argparse.ArgumentParser(
        prog="nnkit bench",
        description="Times scenarios S1 (lecture MLP), S2 (wide MLP), S3 (digits epoch), "
        "S4 and S5 (S1 for 100 epochs: one fit call, ten of ten epochs; JAX's default fit "
        "beside the JAX+Optax scan) and S6 (S1 for K models at once: an nnkit Sweep beside "
        "K sequential fits on each backend, torch.func and JAX vmap peers) with each backend "
        "x strategy and each installed peer, and prints a table. With no arguments a quick "
        "run (about a minute on a 2-core CPU): S1 at batch 64 and 1024, S2 at 256, S4 and S5 "
        "at 64, S6 at K=1 and 16, strategies batched and fused, without what torch.compile "
        "compiles (nnkit torch fused, the torch_compile peers: tens of seconds each) unless "
        "--backends or --peers names it; --full for the whole matrix. Explicit options "
        "override either.",
        epilog="docs: docs/benchmarks.md (the scenarios, the method, the results and what "
        "limits each backend)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="the whole matrix: every scenario, batch size and strategy (per_sample too), "
        "matmul peaks up to n=4096 (default: the quick run)",
    )
    # (option, type of its values, default, help); a comma list where the type is _csv's
    options = [
        ("--backends", _csv(str), None,
         "comma list (default: every available backend but array_api_strict); NAME:S1+S2 "
         "times only strategies S1 and S2 on backend NAME (e.g. torch:batched)"),
        ("--strategies", _csv(str), None,
         "comma list of per_sample,batched,fused (fused: backends that compile a scan, "
         "jax, or a step, torch; default: batched,fused, or all three with --full), and of "
         "S6's rows sweep,sequential (default: both)"),
        ("--batch-sizes", _csv(int), None,
         "comma list (default: each scenario's quick ones, or all its own with --full)"),
        ("--scenarios", _csv(str), None,
         "comma list of S1,S2,S3,S4,S5,S6 (default: S1,S2,S4,S5,S6, or all with --full)"),
        ("--models", _csv(str), None,
         "S6: comma list of K, the models trained at once (default: 1,16, or "
         "1,4,16,64,256 with --full)"),
        ("--max-sequential", str, None,
         "S6: the K sequential fits only where K <= this (default: at every K)"),
        ("--dtype", _csv(str), ["float32"],
         "comma list of float32, float64, bfloat16 (mixed precision: JAX and peers)"),
        ("--peers", _csv(str), None,
         f"comma list of {','.join(peers.PEERS)}, or 'none' (default: every installed one)"),
        ("--repeats", int, None,
         f"timed units per contender (median; default {REPEATS}, where the quick run's time "
         f"allows, else at least {MIN_ROUNDS}), and calls per matmul size of a peak (best)"),
        ("--threads", int, None,
         "threads for every library (BLAS, XLA, torch; default: every core)"),
        ("--matmul-size", _csv(int), None,
         "comma list of the n of the n x n matmuls whose best is a library's peak "
         "(default: 512,1024,2048, and 4096 with --full)"),
    ]  # fmt: skip
    for option, kind, default, text in options:
        p.add_argument(option, type=kind, default=default, help=text)
    p.add_argument(
        "--against",
        type=_csv(str),
        action="extend",
        metavar="PATH",
        help="another checkout of nnkit (e.g. a git worktree of main): every nnkit row is also "
        "timed with its nnkit, in a worker process, interleaved in the same rounds, and "
        "reported beside this checkout's with the ratio of the times (this / that); "
        "repeatable, or a comma list",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--plot", default=None, help="write samples/s vs batch size (PNG) here")
    p.add_argument("--markdown", default=None, help="write the tables as markdown here")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of ``args`` with the options left out filled in: the quick run's values, or
    the whole matrix's with ``--full`` (a batch size left out is resolved per scenario by
    ``batch_sizes``); ``budget_s`` the quick run's time for a cell's rounds (None: exactly
    --repeats rounds). Resolving resolved arguments changes nothing."""
    if getattr(args, "resolved", False):
        return args
    args = argparse.Namespace(**vars(args), resolved=True)
    table = scenarios()
    if args.scenarios is None:
        args.scenarios = [n for n, s in table.items() if args.full or s.quick_batch_sizes]
    if args.strategies is None:
        args.strategies = list(STRATEGIES if args.full else QUICK_STRATEGIES)
    args.budget_s = None if args.full or args.repeats is not None else QUICK_CELL_BUDGET_S
    if args.repeats is None:
        args.repeats = REPEATS
    if args.matmul_size is None:
        args.matmul_size = list(peak_sizes(args.full))
    if args.models is not None:
        args.models = [_count("--models", v) for v in args.models]
        if not args.models:
            raise InvalidValueError("--models needs at least one K (a comma list: 1,16)")
    if args.max_sequential is not None:
        args.max_sequential = _count("--max-sequential", args.max_sequential)
    return args


def _count(option: str, text: str) -> int:
    """``text`` as a count of models (an int >= 1); InvalidValueError naming ``option``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip():
        raise InvalidValueError(f"{option} takes whole numbers >= 1 (models trained at once), "
                                f"got {text!r}")  # fmt: skip
    return value


def batch_sizes(args: argparse.Namespace, scenario: str) -> tuple[int, ...]:
    """The batch sizes of ``scenario`` in the run: --batch-sizes, else the scenario's own
    (all with --full; its quick ones otherwise, or all where it has none)."""
    s = scenarios()[scenario]
    if args.batch_sizes:
        return tuple(args.batch_sizes)
    return s.batch_sizes if args.full else (s.quick_batch_sizes or s.batch_sizes)


def models(args: argparse.Namespace, scenario: str) -> tuple[int | None, ...]:
    """The K of ``scenario``'s cells in the run: --models, else the scenario's own (all with
    --full, its quick ones otherwise); (None,) for a scenario of one model."""
    s = scenarios()[scenario]
    if not s.stacked:
        return (None,)
    if args.models:
        return tuple(args.models)
    return s.models if args.full else (s.quick_models or s.models)


def matrix(args: argparse.Namespace) -> tuple[list[Planned], list[str]]:
    """Every row of the run that ``args`` (resolved) name, in order, cell by cell, and a
    note for each one that cannot run here or that the quick run leaves out. Builds and
    times nothing."""
    chosen = [_backend_choice(b) for b in args.backends or default_backends()]
    peer_names = _peer_names(args.peers, args.full)
    table = scenarios()
    found, skipped = [], []
    if not args.full and args.peers is None:
        skipped += [f"peer {p!r}: {QUICK_LEAVES_OUT}" for p in peers.TORCH_COMPILE
                    if peers.runs_here(p)]  # fmt: skip
    for sname in args.scenarios:
        for dtype in args.dtype:
            for batch in batch_sizes(args, sname):
                for k in models(args, sname):
                    found += _nnkit_rows(args, chosen, table[sname], dtype, batch, k, skipped)
                    found += _peer_rows(peer_names, table[sname], dtype, batch, k, skipped)
    return found, sorted(set(skipped))


def _nnkit_rows(
    args: argparse.Namespace, chosen: list[tuple[str, tuple[str, ...] | None]],
    scenario: Scenario, dtype: str, batch: int, k: int | None, skipped: list[str],
) -> list[Planned]:  # fmt: skip
    """The nnkit rows of a cell (``k``: its K, None for one model), each backend's strategies
    (a scenario of K models at once: ``stack_strategies``); a note in ``skipped`` for each
    one left out."""
    found = []
    for name, only in chosen:
        if dtype in precision.MIXED and not backends.get(name).bfloat16:
            skipped.append(f"backend {name!r} has no {dtype}")
            continue
        wanted = only or tuple(args.strategies)
        for strategy in stack_strategies(wanted) if scenario.stacked else \
                strategies_for(name, wanted):  # fmt: skip
            row = Planned(scenario.name, dtype, batch, "nnkit", name, strategy, k)
            if _left_out(args, name, strategy):
                skipped.append(f"nnkit {name} fused: {QUICK_LEAVES_OUT}")
            elif strategy == "sequential" and k > (args.max_sequential or k):
                skipped.append(f"{row.name}: K over --max-sequential {args.max_sequential}")
            elif scenario.runs(row.label):
                found.append(row)
    return found


def _peer_rows(
    peer_names: list[str], scenario: Scenario, dtype: str, batch: int, k: int | None,
    skipped: list[str],
) -> list[Planned]:  # fmt: skip
    """The peer rows of a cell: the peers that stack K models by hand in a scenario of K
    models at once, the others elsewhere; a note in ``skipped`` for each one that cannot
    run here."""
    found = []
    for peer in peer_names:
        if (peer in peers.STACKED) != scenario.stacked or not scenario.runs(peer):
            continue
        try:
            peers.check(peer, dtype)
        except peers.PeerUnavailable as e:
            skipped.append(str(e))
            continue
        found.append(Planned(scenario.name, dtype, batch, peer, None, "peer", k))
    return found


def _backend_choice(item: str) -> tuple[str, tuple[str, ...] | None]:
    """A --backends item as (backend, its own strategies or None): "torch:batched" ->
    ("torch", ("batched",)), "jax" -> ("jax", None)."""
    name, _, only = item.partition(":")
    return name, tuple(only.split("+")) if only else None


def _left_out(args: argparse.Namespace, backend: str, strategy: str) -> bool:
    """Whether the quick run leaves out nnkit ``backend`` ``strategy`` (resolved ``args``):
    the fused row of a backend that compiles a step (torch.compile), where --backends and
    --full leave the backends to their defaults."""
    return (strategy == "fused" and not args.full and args.backends is None
            and backends.get(backend).can_compile_step)  # fmt: skip


def build(row: Planned, full: bool = True) -> Contender:
    """The contender of a planned row (its model, data and compiled step made ready), with
    the quick run's unit of work unless ``full``. A row that compiles (``_compiles``) runs its
    first unit here, timed (``first_unit_s``)."""
    scenario = scenario_named(row.scenario, full)
    if row.library != "nnkit":
        c = peers.contender(row.library, scenario, row.batch_size, row.dtype, row.models)
    elif row.strategy in STACK_STRATEGIES:
        c = stack_contender(scenario, row.backend, row.strategy, row.batch_size, row.dtype,
                            row.models)  # fmt: skip
    else:
        c = nnkit_contender(scenario, row.backend, row.strategy, row.batch_size, row.dtype)
    if _compiles(row):
        start = time.perf_counter()
        c.run()
        c.first_unit_s = time.perf_counter() - start
    return c


def _compiles(row: Planned) -> bool:
    """Whether ``row``'s first unit compiles: nnkit "fused", a Sweep or K fits on a backend
    whose default fit is one compiled program (JAX), the peers of ``peers.COMPILED``."""
    if row.library != "nnkit":
        return row.library in peers.COMPILED
    stack_compiles = row.strategy in STACK_STRATEGIES and backends.get(row.backend).can_scan
    return row.strategy == "fused" or stack_compiles


def _peer_names(requested: list[str] | None, full: bool = True) -> list[str]:
    """The peers --peers names ("none": none); by default every installed one, less those
    that torch.compile compiles unless ``full``."""
    if requested is None:
        return [p for p in peers.available() if full or p not in peers.TORCH_COMPILE]
    return [] if requested == ["none"] else requested


def _validate(args: argparse.Namespace) -> None:
    """Unknown or unavailable names: a clear error before anything is timed."""
    for item in args.backends or []:
        name, only = _backend_choice(item)
        backends.get(name)  # unknown or unavailable: BackendUnavailable
        for strategy in only or ():
            check_choice(f"strategy in --backends {item!r}:", strategy,
                         STRATEGIES + STACK_STRATEGIES)  # fmt: skip
    for strategy in args.strategies:
        check_choice("strategy", strategy, STRATEGIES + STACK_STRATEGIES)
    for peer in _peer_names(args.peers):
        check_choice("peer (or 'none' alone)", peer, peers.PEERS)
    for sname in args.scenarios:
        check_choice("scenario", sname, scenarios())
    stacked = [n for n, s in scenarios().items() if s.stacked]
    for option in ("models", "max_sequential"):
        if getattr(args, option) is not None and not set(stacked) & set(args.scenarios):
            raise InvalidValueError(f"--{option.replace('_', '-')} sets the K of "
                                    f"{' and '.join(stacked)} only, which --scenarios leaves "
                                    "out")  # fmt: skip


def run(
    args: argparse.Namespace,
    say: Callable[[str], None] = lambda line: None,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Measure the matrix in ``args``; the report as a JSON-ready dict ("complete": True).
    ``say`` gets the progress lines: one per other checkout (--against) as its worker is
    ready, one per cell as it starts, one per contender as its timing ends, one per matmul
    peak. ``on_cell`` gets the report so far after each cell ("complete": False, no peaks
    yet), so that a run stopped midway leaves what it measured."""
    args = resolve(args)
    _validate(args)
    checkouts = against.checkouts(args.against or [])
    head: dict[str, Any] = {"mode": "full" if args.full else "quick"}
    if checkouts:
        head["against"] = [c.info() for c in checkouts]
    # the workers start before ``pin`` changes this process's environment: they pin their own
    with against.workers(checkouts, args.threads) as remotes:
        for worker in remotes:
            say(f"against @{worker.checkout.label}: nnkit {worker.version} of "
                f"{worker.checkout.path}, in worker pid {worker.pid}")  # fmt: skip
        peers.pin(args.threads)
        results, skipped = _time_cells(args, remotes, say, on_cell, head)
    sources = peak_sources(results)
    calls = max(MIN_ROUNDS, args.repeats)
    say(f"matmul peaks of {len(sources)} libraries: n={','.join(map(str, args.matmul_size))}, "
        f"the fastest of {calls} or more calls each")  # fmt: skip
    peaks = matmul_peaks(sources, args.matmul_size, calls, say)
    report = bench_report.summarise(results, peaks, skipped, _machine())
    return {**head, "complete": True, "matmul_sizes": list(args.matmul_size), **report}


def _time_cells(
    args: argparse.Namespace,
    remotes: list[against.Worker],
    say: Callable[[str], None],
    on_cell: Callable[[dict[str, Any]], None] | None,
    head: dict[str, Any],
) -> tuple[list[dict], list[str]]:
    """The rows of the matrix in ``args`` (resolved), timed a cell at a time, each nnkit row's
    twins of the other checkouts (``remotes``) beside it; and the notes on rows that cannot
    run. ``on_cell`` gets the report so far (``head`` first) after each cell."""
    planned, skipped = matrix(args)
    cells: dict[tuple, list[Planned]] = {}
    for row in planned:
        cells.setdefault(row.cell, []).append(row)
    total = len(planned) + len(remotes) * sum(row.library == "nnkit" for row in planned)
    rounds = f"{args.repeats} rounds" if args.budget_s is None else \
        f"{MIN_ROUNDS}-{args.repeats} rounds (as {args.budget_s:g} s a cell allows)"  # fmt: skip
    say(f"nnkit bench ({head['mode']}): {total} contenders in {len(cells)} cells, {rounds}"
        + ("" if args.full else "; --full for the whole matrix"))  # fmt: skip
    results: list[dict] = []
    progress = _Progress(total, say)
    for (scenario, dtype, batch, k), rows in cells.items():  # interleaved within a cell
        say(f"{scenario} b{batch}{k_suffix(k)} {dtype}: building and warming up {len(rows)} "
            "contenders"
            + "".join(f", their nnkit rows @{w.checkout.label}" for w in remotes))  # fmt: skip
        local = [build(row, args.full) for row in rows]
        group, notes = against.beside(local, rows, remotes, args.full)
        skipped = sorted({*skipped, *notes})
        progress.total -= len(notes)
        times = time_cell(group, args, progress.timed)
        results += [{**c.info(), "label": c.label, "times_s": t}
                    for c, t in zip(group, times, strict=True)]  # fmt: skip
        if on_cell is not None:
            report = bench_report.summarise([dict(r) for r in results], [], skipped, _machine())
            on_cell({**head, "complete": False, **report})
    return results, skipped


def time_cell(
    group: list[Contender],
    args: argparse.Namespace,
    done: Callable[[Contender, list[float]], None] = lambda c, times: None,
) -> list[list[float]]:
    """The unit times of each contender of a cell, interleaved (``timing.median_times`` with
    the rounds, warm-ups and budget of ``args``, resolved): a round calls one library's
    contenders together and pauses before another library's; an other checkout's rows, in
    their own process with its own threads, are a library of their own. ``done(c, times)``
    as contender c's timing ends."""
    return median_times([c.run for c in group], args.repeats,
                        lambda i, times: done(group[i], times),
                        budget_s=args.budget_s,
                        warmups=FULL_WARMUPS if args.full else QUICK_WARMUPS,
                        libraries=[_library(c) for c in group])  # fmt: skip


def _library(c: Contender) -> str:
    """Whose threads ``c`` runs on: its peak library's, in this process or another checkout's."""
    library = peers.peak_library(c.library, c.backend)
    return library if c.checkout is None else f"{library} @{c.checkout['label']}"


class _Progress:
    """The line of each contender as its timing ends: "[3/21] S1 b64 nnkit jax fused ...
    1.23 ms/step" (the median; K named where the scenario has one, "S6 b64 K16"; the dtype
    where it is not float32)."""

    def __init__(self, total: int, say: Callable[[str], None]):
        self.total, self.say, self.count = total, say, 0

    def timed(self, c: Contender, times: list[float]) -> None:
        self.count += 1
        cell = f"{c.scenario} b{c.batch_size}{k_suffix(c.models)}" + (
            "" if c.dtype == "float32" else f" {c.dtype}")  # fmt: skip
        step = bench_report.format_time(statistics.median(times) / c.steps)
        self.say(f"[{self.count}/{self.total}] {cell} {c.label} ... {step}/step")


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
    """``nnkit bench`` with ``argv`` (the arguments after "bench"): run the benchmark (progress
    on stderr unless --quiet), print the tables, write --out, --plot and --markdown; the
    exit code."""
    args = build_parser().parse_args(argv)
    say = (lambda line: None) if args.quiet else _stderr
    start = time.perf_counter()
    report = run(args, say, on_cell=lambda partial: _write(args, partial, plot=False))
    say(f"nnkit bench: measured in {time.perf_counter() - start:.0f} s")
    bench_report.print_tables(report)
    _write(args, report, plot=True)
    return 0


def _write(args: argparse.Namespace, report: dict[str, Any], plot: bool) -> None:
    """--out and --markdown (and, with ``plot``, --plot) from ``report``, atomically."""
    if args.out:
        atomic_write(args.out, bench_report.to_json(report).encode())
    if plot and args.plot:
        atomic_write(args.plot, bench_report.plot_png(report))
    if args.markdown:
        atomic_write(args.markdown, bench_report.markdown(report).encode())


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
