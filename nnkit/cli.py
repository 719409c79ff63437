"""The ``nnkit`` command: ``info``, ``train``, ``evaluate`` and ``predict`` (``bench`` lives in
nnkit.bench). Training data is a built-in dataset or a data file (read by nnkit.datafiles)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np  # host-side: datasets and .npy files

from . import backends, datafiles, datasets
from ._version import __version__
from .checks import check_choice, check_positive_int
from .data import train_val_split
from .datafiles import DataSpec
from .errors import InvalidValueError
from .io import load_checkpoint, require_safetensors
from .layers import ACTIVATIONS, Dense, Identity, Sigmoid
from .losses import LOSSES, MSE
from .metrics import confusion_matrix, format_confusion_matrix, labels_of
from .model import Sequential
from .optim import OPTIMIZERS, SGD
from .optim.schedules import SCHEDULES
from .plot import plot_training, require_matplotlib
from .training import STRATEGIES, Trainer, precision
from .training.checkpoint import from_checkpoint, save_trainer

# optimizers beyond the registry's: SGD with momentum 0.9, plain or Nesterov
PRESETS = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}
# per schedule: its arguments after lr0, from the run's total steps (see build_schedule)
SCHEDULE_ARGS = {
    "inverse_time": lambda total: (9 / total,),
    "exponential": lambda total: (0.1, total),
    "step": lambda total: (0.5, max(1, total // 4)),
    "cosine": lambda total: (total,),
}
# per dataset: the network and training the command uses unless told otherwise;
# lr: (for sgd, for the adaptive optimizers); momentum and nesterov use a tenth of sgd's
DEFAULTS = {
    "digits": {
        "layers": "128,64",
        "activation": "sigmoid",
        "loss": "mse",
        "optimizer": "sgd",
        "lr": (0.5, 1e-3),
        "steps": 20_000,
        "batch_size": 64,
    },
    "xor": {
        "layers": "8",
        "activation": "tanh",
        "loss": "bce",
        "optimizer": "sgd",
        "lr": (0.5, 0.01),
        "steps": 2_000,
        "batch_size": 4,
    },
    "sine": {
        "layers": "32,32",
        "activation": "tanh",
        "loss": "mse",
        "optimizer": "adam",
        "lr": (0.05, 0.01),
        "steps": 3_000,
        "batch_size": 32,
    },
}
# for a data file: the loss follows the task (cross_entropy for classes, mse for regression)
FILE_DEFAULTS = {
    "layers": "64,64",
    "activation": "relu",
    "loss": None,
    "optimizer": "adam",
    "lr": (0.1, 1e-3),
    "steps": 5_000,  # or 200 epochs where that is fewer
    "epochs": 200,
    "batch_size": 64,
}
FILE_ONLY = ("target", "targets", "task", "test_fraction")  # flags for data files alone


# -- building blocks ----------------------------------------------------------------------


def load_dataset(name: str, seed: int = 0, val_fraction: float = 0.1) -> dict[str, Any]:
    """Host arrays ``train``, ``val`` (or None) and ``test`` as (X, Y) pairs, and ``classes``
    (None for regression). digits: scikit-learn's split, validation carved from training;
    xor: the four points for all three; sine: sine(256, seed) and a test set from seed + 1."""

    if name == "xor":
        X, Y = datasets.xor()
        return {"train": (X, Y), "val": (X, Y), "test": (X, Y), "classes": 2}
    if name == "digits":
        X, Y, X_test, Y_test = datasets.digits()
        classes = 10
    else:
        X, Y = datasets.sine(256, seed)
        X_test, Y_test = datasets.sine(256, seed + 1)
        classes = None
    val = None
    if val_fraction > 0:
        X, Y, X_val, Y_val = train_val_split(X, Y, val_fraction, seed=seed)
        val = (X_val, Y_val)
    return {"train": (X, Y), "val": val, "test": (X_test, Y_test), "classes": classes}


def builtin_spec(name: str, n_in: int) -> DataSpec:
    """The DataSpec of a built-in dataset: features x0, x1, ...; classes 0..9 (digits), 0/1
    (xor) or a regression (sine)."""
    features = [f"x{j}" for j in range(n_in)]
    classes = {"digits": 10, "xor": 2}.get(name)
    if classes is None:
        return DataSpec("regression", features, "y")
    return DataSpec("classification", features, "y", [str(c) for c in range(classes)], "int")


def load_file(args: argparse.Namespace) -> dict[str, Any]:
    """The data file ``args.dataset`` as load_dataset gives a dataset, plus ``spec`` and
    ``n_out``: a test split of ``--test-fraction`` (0: none) and validation carved from the
    rest. Sets ``args.loss`` when not given: cross_entropy for classes, else mse."""
    path = args.dataset
    table = datafiles.read(path, target=args.target, targets=args.targets)
    spec = datafiles.describe(table, args.task)
    k = spec.n_classes
    if args.loss is None:
        args.loss = "mse" if k is None else "cross_entropy"
    n_out = spec.outputs if k is None else (k if args.loss == "cross_entropy" or k > 2 else 1)
    data = {"train": (table.X, spec.encode(table, n_out)), "val": None, "test": None}
    try:
        for part, fraction in (("test", args.test_fraction), ("val", args.val_fraction)):
            if fraction:
                X, Y, *held_out = train_val_split(*data["train"], fraction, seed=args.seed)
                data["train"], data[part] = (X, Y), tuple(held_out)
    except InvalidValueError as e:
        raise datafiles.DataFileError(f"{path}: too few rows to split: {e}") from None
    sizes = [f"{len(data[p][0])} {p}" for p in ("train", "val", "test") if data[p] is not None]
    about = f"{k} classes ({', '.join((spec.classes or [])[:10])})" if k else "regression"
    print(
        f"data {path}: {table.X.shape[0]} rows, {table.X.shape[1]} features, target "
        f"{table.target}: {about}; {', '.join(sizes)}"
    )
    return {**data, "classes": k, "spec": spec, "n_out": n_out}


def load_data(args: argparse.Namespace) -> dict[str, Any]:
    """The built-in dataset or data file that ``args.dataset`` names, standardised when
    asked (by default for files): statistics from the training rows, kept in ``spec``."""
    if args.dataset in DEFAULTS:
        given = [f"--{f.replace('_', '-')}" for f in FILE_ONLY if getattr(args, f) is not None]
        if given:
            raise InvalidValueError(f"{', '.join(given)}: for a data file, not {args.dataset}")
        data = load_dataset(args.dataset, args.seed, args.val_fraction)
        data["spec"] = builtin_spec(args.dataset, data["train"][0].shape[1])
        data["n_out"] = 1 if data["classes"] in (None, 2) else data["classes"]
    else:
        args.test_fraction = 0.2 if args.test_fraction is None else args.test_fraction
        if not 0 <= args.test_fraction < 1:
            raise InvalidValueError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
        data = load_file(args)
    if args.standardize if args.standardize is not None else args.dataset not in DEFAULTS:
        spec = data["spec"] = data["spec"].standardized(data["train"][0])
        for part in ("train", "val", "test"):
            if data[part] is not None:
                data[part] = (spec.transform(data[part][0]), data[part][1])
    return data


def build_model(
    n_in: int, n_out: int, hidden: list[int], activation: str, loss: str, classes: int | None
):
    """Dense layers of widths ``hidden`` with ``activation`` between them, and an output layer
    that fits ``loss``: sigmoid for mse on classes and for bce, none (logits) for
    cross_entropy and for regression."""

    check_choice("activation", activation, ACTIVATIONS)
    if loss == "cross_entropy" and (classes is None or n_out < 2):
        raise InvalidValueError("loss cross_entropy needs a dataset with several classes")
    if loss == "bce" and classes is None:
        raise InvalidValueError("loss bce needs 0/1 targets; this dataset is a regression")
    widths = [n_in, *hidden]
    layers: list[Any] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [Dense(a, b), ACTIVATIONS[activation]()]
    layers.append(Dense(widths[-1], n_out))
    sigmoid_out = loss == "bce" or (loss == "mse" and classes is not None)
    layers.append(Sigmoid() if sigmoid_out else Identity())
    return Sequential(layers)


def build_optimizer(name: str, lr: Any):
    """The optimizer ``name`` (a key of ``nnkit.optim.OPTIMIZERS`` or of PRESETS) at ``lr``."""
    if name in PRESETS:
        return SGD(lr, **PRESETS[name])
    return OPTIMIZERS[name](lr)


def build_schedule(name: str, lr: float, total_steps: int) -> Any:
    """``lr`` itself for "constant"; otherwise a schedule over ``total_steps``: inverse_time
    and exponential end at lr/10, step halves lr every quarter of the run, cosine ends at 0."""
    if name == "constant":
        return lr
    return SCHEDULES[name](lr, *SCHEDULE_ARGS[name](total_steps))


def dataset_name(text: str) -> str:
    """A built-in dataset's name, or a path ending in .csv, .npz or .npy."""
    if text in DEFAULTS or datafiles.is_data_file(text):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(sorted(DEFAULTS))}, "
        "or a .csv, .npz or .npy file)"
    )


