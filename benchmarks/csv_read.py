"""How fast ``nnkit`` reads a big CSV: ``nnkit.datafiles.read`` through pyarrow, through NumPy
(the parser where pyarrow is not installed) and through the csv module alone (the careful
reader, the one path before); ``numpy.loadtxt`` and ``pyarrow.csv.read_csv`` alone beside them;
``nnkit train FILE --epochs 1`` end to end with each reader; and, for PYARROW_MIN_BYTES, small
files read in a fresh process (pyarrow's import counted) by pyarrow and by NumPy.

    python benchmarks/csv_read.py --out benchmarks/results/csv-read-cpu-2core.md

The file (200,000 rows x 51 columns: 50 normal features, a class 0-2 last) is written by
``numpy.savetxt`` (``fmt="%.6g"``, a header row) under /tmp, outside the repository. Reading
times are medians of ``--runs`` runs in this one process, after one warm-up run each.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnkit import csvread, datafiles

ROWS, FEATURES = 200_000, 50
READERS = {"pyarrow": ("pyarrow",), "numpy": ("numpy",), "csv module": ()}  # csvread.PARSERS
# nnkit train in a fresh process, the reader chosen as above
TRAIN = (
    "import sys\nfrom nnkit import csvread\nfrom nnkit.cli import main\n"
    "csvread.PARSERS = {parsers!r}\n"
    "sys.exit(main(['train', {path!r}, '--epochs', '1', '--no-progress']))\n"
)
# one read in a fresh process (pyarrow's import counted): its seconds
COLD = (
    "import time\nfrom nnkit import csvread, datafiles\n"
    "csvread.PARSERS, csvread.PYARROW_MIN_BYTES = {parsers!r}, 0\n"
    "t = time.perf_counter(); datafiles.read({path!r}); print(time.perf_counter() - t)\n"
)


def write_file(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """``rows`` rows of 50 normal features and a class 0-2, as numpy.savetxt writes them."""
    rng = np.random.default_rng(seed)
    data = np.column_stack([rng.normal(size=(rows, FEATURES)), rng.integers(0, 3, rows)])
    names = ",".join([f"x{j}" for j in range(FEATURES)] + ["y"])
    np.savetxt(path, data, fmt="%.6g", delimiter=",", header=names, comments="")


def median_s(run: Callable[[], object], runs: int) -> float:
    """The median seconds of ``runs`` calls of ``run``, after one call to warm up."""
    run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def read_with(parsers: tuple[str, ...], path: Path) -> datafiles.Table:
    """datafiles.read(path) with csvread.PARSERS set to ``parsers``."""
    kept = csvread.PARSERS
    csvread.PARSERS = parsers
    try:
        return datafiles.read(path)
    finally:
        csvread.PARSERS = kept


def pyarrow_alone(path: Path) -> np.ndarray:
    """pyarrow.csv.read_csv with its defaults (types inferred), the columns as one array."""
    from pyarrow import csv

    table = csv.read_csv(path)
    return np.column_stack([column.to_numpy() for column in table.columns])


def reading(path: Path, runs: int) -> list[tuple[str, float]]:
    """(what, median seconds) of each way to read ``path``; the three readers' Tables equal."""
    tables = {name: read_with(parsers, path) for name, parsers in READERS.items()}
    first = tables["csv module"]
    for name, table in tables.items():
        assert table.parser == (READERS[name] or ("csv",))[0], (name, table.parser)
        assert table.X.tobytes() == first.X.tobytes() and table.y.tolist() == first.y.tolist()
        assert table.lines == first.lines
    rows = [
        (f"datafiles.read, {name}", median_s(lambda p=parsers: read_with(p, path), runs))
        for name, parsers in READERS.items()
    ]
    loadtxt = lambda: np.loadtxt(path, delimiter=",", skiprows=1)  # noqa: E731
    rows.append(("numpy.loadtxt alone (every column float64)", median_s(loadtxt, runs)))
    arrow = median_s(lambda: pyarrow_alone(path), runs)
    rows.append(("pyarrow.csv.read_csv alone (+ to_numpy)", arrow))
    return rows


