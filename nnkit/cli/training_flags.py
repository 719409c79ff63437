"""The flags that ``nnkit train`` and ``nnkit sweep`` share: the data (a built-in dataset or a
file and its columns), the backend and devices, the network, the optimizer and its
schedule, the run's length, its dtype, progress and where to save the model."""

from __future__ import annotations

import argparse

from ..dataspec import TASKS
from ..layers import ACTIVATIONS
from ..losses import LOSSES
from ..optim import OPTIMIZERS
from ..optim.schedules import SCHEDULES
from ..training import STRATEGIES, precision
from .defaults import DATASETS, TASK_LOSS, TEST_FRACTION, per_dataset
from .models import PRESETS
from .parsing import WEIGHTS_HELP, add_backend, dataset_name, device_count, layer_widths


def add_training_flags(parser: argparse.ArgumentParser, save_help: str) -> None:
    """The shared flags on ``parser``, their help stating each default from the tables in
    ``defaults``; ``save_help``: what --save writes."""
    parser.add_argument(
        "dataset",
        type=dataset_name,
        metavar="DATA",
        help=f"{', '.join(DATASETS)}, or a data file: .csv (a header row), .npz (arrays X and "
        "y) or .npy (features; targets from --targets)",
    )
    parser.add_argument(
        "--target", metavar="COLUMN", help="a CSV's target column (default: the last)"
    )
    parser.add_argument("--targets", metavar="Y.npy", help="the targets of a .npy of features")
    parser.add_argument("--weights", metavar="COLUMN", help=WEIGHTS_HELP)
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="default: classification for integer or string targets, regression for floats",
    )
    on_off = per_dataset(lambda d: "on" if d.standardize else "off")
    parser.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale features to mean 0, variance 1 (statistics of the training rows, saved "
        f"with the model and applied by evaluate and predict; default: {on_off})",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help=f"a data file's share held out for the test metrics (default {TEST_FRACTION:g}; "
        "0: none)",
    )
    add_backend(parser)
    parser.add_argument(
        "--devices",
        type=device_count,
        default=None,
        help="N or all: train data-parallel over that many devices (--backend jax; each "
        "minibatch split evenly, so --batch-size a multiple of N)",
    )
    parser.add_argument(
        "--strategy", choices=list(STRATEGIES), default="batched", help="default: %(default)s"
    )
    parser.add_argument(
        "--layers",
        type=layer_widths,
        default=None,
        help=f"hidden widths, e.g. 128,64 (default: {per_dataset(lambda d: d.hidden)})",
    )
    parser.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default=None,
        help=f"between the hidden layers (default: {per_dataset(lambda d: d.activation)})",
    )
    task_loss = " or ".join(f"{loss} for {task}" for task, loss in TASK_LOSS.items())
    parser.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=None,
        help="the output layer follows: sigmoid for mse (classes) and bce, logits for "
        f"cross_entropy (default: {per_dataset(lambda d: d.loss or task_loss)})",
    )
    momentum = "/".join(sorted({f"{p['momentum']:g}" for p in PRESETS.values()}))
    parser.add_argument(
        "--optimizer",
        choices=[*OPTIMIZERS, *PRESETS],
        default=None,
        help=f"{' and '.join(PRESETS)} are SGD with momentum {momentum} (default: "
        f"{per_dataset(lambda d: d.optimizer)})",
    )
    parser.add_argument(
        "--schedule",
        choices=["constant", *SCHEDULES],
        default="constant",
        help="lr over the run: inverse_time and exponential end at lr/10, step halves it "
        "every quarter, cosine ends at 0 (default: %(default)s)",
    )
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"minibatches to train (default: {per_dataset(lambda d: d.length)})",
    )
    stop.add_argument("--epochs", type=int, default=None, help="passes over the data")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"default: {per_dataset(lambda d: str(d.batch_size))}",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the training set held out for validation (0: none; xor validates on "
        "its four points; default: %(default)s)",
    )
    parser.add_argument(
        "--dtype", choices=list(precision.DTYPES), default="float32", help="default: %(default)s"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress: a bar on a terminal, else (a log, a pipe, nohup) a plain line about "
        "every tenth of the run (default: on)",
    )
    parser.add_argument("--save", metavar="PATH", help=save_help)
