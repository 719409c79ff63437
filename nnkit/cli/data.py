"""The data of a run: a built-in dataset or a data file as host arrays split into training,
validation and test rows (with their sample weights, where the file has them), with the
DataSpec that the model keeps of it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np  # host side: the rows of a split

from .. import datafiles, datasets
from ..data import train_val_split
from ..dataspec import DataSpec, describe
from ..errors import InvalidValueError

if TYPE_CHECKING:
    from .train_config import TrainConfig

Pair = tuple[Any, ...]  # host arrays (X, Y), or (X, Y, w) with sample weights


@dataclasses.dataclass(frozen=True)
class Data:
    """Host (X, Y) or (X, Y, w) tuples ``train``, ``val`` and ``test`` (None: no such rows);
    ``classes`` (None for a regression); the ``spec`` a model keeps; ``n_out``, the model's
    outputs."""

    train: Pair
    val: Pair | None
    test: Pair | None
    classes: int | None
    spec: DataSpec
    n_out: int


def hold_out(pair: Pair, fraction: float, seed: int) -> tuple[Pair, Pair | None]:
    """(the other rows, the rows held out): ``fraction`` of ``pair``'s rows (each array of
    the tuple, weights too) drawn from ``seed`` as ``train_val_split`` draws them; none
    held out for a fraction of 0."""
    if not fraction:
        return pair, None
    rows = np.arange(len(pair[0]))
    keep, _, out, _ = train_val_split(rows, rows, fraction, seed=seed)
    return tuple(a[keep] for a in pair), tuple(a[out] for a in pair)


def builtin_spec(name: str, n_in: int) -> DataSpec:
    """The DataSpec of a built-in dataset: features x0, x1, ...; classes 0..9 (digits), 0/1
    (xor) or a regression (sine)."""
    features = [f"x{j}" for j in range(n_in)]
    classes = {"digits": 10, "xor": 2}.get(name)
    if classes is None:
        return DataSpec("regression", features, "y")
    return DataSpec("classification", features, "y", [str(c) for c in range(classes)], "int")


def load_dataset(name: str, seed: int = 0, val_fraction: float = 0.1) -> Data:
    """The built-in dataset ``name``. digits: scikit-learn's split, validation carved from
    training; xor: the four points for all three; sine: sine(256, seed) and a test set from
    seed + 1. One sigmoid output for two classes and for a regression."""
    if name == "xor":
        X, Y = datasets.xor()
        return Data((X, Y), (X, Y), (X, Y), 2, builtin_spec(name, X.shape[1]), 1)
    if name == "digits":
        X, Y, X_test, Y_test = datasets.digits()
        classes = 10
    else:
        X, Y = datasets.sine(256, seed)
        X_test, Y_test = datasets.sine(256, seed + 1)
        classes = None
    train, val = hold_out((X, Y), val_fraction, seed)
    n_out = 1 if classes is None else classes
    return Data(train, val, (X_test, Y_test), classes, builtin_spec(name, X.shape[1]), n_out)


def load_file(config: TrainConfig) -> Data:
    """The data file ``config.dataset``: a test split of ``config.test_fraction`` (0: none)
    and validation carved from the rest; targets encoded for the outputs that the loss
    ``config.loss_for`` the task needs. Prints what it read."""
    path = config.dataset
    table = datafiles.read(
        path, target=config.target, targets=config.targets, weights=config.weights
    )
    spec = describe(table, config.task)
    k = spec.n_classes
    if k is None:
        n_out = spec.outputs
    else:  # one sigmoid output for two classes, unless the loss is a softmax
        n_out = k if config.loss_for(k) == "cross_entropy" or k > 2 else 1
    encoded = (table.X, spec.encode(table, n_out))
    if table.w is not None:
        encoded = (*encoded, table.w)
    try:
        train, test = hold_out(encoded, config.test_fraction, config.seed)
        train, val = hold_out(train, config.val_fraction, config.seed)
    except InvalidValueError as e:
        raise datafiles.DataFileError(f"{path}: too few rows to split: {e}") from None
    parts = {"train": train, "val": val, "test": test}
    sizes = ", ".join(f"{len(p[0])} {name}" for name, p in parts.items() if p is not None)
    about = f"{k} classes ({', '.join((spec.classes or [])[:10])})" if k else "regression"
    weighted = "" if table.w is None else f", weighted by {config.weights}"
    print(
        f"data {path}: {table.X.shape[0]} rows, {table.X.shape[1]} features, target "
        f"{table.target}: {about}{weighted}; {sizes}"
    )
    return Data(train, val, test, k, spec, n_out)


def load_data(config: TrainConfig) -> Data:
    """The built-in dataset or data file that ``config.dataset`` names, standardised when
    ``config.standardize`` says so (statistics from the training rows, kept in ``spec``)."""
    if config.builtin:
        data = load_dataset(config.dataset, config.seed, config.val_fraction)
    else:
        data = load_file(config)
    if not config.standardize:
        return data
    spec = data.spec.standardized(data.train[0])

    def scaled(pair: Pair | None) -> Pair | None:
        return None if pair is None else (spec.transform(pair[0]), *pair[1:])

    return dataclasses.replace(
        data, train=scaled(data.train), val=scaled(data.val), test=scaled(data.test), spec=spec
    )
