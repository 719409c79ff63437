"""``nnkit sweep``: train a grid of networks at once (``nnkit.Sweep``: learning rates x
momentums x seeds x L2 penalties, one stack) on a built-in dataset or a data file, print
them ranked, write the ranking as CSV and save the best model as ``nnkit train`` saves one."""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidValueError
from ..training import Sweep
from ..training.checkpoint import save_trainer
from .data import load_data
from .models import PRESETS, build_optimizer, build_schedule
from .parsing import number_list, seed_list
from .report import print_table, report_test
from .train import build_network, check_outputs, training_backend
from .train_config import TrainConfig
from .training_flags import add_training_flags

SGD_FAMILY = ("sgd", *PRESETS)  # the optimizers that take --momentum
METRICS = ("loss", "val_loss", "val_accuracy")


def add_parser(sub: Any) -> None:
    """The ``sweep`` command and its flags in the subparsers ``sub``: those of ``nnkit
    train`` (data, network, optimizer, run), with comma lists for the grid."""
    sweep = sub.add_parser(
        "sweep",
        help="train a grid of networks (learning rates, momentums, l2, seeds) at once as one "
        "stack; print them ranked",
        description="Trains every combination of --lr, --momentum, --l2 and --seeds as one "
        "stack of networks (nnkit.Sweep: one batched matmul per layer for all of them), each "
        "the run nnkit train would make alone, and prints them ranked by validation loss "
        "(else training loss); the other flags and their defaults are nnkit train's.",
    )
    add_training_flags(sweep, save_help="save the best model (safetensors), as nnkit train "
                       "--save saves one")  # fmt: skip
    sweep.add_argument(
        "--lr", dest="lrs", type=number_list, default=None, metavar="LR[,LR...]",
        help="learning rates, e.g. 0.5,0.1,0.02 (default: nnkit train's for the optimizer)",
    )  # fmt: skip
    sweep.add_argument(
        "--momentum", dest="momentums", type=number_list, default=None, metavar="M[,M...]",
        help="momentums of sgd, momentum or nesterov, e.g. 0,0.5,0.9 (default: the "
        "optimizer's: 0 for sgd, 0.9 for momentum and nesterov)",
    )  # fmt: skip
    sweep.add_argument(
        "--l2", type=number_list, default=(0.0,), metavar="L2[,L2...]",
        help="L2 penalties on the weights, scikit-learn's alpha, e.g. 0,1e-4 (default: 0)",
    )  # fmt: skip
    sweep.add_argument(
        "--seeds", type=seed_list, default=(0,), metavar="N|S,S...",
        help="a count N (seeds 0..N-1) or a comma list (3,7,) of seeds: each model's initial "
        "weights and data order (default: 1, seed 0); the validation split is seed 0's",
    )  # fmt: skip
    sweep.add_argument("--out", metavar="RESULTS.csv", help="write the ranked results as CSV")
    # nnkit train's flags that a sweep sets itself: the split seed, no processes, no plot
    sweep.set_defaults(run=run, seed=0, lr=None, coordinator=None, num_processes=None,
                       process_id=None, distributed=False, plot=None)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Train the grid that ``args`` name; print, write and save its results; 0."""
    config = TrainConfig.from_args(args)
    check_outputs(config)
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise FileNotFoundError(f"cannot write {args.out}: its folder does not exist")
    lrs = args.lrs or (config.lr,)
    momentums = momentums_of(config.optimizer, args.momentums)
    data = load_data(config)
    X, Y, *weights = data.train
    steps = config.total_steps(X.shape[0])
    model, loss = build_network(config, data)
    optimizers = [
        build_optimizer(config.optimizer, build_schedule(config.schedule, lr, steps), momentum)
        for lr in lrs
        for momentum in momentums
    ]
    sweep = Sweep(model, loss, optimizers, seeds=args.seeds, l2=args.l2,
                  backend=training_backend(config), strategy=config.strategy,
                  dtype=config.dtype)  # fmt: skip
    widths = "-".join(str(w) for w in [X.shape[1], *config.layers, data.n_out])
    grid = " x ".join(f"{len(v)} {name}" for name, v in (
        ("lr", lrs), ("momentum", momentums), ("seeds", args.seeds), ("l2", args.l2))
        if len(v) > 1)  # fmt: skip
    print(
        f"nnkit sweep {config.dataset}: {sweep.size} models{f' ({grid})' if grid else ''}, "
        f"{widths} {config.activation}, loss {config.loss_for(data.classes)}, "
        f"{config.optimizer} ({config.schedule}), batch {config.batch_size}, {config.dtype}, "
        f"{config.strategy} on {sweep.backend.name} ({sweep.backend.device_name()})"
    )
    start = time.perf_counter()
    history = sweep.fit(
        X, Y, steps=steps, batch_size=config.batch_size, validation_data=data.val,
        sample_weight=weights[0] if weights else None, progress=config.progress,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    samples = sweep.size * sum(r["samples_per_s"] * r["time_s"] for r in history.records)
    print(
        f"trained {sweep.size} models x {sweep.steps_done} steps ({len(history)} epochs) in "
        f"{elapsed:.2f} s, {samples / elapsed:,.0f} model-samples/s"
    )
    rows = ranked(sweep.results(), config.schedule)
    varying = [k for k in ("lr", "momentum", "seed", "l2") if len({r.get(k) for r in rows}) > 1]
    columns = ["rank", "model", *varying, *(m for m in METRICS if m in rows[0]), "diverged"]
    print_table(columns, rows)
    if args.out:
        write_csv(args.out, rows)
        print(f"wrote {len(rows)} results to {args.out}")
    top = rows[0]
    best = sweep.trainer(top["model"])
    config_of = ", ".join(f"{k} {top[k]:g}" for k in ("lr", "momentum", "seed", "l2") if k in top)
    print(f"best: model {top['model']} ({config_of})")
    if data.test is not None:
        report_test("best test", best, data.test, data.classes, data.spec.classes)
    if config.save:
        save_trainer(config.save, best,
                     extra={"dataset": config.dataset, "data": data.spec.to_json()})  # fmt: skip
        print(f"saved the best model to {config.save}")
    return 0


def momentums_of(optimizer: str, given: tuple[float, ...] | None) -> tuple[Any, ...]:
    """The momentums of the grid: ``given`` (--momentum), for the SGD family only; (None,):
    the optimizer's own."""
    if given is None:
        return (None,)
    if optimizer not in SGD_FAMILY:
        raise InvalidValueError(
            f"--momentum is for {', '.join(SGD_FAMILY)}; the optimizer is {optimizer}"
        )
    return given


def ranked(results: list[dict[str, Any]], schedule: str) -> list[dict[str, Any]]:
    """The Sweep's ``results()`` as table rows: rank and model (its index) first, the
    learning rate as the number given (a schedule's lr0), no momentum where the optimizer
    has none."""
    rows = []
    for rank, r in enumerate(results, start=1):
        row = {"rank": rank, "model": r["index"], "optimizer": r["optimizer"],
               "lr": getattr(r["lr"], "lr0", r["lr"]), "schedule": schedule}  # fmt: skip
        row.update({k: v for k, v in r.items() if k not in ("index", "optimizer", "lr")})
        rows.append(row)
    return rows


def write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    """``rows`` as a CSV file: a header of their keys, one line per model, best first."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
