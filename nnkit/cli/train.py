"""``nnkit train``: train a network on a built-in dataset or a data file, print the metrics
(and the confusion matrix), save the model and plot the run when asked."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .. import backends
from ..errors import InvalidValueError
from ..io import require_safetensors
from ..losses import LOSSES, Loss
from ..model import Sequential
from ..optim import OPTIMIZERS
from ..plot import plot_training, require_matplotlib
from ..training import Trainer
from ..training.checkpoint import save_trainer
from .data import Data, load_data
from .defaults import SGD_LR_DIVISOR, TEST_FRACTION, per_dataset
from .models import build_model, build_optimizer, build_schedule
from .report import print_metrics, report_test
from .train_config import TrainConfig
from .training_flags import add_training_flags


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
    )
    add_training_flags(train, save_help="save the trained model (safetensors)")
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
    train.add_argument("--lr", type=float, default=None, help=lr_help())
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="initial weights, data order, validation split (default: %(default)s)",
    )
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
    model, loss = build_network(config, data)
    optimizer = build_optimizer(config.optimizer, build_schedule(config.schedule, config.lr, steps))
    return Trainer(
        model,
        loss,
        optimizer,
        backend=training_backend(config),
        strategy=config.strategy,
        seed=config.seed,
        dtype=config.dtype,
    )


def build_network(config: TrainConfig, data: Data) -> tuple[Sequential, Loss]:
    """The network and the loss that ``config`` names for ``data``."""
    loss = config.loss_for(data.classes)
    n_in = data.train[0].shape[1]
    model = build_model(n_in, data.n_out, config.layers, config.activation, loss, data.classes)
    return model, LOSSES[loss]()


def training_backend(config: TrainConfig) -> backends.Backend:
    """The backend and devices that ``config`` names, keeping compiled programs in its
    cache folder where the backend compiles."""
    backend = backends.get(config.backend)
    if config.cache_dir:  # before the first compilation: JAX reads the setting then
        backend.keep_compiled(config.cache_dir)
    return on_devices(backend, config.devices)


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
