"""``nnkit train``: train a network on a built-in dataset or a data file, print the metrics
(and the confusion matrix), save the model and plot the run when asked."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .. import backends
from ..dataspec import TASKS
from ..errors import InvalidValueError
from ..io import require_safetensors
from ..layers import ACTIVATIONS
from ..losses import LOSSES
from ..optim import OPTIMIZERS
from ..optim.schedules import SCHEDULES
from ..plot import plot_training, require_matplotlib
from ..training import STRATEGIES, Trainer, precision
from ..training.checkpoint import save_trainer
from .data import Data, load_data
from .defaults import DATASETS, SGD_LR_DIVISOR, TASK_LOSS, TEST_FRACTION, per_dataset
from .docs import see
from .models import PRESETS, build_model, build_optimizer, build_schedule
from .parsing import WEIGHTS_HELP, add_backend, dataset_name, device_count, layer_widths
from .report import print_metrics, report_test
from .train_config import TrainConfig


def add_parser(sub: Any) -> None:
    """The ``train`` command and its flags in the subparsers ``sub``; the help states each
    default from the tables in ``defaults``."""
    summaries = per_dataset(lambda d: f"= {d.summary()}")
    train = sub.add_parser(
        "train",
        help="train a network on digits, xor, sine or a data file; print metrics (and "
        "confusion matrix)",
        description="Trains a Dense network and prints the final training and validation "
        "metrics, the test metrics and, for classification, the confusion matrix. Defaults "
        f"per dataset: {summaries}; a data file holds out {TEST_FRACTION:g} of its rows for "
        "the test metrics. Integer or string targets mean classification, floats regression.",
        epilog=see("train"),
    )
    train.add_argument(
        "dataset",
        type=dataset_name,
        metavar="DATA",
        help=f"{', '.join(DATASETS)}, or a data file: .csv (a header row), .npz (arrays X and "
        "y) or .npy (features; targets from --targets)",
    )
    train.add_argument(
        "--target", metavar="COLUMN", help="a CSV's target column (default: the last)"
    )
    train.add_argument("--targets", metavar="Y.npy", help="the targets of a .npy of features")
    train.add_argument("--weights", metavar="COLUMN", help=WEIGHTS_HELP)
    train.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="default: classification for integer or string targets, regression for floats",
    )
    on_off = per_dataset(lambda d: "on" if d.standardize else "off")
    train.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale features to mean 0, variance 1 (statistics of the training rows, saved "
        f"with the model and applied by evaluate and predict; default: {on_off})",
    )
    train.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help=f"a data file's share held out for the test metrics (default {TEST_FRACTION:g}; "
        "0: none)",
    )
    add_backend(train)
    train.add_argument(
        "--devices",
        type=device_count,
        default=None,
        help="N or all: train data-parallel over that many devices (--backend jax; each "
        "minibatch split evenly, so --batch-size a multiple of N)",
    )
    train.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="join a multi-process run whose process 0 listens there (with --num-processes "
        "and --process-id; each process gets the same data; --devices all spans them)",
    )
    train.add_argument("--num-processes", type=int, default=None)
    train.add_argument("--process-id", type=int, default=None)
    train.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run described by the environment (Slurm, Open MPI)",
    )
    train.add_argument(
        "--strategy", choices=list(STRATEGIES), default="batched", help="default: %(default)s"
    )
    train.add_argument(
        "--layers",
        type=layer_widths,
        default=None,
        help=f"hidden widths, e.g. 128,64 (default: {per_dataset(lambda d: d.hidden)})",
    )
    train.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        default=None,
        help=f"between the hidden layers (default: {per_dataset(lambda d: d.activation)})",
    )
    task_loss = " or ".join(f"{loss} for {task}" for task, loss in TASK_LOSS.items())
    train.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=None,
        help="the output layer follows: sigmoid for mse (classes) and bce, logits for "
        f"cross_entropy (default: {per_dataset(lambda d: d.loss or task_loss)})",
    )
    momentum = "/".join(sorted({f"{p['momentum']:g}" for p in PRESETS.values()}))
    train.add_argument(
        "--optimizer",
        choices=[*OPTIMIZERS, *PRESETS],
        default=None,
        help=f"{' and '.join(PRESETS)} are SGD with momentum {momentum} (default: "
        f"{per_dataset(lambda d: d.optimizer)})",
    )
    train.add_argument("--lr", type=float, default=None, help=lr_help())
    train.add_argument(
        "--schedule",
        choices=["constant", *SCHEDULES],
        default="constant",
        help="lr over the run: inverse_time and exponential end at lr/10, step halves it "
        "every quarter, cosine ends at 0 (default: %(default)s)",
    )
    stop = train.add_mutually_exclusive_group()
    stop.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"minibatches to train (default: {per_dataset(lambda d: d.length)})",
    )
    stop.add_argument("--epochs", type=int, default=None, help="passes over the data")
    train.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"default: {per_dataset(lambda d: str(d.batch_size))}",
    )
    train.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the training set held out for validation (0: none; xor validates on "
        "its four points; default: %(default)s)",
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="initial weights, data order, validation split (default: %(default)s)",
    )
    train.add_argument(
        "--dtype", choices=list(precision.DTYPES), default="float32", help="default: %(default)s"
    )
    train.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress: a bar on a terminal, else (a log, a pipe, nohup) a plain line about "
        "every tenth of the run (default: on)",
    )
    train.add_argument("--save", metavar="PATH", help="save the trained model (safetensors)")
    train.add_argument("--plot", metavar="PATH", help="write training curves as a PNG")
    train.set_defaults(run=run)


def lr_help() -> str:
    """--lr's help: the default rates of the SGD family and of the adaptive optimizers."""
    divided = {}
    for name, divisor in SGD_LR_DIVISOR.items():
        if divisor != 1:
            divided.setdefault(divisor, []).append(name)
    shares = "; ".join(f"for {' and '.join(names)} that / {k}" for k, names in divided.items())
    adaptive = ", ".join(name for name in OPTIMIZERS if name not in SGD_LR_DIVISOR)
    return (
        f"learning rate (default for sgd: {per_dataset(lambda d: f'{d.lr[0]:g}')}; {shares}; "
        f"for {adaptive}: {per_dataset(lambda d: f'{d.lr[1]:g}')})"
    )


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` (parsed by the parser above) say; 0."""
    config = TrainConfig.from_args(args)
    if config.joins_processes:  # first: before anything computes on JAX
        from .. import distributed

        distributed.initialize(config.coordinator, config.num_processes, config.process_id)
    check_outputs(config)
    data = load_data(config)
    X, Y, *weights = data.train
    steps = config.total_steps(X.shape[0])
    trainer = build_trainer(config, data, steps)
    widths = "-".join(str(w) for w in [X.shape[1], *config.layers, data.n_out])
    scaled = ", standardized" if data.spec.mean is not None else ""
    print(
        f"nnkit train {config.dataset}: {widths} {config.activation}, "
        f"loss {config.loss_for(data.classes)}, "
        f"{config.optimizer} lr {config.lr:g} ({config.schedule}), batch {config.batch_size}, "
        f"{config.dtype}, {config.strategy} on {trainer.backend.name} "
        f"({trainer.backend.device_name()}){scaled}"
    )
    start = time.perf_counter()
    history = trainer.fit(
        X,
        Y,
        steps=steps,
        batch_size=config.batch_size,
        validation_data=data.val,
        sample_weight=weights[0] if weights else None,
        progress=config.progress,  # a bar on a terminal, plain lines in a log
    )
    elapsed = time.perf_counter() - start
    samples = sum(r["samples_per_s"] * r["time_s"] for r in history.records)
    print(
        f"trained {trainer.steps_done} steps ({len(history)} epochs) in {elapsed:.2f} s, "
        f"{samples / elapsed:,.0f} samples/s"
    )
    last = history.records[-1]
    print_metrics("final epoch", {k: v for k, v in last.items() if "loss" in k or "acc" in k})
    counts = None
    if data.test is not None:
        counts = report_test("test", trainer, data.test, data.classes, data.spec.classes)
    if config.save:
        extra = {"dataset": config.dataset, "data": data.spec.to_json()}
        save_trainer(config.save, trainer, extra=extra)
        print(f"saved model to {config.save}")
    if config.plot:
        title = f"{config.dataset}: {widths} {config.activation}, {config.optimizer}"
        plot_training(config.plot, history, counts, title=title)
        print(f"wrote plot {config.plot}")
    return 0


def build_trainer(config: TrainConfig, data: Data, steps: int) -> Trainer:
    """The Trainer of the run: the network, loss and optimizer (its schedule over ``steps``)
    that ``config`` names for ``data``, on the backend and devices it names."""
    loss = config.loss_for(data.classes)
    n_in = data.train[0].shape[1]
    model = build_model(n_in, data.n_out, config.layers, config.activation, loss, data.classes)
    optimizer = build_optimizer(config.optimizer, build_schedule(config.schedule, config.lr, steps))
    backend = backends.get(config.backend)
    if config.cache_dir:  # before the first compilation: JAX reads the setting then
        backend.keep_compiled(config.cache_dir)
    return Trainer(
        model,
        LOSSES[loss](),
        optimizer,
        backend=on_devices(backend, config.devices),
        strategy=config.strategy,
        seed=config.seed,
        dtype=config.dtype,
    )


def check_outputs(config: TrainConfig) -> None:
    """Before training, not after: the packages that --save and --plot need are installed
    and their folders exist."""
    if config.plot:
        require_matplotlib()
    if config.save:
        require_safetensors()
    for path in (config.save, config.plot):
        if path and not Path(path).resolve().parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: its folder does not exist")


def on_devices(backend: backends.Backend, devices: int | str | None) -> backends.Backend:
    """``backend`` data-parallel over ``devices`` (--devices); InvalidValueError for a count
    it cannot train on."""
    try:
        return backend.on(devices)
    except ValueError as e:  # backends/ says why in a plain ValueError
        raise InvalidValueError(str(e)) from None
