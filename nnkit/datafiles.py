"""Your own data for the ``nnkit`` command: CSV, .npz and .npy files read into host NumPy
arrays, and the DataSpec a model keeps so that ``predict`` and ``evaluate`` read files as
``train`` did (task, class names, feature and target names, feature standardisation).

Formats: ``.csv`` (a header row of column names; every feature cell a number; the target
column, by default the last, may hold numbers or names); ``.npz`` (arrays ``X`` (n, d) and
``y`` (n,) or (n, k)); ``.npy`` (X alone; targets from a second .npy). Integer or string
targets mean classification, floats regression.

Every problem is a DataFileError whose one-line message names the file and, in a CSV, the
line and column. Reading uses the csv module and NumPy only, with
``np.load(..., allow_pickle=False)``: nothing is ever unpickled.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np  # host-side: files are read into NumPy arrays

from .errors import InvalidValueError
from .io import atomic_write

FORMATS = (".csv", ".npz", ".npy")
TASKS = ("classification", "regression")
# what np.load and reading a member of a damaged archive can raise
_LOAD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class DataFileError(InvalidValueError):
    """A data file that cannot be used; the message names the file (and where in it)."""


def is_data_file(name: str | os.PathLike) -> bool:
    """Whether ``name`` ends in one of FORMATS (any case)."""
    return Path(name).suffix.lower() in FORMATS


@dataclasses.dataclass
class Table:
    """A data file's contents: X (n, d) finite float64; y the targets as read, (n,) or
    (n, k) of int64, float64 or str (None when not read); the names of the features and the
    target; ``lines``: the CSV line of each row (None for arrays)."""

    path: str
    X: np.ndarray
    y: np.ndarray | None
    features: list[str]
    target: str | None
    lines: list[int] | None = None
    target_path: str = ""  # the file of the targets (a .npy of features has its own)

    def where(self, i: int) -> str:
        """Where target ``i`` is: ``t.csv, line 7 (column species)`` or ``t.npz, y[6]``."""
        if self.lines is not None:
            return f"{self.path}, line {self.lines[i]} (column {self.target})"
        return f"{self.target_path or self.path}, {self.target}[{i}]"


def read(
    path: str | os.PathLike,
    *,
    target: str | None = None,
    targets: str | os.PathLike | None = None,
    with_target: bool = True,
    features: Sequence[str] | None = None,
    default_target: str | None = None,
) -> Table:
    """The features (and targets, with ``with_target``) of the data file ``path``.

    CSV: ``target`` names the target column (else ``default_target`` when given, else the
    last column); without the target, every column is a feature, or only the columns
    ``features`` when the header has them all (in that order). .npz: arrays X and y. .npy:
    X, with the targets from the .npy file ``targets``.
    """
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(f"{path}: not a data file nnkit reads (.csv, .npz or .npy)")
    if target is not None and suffix != ".csv":
        raise DataFileError(f"{path}: --target names a CSV column; a {suffix} file has X and y")
    if targets is not None and suffix != ".npy":
        raise DataFileError(f"{path}: --targets goes with a .npy file of features")
    if suffix == ".csv":
        return _read_csv(path, target or default_target, with_target, features)
    if suffix == ".npz":
        return _table(path, *_npz(path, with_target), path)
    if with_target and targets is None:
        raise DataFileError(f"{path}: a .npy file holds the features only; give --targets Y.npy")
    X = _npy(path)
    y = _npy(str(targets)) if with_target else None
    return _table(path, X, y, str(targets or path))


# -- CSV -------------------------------------------------------------------------------------


def _text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataFileError(f"{path}: cannot read it: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataFileError(
            f"{path}, line {line}, byte {column}: not UTF-8 text ({e.reason})"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(
    path: str, target: str | None, with_target: bool, features: Sequence[str] | None
) -> Table:
    reader = csv.reader(io.StringIO(_text(path), newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        header = next(reader, None)
        if header is None or not any(c.strip() for c in header):
            raise DataFileError(f"{path}: empty: no header row of column names")
        header = [c.strip() for c in header]
        if all(_is_number(c) for c in header):
            raise DataFileError(
                f"{path}, line 1: a row of numbers, not a header; nnkit wants a header row "
                "of column names first"
            )
        seen: dict[str, int] = {}
        for j, name in enumerate(header):
            if name in seen:
                raise DataFileError(
                    f"{path}, line 1: column name {name!r} appears twice "
                    f"(columns {seen[name] + 1} and {j + 1})"
                )
            seen[name] = j
        for row in reader:
            if not any(c.strip() for c in row):
                continue  # a blank line
            if len(row) != len(header):
                raise DataFileError(
                    f"{path}, line {reader.line_num}: {len(row)} fields, but the header has "
                    f"{len(header)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:  # the record began on the line after the last one read
        start = (lines[-1] if lines else 1) + 1 if reader.line_num > 1 else 1
        hint = " (a quote never closed?)" if "end of data" in str(e) else ""
        raise DataFileError(f"{path}, line {start}: {e}{hint}") from None
    if not rows:
        raise DataFileError(f"{path}: no data rows after the header")
    t = None
    if with_target:
        if target is None:
            t = len(header) - 1
        elif target in seen:
            t = seen[target]
        else:
            raise DataFileError(
                f"{path}, line 1: no column {target!r}; the columns are {', '.join(header)}"
            )
    if features is not None and all(f in seen and seen[f] != t for f in features):
        columns = [seen[f] for f in features]
    else:
        columns = [j for j in range(len(header)) if j != t]
    if not columns:
        raise DataFileError(f"{path}: no feature columns besides the target {header[t]!r}")
    X = _csv_numbers(path, rows, lines, columns, header)
    y = None if t is None else _csv_targets(path, [r[t] for r in rows], lines, t, header[t])
    target_name = None if t is None else header[t]
    return Table(path, X, y, [header[j] for j in columns], target_name, lines, path)


def _csv_numbers(
    path: str, rows: list[list[str]], lines: list[int], columns: list[int], header: list[str]
) -> np.ndarray:
    """The feature cells as an (n, d) float64 array; the first bad cell is an error."""
    values = []
    for row, line in zip(rows, lines, strict=True):
        try:
            values.append([float(row[j]) for j in columns])
        except ValueError:
            j = next(j for j in columns if not _is_number(row[j]))
            cell = row[j].strip()
            what = "an empty cell" if not cell else f"{cell!r} is not a number"
            raise DataFileError(
                f"{path}, line {line}, column {j + 1} ({header[j]}): {what}"
            ) from None
    X = np.array(values, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, k = bad[0]
        j = columns[k]
        raise DataFileError(
            f"{path}, line {lines[i]}, column {j + 1} ({header[j]}): "
            f"{rows[i][j].strip()!r} is not a finite number"
        )
    return X


def _csv_targets(path: str, cells: list[str], lines: list[int], t: int, name: str) -> np.ndarray:
    """The target column: int64 when every cell is an integer, float64 when every cell is a
    number, else the cells as strings."""
    cells = [c.strip() for c in cells]
    for cell, line in zip(cells, lines, strict=True):
        if not cell:
            raise DataFileError(f"{path}, line {line}, column {t + 1} ({name}): an empty cell")
    try:
        return np.array([int(c) for c in cells], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    numbers = [float(c) if _is_number(c) else None for c in cells]
    for i, v in enumerate(numbers):
        if v is not None and not math.isfinite(v):  # among names too: a missing value
            raise DataFileError(
                f"{path}, line {lines[i]}, column {t + 1} ({name}): {cells[i]!r} is not a "
                "finite number"
            )
    if None not in numbers:
        return np.array(numbers, dtype=np.float64)
    return np.array(cells, dtype=str)


# -- .npz and .npy ---------------------------------------------------------------------------


def _loaded(path: str, what: str) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except _LOAD_ERRORS as e:
        if "Object arrays" in str(e):
            why = "it holds Python objects, and nnkit never unpickles"
        elif "allow_pickle" in str(e):
            why = f"not a NumPy {what} file (nnkit never unpickles)"
        else:
            why = f"not a readable NumPy {what} file ({e})"
        raise DataFileError(f"{path}: {why}") from None


def _member(path: str, archive: Any, name: str) -> np.ndarray:
    try:
        return archive[name]
    except _LOAD_ERRORS as e:
        if "allow_pickle" in str(e):
            raise DataFileError(
                f"{path}: array {name} holds Python objects; nnkit never unpickles"
            ) from None
        raise DataFileError(f"{path}: array {name} is damaged ({e})") from None


def _npz(path: str, with_target: bool) -> tuple[np.ndarray, np.ndarray | None]:
    archive = _loaded(path, ".npz")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFileError(f"{path}: a single .npy array, not an .npz archive of X and y")
    with archive:
        for name in ("X", "y") if with_target else ("X",):
            if name not in archive.files:
                holds = ", ".join(archive.files) or "nothing"
                raise DataFileError(f"{path}: no array {name!r} (it holds: {holds})")
        X = _member(path, archive, "X")
        y = _member(path, archive, "y") if with_target else None
    return X, y


def _npy(path: str) -> np.ndarray:
    array = _loaded(path, ".npy")
    if not isinstance(array, np.ndarray):
        array.close()
        raise DataFileError(f"{path}: an .npz archive, not a single .npy array")
    return array


def _table(path: str, X: np.ndarray, y: np.ndarray | None, y_path: str) -> Table:
    """X (from ``path``) and y (from ``y_path``) checked: shapes, dtypes, finite, lengths."""
    if X.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: X holds {X.dtype} values, not numbers")
    if X.ndim == 2 and 0 in X.shape:
        raise DataFileError(f"{path}: X has shape {X.shape}: no rows or no features")
    if X.ndim != 2:
        raise DataFileError(
            f"{path}: X has shape {X.shape}; nnkit wants (samples, features), "
            "e.g. X.reshape(-1, 1) for one feature"
        )
    X = X.astype(np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        i, j = bad[0]
        raise DataFileError(f"{path}: X[{i}, {j}] is {X[i, j]}, not a finite number")
    if y is not None:
        y = _checked_targets(y_path, y)
        if y.shape[0] != X.shape[0]:
            where = path if y_path == path else f"{path} and {y_path}"
            raise DataFileError(f"{where}: X has {X.shape[0]} rows but y has {y.shape[0]}")
    features = [f"x{j}" for j in range(X.shape[1])]
    return Table(path, X, y, features, None if y is None else "y", target_path=y_path)


def _checked_targets(path: str, y: np.ndarray, name: str = "y") -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim not in (1, 2) or y.shape[0] == 0:
        raise DataFileError(f"{path}: {name} has shape {y.shape}; nnkit wants (samples,)")
    kind = y.dtype.kind
    if kind == "S":
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError:
            raise DataFileError(f"{path}: {name} holds bytes that are not UTF-8") from None
        kind = "U"
    if kind in "bu":
        y = y.astype(np.int64)
    elif kind == "f":
        y = y.astype(np.float64)
        bad = np.argwhere(~np.isfinite(y))
        if bad.size:
            index = ", ".join(map(str, bad[0]))
            raise DataFileError(f"{path}: {name}[{index}] is {y[tuple(bad[0])]}, not finite")
    elif kind not in "iU":
        raise DataFileError(f"{path}: {name} holds {y.dtype} values, not numbers or names")
    if y.ndim == 2 and kind != "f":
        raise DataFileError(
            f"{path}: {name} has shape {y.shape}; class labels are one column (samples,)"
        )
    return y


# -- what a model remembers of its data ------------------------------------------------------


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
                i = next(i for i, v in enumerate(y) if not _is_number(v))
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
            numbers = [_is_number(v) for v in y.astype(str)]
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
        index = (outputs[:, 0] > 0.5).astype(np.int64) if outputs.shape[1] == 1 else (
            outputs.argmax(axis=1)
        )
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


# -- predictions out -------------------------------------------------------------------------


def predictions_csv(values: np.ndarray, header: Sequence[str]) -> str:
    """``values`` (n,) or (n, k) as CSV text under ``header`` (one name per column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    rows = values[:, None] if values.ndim == 1 else values
    for row in rows:
        writer.writerow([str(v) for v in row])
    return out.getvalue()


def write_predictions(path: str | os.PathLike, values: np.ndarray, header: Sequence[str]) -> None:
    """Write ``values`` to ``path`` atomically: a .csv under ``header``, or a .npy array
    (class names as a string array: no pickle needed to read it)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        atomic_write(path, predictions_csv(values, header).encode())
    elif suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        atomic_write(path, buffer.getvalue())
    else:
        raise DataFileError(f"{path}: predictions go to a .csv or .npy file")