def parse_layers(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--layers wants widths like 128,64; got {text!r}")
    return widths


def trainer_from_file(
    path: str, backend: str | None
) -> tuple[Trainer, DataSpec | None, dict[str, Any]]:
    """A Trainer holding the saved model (the whole saved trainer when the file has one,
    else the model and parameters with an MSE loss); the model's DataSpec: saved with it,
    else that of the built-in dataset it names, else None; and the file's extra metadata."""

    ckpt = load_checkpoint(path, backend)
    if "trainer" in ckpt.extra:
        trainer = from_checkpoint(Trainer, ckpt, path, backend)
    else:
        trainer = Trainer(ckpt.model, MSE(), SGD(0.1), backend=backend, dtype=ckpt.dtype)
        trainer.restore(trainer.state.replace(params=ckpt.params))
    extra, spec = ckpt.extra, None
    if "data" in extra:
        spec = DataSpec.from_json(extra["data"], path)
    elif extra.get("dataset") in DEFAULTS:
        spec = builtin_spec(extra["dataset"], ckpt.model.in_features)
    return trainer, spec, extra


def spec_for(trainer: Trainer, spec: DataSpec | None, table: datafiles.Table) -> DataSpec:
    """``spec``, or for a model saved without one: its outputs as they are (integer labels
    in ``table`` are output indices, as Trainer.evaluate takes them)."""
    if spec is not None:
        return spec
    width = trainer.model.out_features or 1
    features = [f"x{j}" for j in range(trainer.model.in_features or table.X.shape[1])]
    if table.y is not None and table.y.dtype.kind in "iU":
        classes = [str(c) for c in range(max(width, 2))]
        return DataSpec("classification", features, table.target, classes, "int")
    return DataSpec("regression", features, table.target, outputs=width)


def print_metrics(label: str, result: dict[str, float]) -> None:
    print(f"{label}: " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))


