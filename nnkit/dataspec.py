"""What a model remembers of its data, saved with it as JSON: the DataSpec, so that
``nnkit predict`` and ``nnkit evaluate`` read files as ``nnkit train`` did (task, class names,
feature and target names, feature standardisation); ``describe`` makes one from a Table."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np  # host-side: a Table's arrays are NumPy arrays

from .datafiles import DataFileError, Table, is_number
from .errors import InvalidValueError

TASKS = ("classification", "regression")


@dataclasses.dataclass
class DataSpec:
    """How a model reads data, saved with it as JSON: the task; feature and target names;
    for classification the class names in the order of the model's outputs and their type
    ("int", "float" or "str"); for regression the number of outputs; the training features'
    mean and scale when they were standardised."""

    task: str
    features: list[str]
    target: str | None = None
    classes: list[str] | None = None
    class_type: str | None = None
    outputs: int = 1
    mean: list[float] | None = None
    scale: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, path: str) -> DataSpec:
        """The DataSpec saved in model file ``path``."""
        try:
            spec = cls(**data)
            if spec.task not in TASKS or not isinstance(spec.features, list):
                raise ValueError(spec.task)
            if (spec.task == "classification") != isinstance(spec.classes, list):
                raise ValueError("classes")
        except (TypeError, ValueError) as e:
            raise DataFileError(f"{path}: damaged data description in the model ({e})") from None
        return spec

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    def class_values(self) -> np.ndarray:
        """The class names as an array of their type (int64, float64 or str)."""
        convert = {"int": np.int64, "float": np.float64}.get(self.class_type or "", str)
        return np.array(self.classes, dtype=convert)

    def standardized(self, X: np.ndarray) -> DataSpec:
        """This spec with the mean and scale of X's columns (scale 1 for a constant one)."""
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        return dataclasses.replace(self, mean=X.mean(axis=0).tolist(), scale=scale.tolist())

    def transform(self, X: np.ndarray) -> np.ndarray:
        """X as the model takes it: standardised when the spec says so."""
        if self.mean is None or self.scale is None:
            return X
        return (X - np.asarray(self.mean)) / np.asarray(self.scale)

    def features_of(self, table: Table) -> np.ndarray:
        """``table``'s X, checked against the model's features and transformed."""
        if table.X.shape[1] != len(self.features):
            raise DataFileError(
                f"{table.path}: {table.X.shape[1]} feature columns, but the model takes "
                f"{len(self.features)} ({_names(self.features)})"
            )
        return self.transform(table.X)

    def encode(self, table: Table, width: int) -> np.ndarray:
        """``table``'s targets as the Trainer takes them for a model of ``width`` outputs:
        class indices (n,) (a float column (n, 1) when one output scores the second class),
        or float regression targets."""
        y = table.y
        if y is None:
            raise DataFileError(f"{table.path}: no targets")
        if self.task == "regression":
            if y.dtype.kind == "U":
                i = next(i for i, v in enumerate(y) if not is_number(v))
                raise DataFileError(f"{table.where(i)}: {str(y[i])!r} is not a number (regression)")
            y = y.astype(np.float64)
            width_y = 1 if y.ndim == 1 else y.shape[1]
            if width_y != self.outputs:
                raise DataFileError(
                    f"{table.path}: {width_y} target columns, the model has {self.outputs}"
                )
            return y
        names = self.class_values()
        if names.dtype.kind == "U":
            y = y.astype(str)
        else:  # compared as numbers: "3" in a CSV of names, 3.0 in an array, are class 3
            names = names.astype(np.float64)
            numbers = [is_number(v) for v in y.astype(str)]
            if not all(numbers):
                i = numbers.index(False)
                raise DataFileError(
                    f"{table.where(i)}: class {str(y[i])!r} is not one the model knows "
                    f"({_names(self.classes or [])})"
                )
            y = y.astype(np.float64)
        codes = np.minimum(np.searchsorted(names, y), len(names) - 1)
        unknown = np.flatnonzero(names[codes] != y)
        if unknown.size:
            i = unknown[0]
            raise DataFileError(
                f"{table.where(i)}: class {str(y[i].item())!r} is not one the model knows "
                f"({_names(self.classes or [])})"
            )
        if width == 1:
            return codes.astype(np.float64)[:, None]
        return codes.astype(np.int64)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions from the network's outputs (n, width): class names for a classifier
        (the highest score; a single output above 0.5 is the second class), else the values
        (n,) for one output, (n, k) for several."""
        if self.task == "regression":
            return outputs[:, 0] if outputs.shape[1] == 1 else outputs
        if outputs.shape[1] == 1:
            index = (outputs[:, 0] > 0.5).astype(np.int64)
        else:
            index = outputs.argmax(axis=1)
        return self.class_values()[index]


def describe(table: Table, task: str | None = None) -> DataSpec:
    """The DataSpec of ``table``'s targets: ``task`` (default: classification for integer or
    string targets, regression for floats), the classes (sorted) for a classification."""
    y = table.y
    if y is None:
        raise DataFileError(f"{table.path}: no targets")
    if task is None:
        task = "regression" if y.dtype.kind == "f" else "classification"
    if task not in TASKS:
        raise InvalidValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "regression":
        outputs = 1 if y.ndim == 1 else y.shape[1]
        return DataSpec(task, table.features, table.target, outputs=outputs)
    if y.ndim != 1:
        raise DataFileError(f"{table.path}: class labels are one column; y has shape {y.shape}")
    classes = np.unique(y)
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        classes = classes.astype(np.int64)
    if len(classes) < 2:
        raise DataFileError(
            f"{table.path}: only one class ({classes[0].item()!r}) in {table.target}; "
            "classification needs two or more"
        )
    class_type = {"i": "int", "f": "float"}.get(classes.dtype.kind, "str")
    names = [str(c) for c in classes.tolist()]
    return DataSpec(task, table.features, table.target, names, class_type)


def _names(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
