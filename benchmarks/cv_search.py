"""Cross-validated grid search on digits, 12 candidates x 3 folds: nnkit's ``MLPClassifierCV``
(every candidate x fold trained as one stack, NumPy backend) against ``GridSearchCV`` over
scikit-learn's ``MLPClassifier`` (``n_jobs=1`` and ``n_jobs=-1``) and over nnkit's own
``MLPClassifier`` (one fit at a time): seconds for the whole search (refit included), the best
parameters and the best mean cross-validation accuracy of each.

    python benchmarks/cv_search.py [--runs 3] [--threads 1] [--batch-size auto] [--out FILE]

The data: scikit-learn's bundled digits (1797 images, pixels / 16), ``StratifiedKFold(3)``.
The network: 64 ReLU hidden units, Adam, batch 200 ('auto', or ``--batch-size``), up to 200
epochs (``--max-iter``) with scikit-learn's stopping rule, ``random_state=0``; the grid:
``learning_rate_init`` in {0.001, 0.01, 0.1} x ``alpha`` in {1e-4, 1e-2, 1, 10}. Times are
medians of ``--runs`` rounds, the contenders interleaved within each round, in this one
process (the ``n_jobs=-1`` search in its worker processes). ``--threads`` sets the BLAS
threads of every contender (``OPENBLAS_NUM_THREADS`` and the like, read when NumPy starts;
the workers inherit it): on a machine shared with other work, one thread keeps two BLAS
threads from waiting on each other.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="rounds; times are their medians")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads of every contender (default: the process's)")
    p.add_argument("--max-iter", type=int, default=200, help="most epochs of each fit")
    p.add_argument("--batch-size", default="auto", help="minibatch rows ('auto': 200 here)")
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    return p.parse_args(argv)


ARGS = parse(sys.argv[1:])
if ARGS.threads is not None:  # before NumPy starts its BLAS
    for name in THREAD_VARIABLES:
        os.environ[name] = str(ARGS.threads)
os.environ.setdefault("PYTHONWARNINGS", "ignore")  # the n_jobs=-1 workers' ConvergenceWarnings

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

import nnkit  # noqa: E402
from nnkit.estimators import MLPClassifier, MLPClassifierCV  # noqa: E402

GRID = {"learning_rate_init": [0.001, 0.01, 0.1], "alpha": [1e-4, 1e-2, 1.0, 10.0]}


def contenders(max_iter: int) -> dict[str, object]:
    """name -> a function that runs one search and returns it (fitted)."""
    batch = ARGS.batch_size if ARGS.batch_size == "auto" else int(ARGS.batch_size)
    params = {"hidden_layer_sizes": (64,), "random_state": 0, "max_iter": max_iter,
              "batch_size": batch}  # fmt: skip
    cv = StratifiedKFold(3)

    def grid_search(estimator, n_jobs=None):
        return lambda X, y: GridSearchCV(estimator, GRID, cv=cv, n_jobs=n_jobs).fit(X, y)

    def stacked(dtype):
        return lambda X, y: MLPClassifierCV(**params, dtype=dtype, param_grid=GRID, cv=cv).fit(X, y)

    return {
        "GridSearchCV(sklearn MLPClassifier), n_jobs=1": grid_search(
            neural_network.MLPClassifier(**params)),
        "GridSearchCV(sklearn MLPClassifier), n_jobs=-1": grid_search(
            neural_network.MLPClassifier(**params), n_jobs=-1),
        "GridSearchCV(nnkit MLPClassifier), n_jobs=1": grid_search(MLPClassifier(**params)),
        "nnkit MLPClassifierCV (float64)": stacked(None),
        "nnkit MLPClassifierCV (dtype='float32')": stacked("float32"),
    }  # fmt: skip


def measure(runs: int, max_iter: int) -> list[dict[str, object]]:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    found = {name: {"times": []} for name in contenders(max_iter)}
    for round_ in range(runs):
        for name, run in contenders(max_iter).items():
            start = time.perf_counter()
            search = run(X, y)
            seconds = time.perf_counter() - start
            found[name]["times"].append(seconds)
            found[name]["best_params"] = search.best_params_
            found[name]["best_score"] = float(search.best_score_)
            print(f"[{round_ + 1}/{runs}] {name}: {seconds:.2f} s", file=sys.stderr, flush=True)
    return [{"name": name, **row} for name, row in found.items()]


def table(rows: list[dict[str, object]], runs: int, threads: int | None) -> str:
    base = statistics.median(rows[0]["times"])
    lines = [
        f"Digits (1797 x 64, pixels / 16), 12 candidates x 3 folds (StratifiedKFold), 64 ReLU "
        f"hidden units, Adam, batch_size {ARGS.batch_size}, max_iter {ARGS.max_iter}, "
        f"random_state 0; medians of "
        f"{runs} interleaved rounds (min-max in brackets), the refit included.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, BLAS threads: "
        f"{threads if threads is not None else 'the process default'}; load average at the "
        f"end {os.getloadavg()[0]:.1f}. NumPy {np.__version__}, scikit-learn "
        f"{sklearn.__version__}, nnkit {nnkit.__version__}, Python {platform.python_version()}.",
        "",
        "| search | seconds | vs sklearn n_jobs=1 | best params | best score |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for row in rows:
        t = row["times"]
        median = statistics.median(t)
        params = ", ".join(f"{k}={v:g}" for k, v in sorted(row["best_params"].items()))
        lines.append(
            f"| {row['name']} | {median:.2f} ({min(t):.2f}-{max(t):.2f}) | "
            f"{base / median:.2f}x | {params} | {row['best_score']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = measure(ARGS.runs, ARGS.max_iter)
    text = table(rows, ARGS.runs, ARGS.threads)
    print(text)
    if ARGS.out:
        with open(ARGS.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