def report_test(
    label: str, trainer: Any, X: Any, Y: Any, classes: int | None, names: Any = None
) -> Any:
    """Print the test metrics and, for classification, the confusion matrix (classes named
    ``names``); return it. One sigmoid output (xor) counts as class 1 above 0.5."""

    result = trainer.evaluate(X, Y)
    if classes is None:
        print_metrics(label, result)
        return None
    pred = trainer.backend.to_numpy(trainer.predict(X))
    Y = np.asarray(Y)
    if pred.shape[1] == 1:
        pred, Y = (pred[:, 0] > 0.5).astype(np.int64), Y.reshape(-1)
    counts = confusion_matrix(labels_of(pred), Y.astype(np.int64), k=classes)
    result["accuracy"] = float(np.trace(counts) / counts.sum())
    print_metrics(label, result)
    print(format_confusion_matrix(counts, names))
    return counts


# -- commands ------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    print(f"nnkit {__version__} (Python {sys.version.split()[0]})")
    print("packages:")
    for pkg in (
        "numpy",
        "array-api-compat",
        "jax",
        "torch",
        "cupy-cuda12x",
        "cupy-cuda13x",
        "safetensors",
        "rich",
        "matplotlib",
        "scikit-learn",
        "threadpoolctl",
    ):
        try:
            print(f"  {pkg:<17} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    print("backends:")
    for name in backends.NAMES:
        try:
            be = backends.get(name)
        except backends.BackendUnavailable as e:
            print(f"  {name:<17} unavailable: {e.reason}; install: {e.install}")
        else:
            memory = be.memory_bytes()
            size = "" if memory is None else f", {memory / 2**30:.1f} GiB"
            print(f"  {name:<17} available, device {be.device_name()}{size}")
            print(f"  {'':<17} devices: {', '.join(be.device_names())}")
    return 0


def parse_devices(text: str) -> int | str:
    """--devices: "all" or a positive int."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int or 'all', got {text!r}")
    return value


def compiled_cache_dir() -> str:
    """Where ``nnkit train`` keeps compiled programs across runs (JAX: a run with the same
    shapes loads its whole-fit program instead of compiling it, about 2 s on a 2-core CPU):
    ``$NNKIT_CACHE_DIR`` (empty: keep none), else ``$XDG_CACHE_HOME/nnkit/compiled`` or
    ``~/.cache/nnkit/compiled``."""
    given = os.environ.get("NNKIT_CACHE_DIR")
    if given is not None:
        return given
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(home) / "nnkit" / "compiled")


def join_processes(args: argparse.Namespace) -> None:
    """--coordinator/--num-processes/--process-id or --distributed: join the run."""
    given = (args.coordinator, args.num_processes, args.process_id)
    if args.distributed or any(v is not None for v in given):
        from . import distributed

        distributed.initialize(*given)


def cmd_train(args: argparse.Namespace) -> int:
    join_processes(args)  # first: before anything computes on JAX
    if args.plot:  # fail before training, not after
        require_matplotlib()
    if args.save:
        require_safetensors()
    for path in (args.save, args.plot):
        if path and not Path(path).resolve().parent.is_dir():
            raise FileNotFoundError(f"cannot write {path}: its folder does not exist")
    d = DEFAULTS.get(args.dataset, FILE_DEFAULTS)
    for flag in ("steps", "epochs", "batch_size"):
        if getattr(args, flag) is not None:
            check_positive_int("--" + flag.replace("_", "-"), getattr(args, flag))
    data = load_data(args)  # sets args.loss for a file
    for key in ("activation", "loss", "optimizer", "batch_size"):
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    hidden = args.layers or parse_layers(d["layers"])
    if args.lr is None:
        sgd_lr, adaptive_lr = d["lr"]
        args.lr = {"sgd": sgd_lr, "momentum": sgd_lr / 10, "nesterov": sgd_lr / 10}.get(
            args.optimizer, adaptive_lr
        )
    X, Y = data["train"]
    n_out, spec = data["n_out"], data["spec"]
    model = build_model(X.shape[1], n_out, hidden, args.activation, args.loss, data["classes"])
    per_epoch = math.ceil(X.shape[0] / args.batch_size)
    steps = args.steps or min(d["steps"], d.get("epochs", math.inf) * per_epoch)
    if args.epochs is not None:
        steps = args.epochs * per_epoch
    lr = build_schedule(args.schedule, args.lr, steps)
    cache = compiled_cache_dir()
    if cache:  # before the first compilation: JAX reads the setting then
        backends.get(args.backend).keep_compiled(cache)
    trainer = Trainer(
        model,
        LOSSES[args.loss](),
        build_optimizer(args.optimizer, lr),
        backend=args.backend,
        strategy=args.strategy,
        seed=args.seed,
        dtype=args.dtype,
        devices=args.devices,
    )
    widths = "-".join(str(w) for w in [X.shape[1], *hidden, n_out])
    scaled = ", standardized" if spec.mean is not None else ""
    print(
        f"nnkit train {args.dataset}: {widths} {args.activation}, loss {args.loss}, "
        f"{args.optimizer} lr {args.lr:g} ({args.schedule}), batch {args.batch_size}, "
        f"{args.dtype}, {args.strategy} on {trainer.backend.name} "
        f"({trainer.backend.device_name()}){scaled}"
    )
    start = time.perf_counter()
    history = trainer.fit(
        X,
        Y,
        steps=steps,
        batch_size=args.batch_size,
        validation_data=data["val"],
        progress=args.progress is not False,  # a bar on a terminal, plain lines in a log
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
    if data["test"] is not None:
        counts = report_test("test", trainer, *data["test"], data["classes"], spec.classes)
    if args.save:
        save_trainer(args.save, trainer, extra={"dataset": args.dataset, "data": spec.to_json()})
        print(f"saved model to {args.save}")
    if args.plot:
        title = f"{args.dataset}: {widths} {args.activation}, {args.optimizer}"
        plot_training(args.plot, history, counts, title=title)
        print(f"wrote plot {args.plot}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    trainer, spec, extra = trainer_from_file(args.model, args.backend)
    if args.file:
        table = datafiles.read(
            args.file,
            target=args.target,
            targets=args.targets,
            features=None if spec is None else spec.features,
            default_target=None if spec is None else spec.target,
        )
        spec = spec_for(trainer, spec, table)
        Y = spec.encode(table, trainer.model.out_features or 1)
        report_test(args.file, trainer, spec.features_of(table), Y, spec.n_classes, spec.classes)
        return 0
    dataset = args.dataset or extra.get("dataset")
    if dataset not in DEFAULTS:
        raise InvalidValueError("give a data file or --dataset (the model names no built-in one)")
    data = load_dataset(dataset, args.seed, 0)
    X, Y = data["test"]
    if spec is not None:
        X = spec.transform(X)
    report_test(f"{dataset} test", trainer, X, Y, data["classes"])
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    source = args.file or args.input
    if source is None:
        raise InvalidValueError("give the data file: nnkit predict --model M FILE")
    if args.out:
        if Path(args.out).suffix.lower() not in (".csv", ".npy"):
            raise InvalidValueError(f"{args.out}: predictions go to a .csv or .npy file")
        if not Path(args.out).resolve().parent.is_dir():
            raise FileNotFoundError(f"cannot write {args.out}: its folder does not exist")
    trainer, spec, _ = trainer_from_file(args.model, args.backend)
    table = datafiles.read(
        source, with_target=False, features=None if spec is None else spec.features
    )
    spec = spec_for(trainer, spec, table)
    outputs = trainer.backend.to_numpy(trainer.predict(spec.features_of(table)))
    name, width = spec.target or "y", outputs.shape[1]
    if spec.classes is not None and args.raw:  # a score per class (one: the second class's)
        values, header = outputs, [f"{name}={c}" for c in spec.classes[-width:]]
    else:
        values = spec.decode(outputs) if spec.classes is not None or width == 1 else outputs
        header = [name] if values.ndim == 1 else [f"{name}{j}" for j in range(width)]
    if args.out:
        datafiles.write_predictions(args.out, values, header)
        print(f"wrote {values.shape[0]} predictions to {args.out}")
    else:
        sys.stdout.write(datafiles.predictions_csv(values, header))
    return 0


# -- parser ---------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (and exit code 2), no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="nnkit",
        description="Neural networks with hand-written backprop on NumPy, CuPy or JAX.",
    )
    parser.add_argument("--version", action="version", version=f"nnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "info", help="nnkit version, packages, backends (available or why not) and devices"
    ).set_defaults(func=cmd_info)

    train = sub.add_parser(
        "train",
        help="train a network on digits, xor, sine or a data file; print metrics (and "
        "confusion matrix)",
        description="Trains a Dense network and prints the final training and validation "
        "metrics, the test metrics and, for classification, the confusion matrix. "
        "Defaults per dataset: digits = the lecture's 64-128-64-10 sigmoid net, MSE on "
        "one-hot targets, SGD lr 0.5, 20000 steps of 64; xor = 2-8-1 tanh, BCE, SGD lr 0.5, "
        "2000 steps of 4; sine = 1-32-32-1 tanh, MSE, Adam lr 0.01, 3000 steps of 32; "
        "a data file = 64-64 relu hidden layers, cross_entropy (softmax) for classes or MSE "
        "for regression, Adam lr 0.001, 200 epochs (at most 5000 steps) of 64, standardized "
        "features, a 20%% test split. Integer or string targets mean classification, floats "
        "regression.",
    )
    train.add_argument(
        "dataset",
        type=dataset_name,
        metavar="DATA",
        help="digits, xor, sine, or a data file: .csv (a header row), .npz (arrays X and y) "
        "or .npy (features; targets from --targets)",
    )
    train.add_argument(
        "--target", metavar="COLUMN", help="a CSV's target column (default: the last)"
    )
    train.add_argument("--targets", metavar="Y.npy", help="the targets of a .npy of features")
    train.add_argument(
        "--task",
        choices=datafiles.TASKS,
        default=None,
        help="default: classification for integer or string targets, regression for floats",
    )
    train.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale features to mean 0, variance 1 (statistics of the training rows, saved "
        "with the model and applied by evaluate and predict; default: on for a data file, "
        "off for the built-in datasets)",
    )
    train.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="a data file's share held out for the test metrics (default 0.2; 0: none)",
    )
    train.add_argument("--backend", default=None, help="numpy, jax, cupy, ... (default: numpy)")
    train.add_argument(
        "--devices",
        type=parse_devices,
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
    train.add_argument("--strategy", choices=list(STRATEGIES), default="batched")
    train.add_argument(
        "--layers", type=parse_layers, default=None, help="hidden widths, e.g. 128,64"
    )
    train.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None)
    train.add_argument(
        "--loss",
        choices=list(LOSSES),
        default=None,
        help="output layer follows: sigmoid for mse (classes) and bce, logits for cross_entropy",
    )
    train.add_argument(
        "--optimizer",
        choices=[*OPTIMIZERS, *PRESETS],
        default=None,
        help="momentum and nesterov are SGD with momentum 0.9",
    )
    train.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the dataset's SGD rate above, a tenth of it for "
        "momentum and nesterov; 1e-3 on digits and 0.01 on xor and sine for rmsprop, adam, "
        "adamw)",
    )
    train.add_argument(
        "--schedule",
        choices=["constant", *SCHEDULES],
        default="constant",
        help="lr over the run: inverse_time and exponential end at lr/10, "
        "step halves it every quarter, cosine ends at 0",
    )
    stop = train.add_mutually_exclusive_group()
    stop.add_argument("--steps", type=int, default=None, help="minibatches to train")
    stop.add_argument("--epochs", type=int, default=None, help="passes over the data")
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the training set held out for validation "
        "(0: none; xor validates on its four points)",
    )
    train.add_argument(
        "--seed", type=int, default=0, help="initial weights, data order, validation split"
    )
    train.add_argument("--dtype", choices=list(precision.DTYPES), default="float32")
    train.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress: a bar on a terminal, else (a log, a pipe, nohup) a plain line about "
        "every 10%% of the run (default: on)",
    )
    train.add_argument("--save", metavar="PATH", help="save the trained model (safetensors)")
    train.add_argument("--plot", metavar="PATH", help="write training curves as a PNG")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser(
        "evaluate", help="metrics of a saved model on a data file or a dataset's test split"
    )
    evaluate.add_argument("--model", required=True, metavar="PATH")
    evaluate.add_argument(
        "file", nargs="?", metavar="FILE", help="a data file with targets, as train reads"
    )
    evaluate.add_argument(
        "--target", metavar="COLUMN", help="a CSV's target column (default: the model's)"
    )
    evaluate.add_argument("--targets", metavar="Y.npy", help="the targets of a .npy of features")
    evaluate.add_argument(
        "--dataset",
        choices=sorted(DEFAULTS),
        default=None,
        help="default: the dataset the model was trained on",
    )
    evaluate.add_argument("--backend", default=None)
    evaluate.add_argument("--seed", type=int, default=0, help="sine: test set from seed + 1")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser(
        "predict", help="a saved model's predictions (class names for a classifier) on a file"
    )
    predict.add_argument("--model", required=True, metavar="PATH")
    predict.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=".csv (a header row; the model's feature columns are picked by name when all "
        "there, a target column is ignored), .npz (array X) or .npy (features)",
    )
    predict.add_argument("--input", help=argparse.SUPPRESS)  # the old spelling of FILE
    predict.add_argument(
        "--out",
        "--output",
        metavar="PATH",
        help="write the predictions to a .csv (a header row) or .npy (default: CSV on stdout)",
    )
    predict.add_argument(
        "--raw",
        action="store_true",
        help="a classifier's scores per class (its output layer) instead of class names",
    )
    predict.add_argument("--backend", default=None)
    predict.set_defaults(func=cmd_predict)

    # its arguments are parsed by nnkit.bench itself, imported only when this command runs
    sub.add_parser(
        "bench",
        add_help=False,
        help="time per-sample vs batched training on each backend, beside peer libraries "
        "(nnkit bench --help)",
    ).set_defaults(func=cmd_bench)
    return parser


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.command import main as bench_main

    return bench_main(args.rest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    try:
        return args.func(args)
    except BrokenPipeError:  # stdout's reader went away (nnkit ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (backends.BackendUnavailable, ValueError, TypeError, ImportError, OSError) as e:
        print(f"nnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