def training(path: Path, runs: int) -> list[tuple[str, float, float]]:
    """(reader, median wall seconds, median seconds of the fit) of ``nnkit train`` on ``path``."""
    rows = []
    for name, parsers in READERS.items():
        walls, fits = [], []
        for _ in range(runs):
            code = TRAIN.format(parsers=parsers, path=str(path))
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
            walls.append(time.perf_counter() - start)
            fits.append(float(re.search(r"^trained .* in ([0-9.]+) s", out, re.M).group(1)))
        rows.append((name, statistics.median(walls), statistics.median(fits)))
    return rows


def run_seconds(code: str) -> float:
    """What the Python ``code``, run in a fresh process, prints: its seconds."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(run.stdout)


def cold_reads(folder: Path, runs: int) -> list[tuple[float, float, float]]:
    """(MiB, pyarrow s, NumPy s): one read of a smaller file in a fresh process, medians."""
    rows = []
    for n in (1_250, 2_500, 5_000, 10_000, 20_000):
        path = folder / f"csv-read-{n}.csv"
        write_file(path, n)
        seconds = []
        for parsers in (("pyarrow",), ("numpy",)):
            code = COLD.format(parsers=parsers, path=str(path))
            seconds.append(statistics.median(run_seconds(code) for _ in range(runs)))
        rows.append((path.stat().st_size / 2**20, *seconds))
        path.unlink()
    return rows


def machine() -> str:
    """The CPU, its cores and the versions that matter here."""
    info = Path("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", info.read_text(), re.M) if info.exists() else None
    return (
        f"{model.group(1) if model else platform.processor()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"pyarrow {__import__('pyarrow').__version__}"
    )


def report(path: Path, runs: int, train_runs: int) -> str:
    """The Markdown page of the measurements."""
    load = os.getloadavg()[0]
    read = reading(path, runs)
    base = dict(read)["datafiles.read, csv module"]
    fast = dict(read)["datafiles.read, pyarrow"]
    lines = [
        "# Reading a big CSV (CPU, 2 cores)",
        "",
        f"Machine: the shared 2-core x86_64 CPU ({machine()}).",
        "It is shared with other work and may be loaded: compare the ratios, measured in the",
        f"same process, more than the seconds. Load average (1 min) at the start: {load:.2f}.",
        "",
        f"File: {ROWS:,} rows x {FEATURES + 1} columns, {path.stat().st_size / 1e6:.0f} MB, "
        "written by",
        '`numpy.savetxt(fmt="%.6g", delimiter=",", header=..., comments="")`',
        "(`python benchmarks/csv_read.py`).",
        "",
        f"## Reading: medians of {runs} runs in one process (after a warm-up run)",
        "",
        "| reader | seconds | vs the csv module | vs pyarrow (datafiles.read) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {s:.2f} | {base / s:.1f}x | {s / fast:.2f}x time |" for name, s in read]
    lines += [
        "",
        "`datafiles.read` gives the same arrays whichever reader runs (checked before timing);",
        "\"csv module\" is the reader every CSV went through before (`csvread.PARSERS = ()`).",
        "Through pyarrow it gives each column its type (no inference, unlike read_csv alone),",
        "and besides the parse it finds the line ends and quotes (to vouch for one record per",
        "line, as the csv module reads them), fills X, checks that every number is finite,",
        "and reads the target's cells with Python's int/float (the csv reader's rules).",
    ]
    lines += [
        "",
        f"## `nnkit train FILE --epochs 1`: medians of {train_runs} runs, each a fresh process",
        "",
        "| reader | wall seconds | of which the fit | the rest: start-up, reading, split |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {wall:.2f} | {fit:.2f} | {wall - fit:.2f} |"
              for name, wall, fit in training(path, train_runs)]  # fmt: skip
    lines += [
        "",
        f"## Smaller files: one read in a fresh process (pyarrow's import counted), medians of "
        f"{runs}",
        "",
        "| MiB | pyarrow s | NumPy s |",
        "|---:|---:|---:|",
    ]
    cold = cold_reads(path.parent, runs)
    lines += [f"| {mib:.2f} | {arrow:.3f} | {numpy:.3f} |" for mib, arrow, numpy in cold]
    lines += ["", f"Load average (1 min) at the end: {os.getloadavg()[0]:.2f}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=Path("/tmp/nnkit-csv-read/big.csv"))
    parser.add_argument("--runs", type=int, default=3, help="runs per reading time")
    parser.add_argument("--train-runs", type=int, default=3, help="runs of nnkit train")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    args = parser.parse_args()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    if not args.path.exists():
        write_file(args.path)
    text = report(args.path, args.runs, args.train_runs)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
