"""Your own data for the ``nnkit`` command: CSV, .npz and .npy files read into host NumPy
arrays (a Table). What a model remembers of its data is ``nnkit.dataspec``.

Formats: ``.csv`` (a header row of column names; every feature cell a number; the target
column, by default the last, may hold numbers or names); ``.npz`` (arrays ``X`` (n, d) and
``y`` (n,) or (n, k)); ``.npy`` (X alone; targets from a second .npy). Integer or string
targets mean classification, floats regression.

Every problem is a DataFileError whose one-line message names the file and, in a CSV, the
line and column. A CSV is parsed fast (``nnkit.csvread``: pyarrow where it is installed,
else NumPy) where the parser reads it exactly as the csv module does; any other file, and
any file with a bad value, is read with the csv module, cell by cell, which finds the line
and column of the error. Arrays are read with ``np.load(..., allow_pickle=False)``: nothing
is ever unpickled.
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

from . import csvread
from .errors import InvalidValueError

FORMATS = (".csv", ".npz", ".npy")
"""The file suffixes ``read`` takes."""
# what np.load and reading a member of a damaged archive can raise
_LOAD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class DataFileError(InvalidValueError):
    """A data file that cannot be used; the message names the file (and where in it)."""


def is_data_file(name: str | os.PathLike) -> bool:
    """Whether ``name`` is a data file's name.

    Parameters
    ----------
    name : str or os.PathLike
        A file name or path.

    Returns
    -------
    bool
        True where it ends in one of ``FORMATS`` (any case).
    """
    return Path(name).suffix.lower() in FORMATS


@dataclasses.dataclass
class Table:
    """A data file's contents.

    Attributes
    ----------
    path : str
        The file.
    X : numpy.ndarray of shape (n, d)
        The features, finite float64.
    y : numpy.ndarray of shape (n,) or (n, k), or None
        The targets as read: int64, float64 or str (None when not read).
    features : list of str
        The features' names (a CSV's column names; ``x0``, ``x1`` ... for arrays).
    target : str or None
        The target's name (a CSV column, ``y`` of an .npz).
    lines : list of int or None
        The CSV line of each row (None for arrays).
    target_path : str
        The file of the targets (a .npy of features has its own).
    w : numpy.ndarray of shape (n,) or None
        Per-sample weights, float64, finite, >= 0; None when not asked for.
    parser : str or None
        What read a CSV: "pyarrow" or "numpy" (the fast parsers) or "csv" (the csv module);
        None for arrays.
    """

    path: str
    X: np.ndarray
    y: np.ndarray | None
    features: list[str]
    target: str | None
    lines: list[int] | None = None
    target_path: str = ""  # the file of the targets (a .npy of features has its own)
    w: np.ndarray | None = None  # per-sample weights (n,) float64, finite, >= 0, or None
    parser: str | None = None  # a CSV's parser; None for arrays

    def where(self, i: int) -> str:
        """Where a target is in the file, for messages.

        Parameters
        ----------
        i : int
            The row.

        Returns
        -------
        str
            E.g. ``t.csv, line 7 (column species)`` or ``t.npz, y[6]``.
        """
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
    weights: str | None = None,
) -> Table:
    """The features (and targets, with ``with_target``) of the data file ``path``.

    CSV: ``target`` names the target column (else ``default_target`` when given, else the
    last column); without the target, every column is a feature, or only the columns
    ``features`` when the header has them all (in that order). .npz: arrays X and y. .npy:
    X, with the targets from the .npy file ``targets``.

    ``weights``: per-sample weights (``Table.w``): a CSV column (not a feature then), an
    array of the .npz (e.g. ``w``), or a .npy file beside a .npy of features. They must be
    finite numbers >= 0, not all 0.

    Parameters
    ----------
    path : str or os.PathLike
        A .csv, .npz or .npy file.
    target : str, optional
        A CSV's target column (default: ``default_target``, else the last column).
    targets : str or os.PathLike, optional
        The .npy file of the targets of a .npy of features.
    with_target : bool
        Whether to read targets (False: prediction input, every column a feature).
    features : sequence of str, optional
        The feature columns to pick from a CSV without targets, when its header has them
        all.
    default_target : str, optional
        The target column when ``target`` is not given.
    weights : str, optional
        Where the per-sample weights are.

    Returns
    -------
    Table
        The arrays and names.

    Raises
    ------
    DataFileError
        Anything that makes the file unusable; the one-line message names the file and, in
        a CSV, the line and column.
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
        return _read_csv(path, _Want(target or default_target, with_target, features, weights))
    if suffix == ".npz":
        X, y, w = _npz(path, with_target, weights)
        return _weighted(_table(path, X, y, path), w, f"{path}, {weights}")
    if with_target and targets is None:
        raise DataFileError(f"{path}: a .npy file holds the features only; give --targets Y.npy")
    X = _npy(path)
    y = _npy(str(targets)) if with_target else None
    table = _table(path, X, y, str(targets or path))
    return table if weights is None else _weighted(table, _npy(weights), weights)


def _weighted(table: Table, w: np.ndarray | None, where: str) -> Table:
    """``table`` with the weights ``w`` (read from ``where``) checked: numbers (n,), finite,
    >= 0, not all 0."""
    if w is None:
        return table
    if w.ndim != 1 or w.shape[0] != table.X.shape[0]:
        raise DataFileError(
            f"{where}: weights of shape {w.shape} for {table.X.shape[0]} rows; expected one "
            f"weight per row, shape ({table.X.shape[0]},)"
        )
    if w.dtype.kind not in "biuf":
        raise DataFileError(f"{where}: weights hold {w.dtype} values, not numbers")
    w = w.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise DataFileError(f"{where}[{bad[0]}]: weight {w[bad[0]]} is not a finite number >= 0")
    _check_some_weight(w, where)
    return dataclasses.replace(table, w=w)


def _check_some_weight(w: np.ndarray, where: str) -> None:
    if not np.any(w > 0):
        raise DataFileError(f"{where}: every weight is 0; expected at least one positive weight")


# -- CSV -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Want:
    """What read() asks of a CSV: the target's name (None: the last column), whether to read
    the target, the features by name (None: every other column), the weights' name."""

    target: str | None
    with_target: bool
    features: Sequence[str] | None
    weights: str | None


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Which columns of a CSV hold the target and the weights (None: not read) and the
    features, in the order X keeps them."""

    target: int | None
    weights: int | None
    features: list[int]


def _read_csv(path: str, want: _Want) -> Table:
    """The CSV ``path`` read by a fast parser (csvread) where one vouches for the file and
    every value is good, else with the csv module, cell by cell, which finds what is wrong."""
    data = _bytes(path)
    if not data.isascii():
        _text(path, data)  # not UTF-8: the error the careful reader gives
    table = _fast_csv(path, data, want)
    return _careful_csv(path, _text(path, data), want) if table is None else table


def _bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise DataFileError(f"{path}: cannot read it: {e.strerror or e}") from None


def _text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataFileError(
            f"{path}, line {line}, byte {column}: not UTF-8 text ({e.reason})"
        ) from None


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a float.

    Parameters
    ----------
    text : str
        A cell.

    Returns
    -------
    bool
        True where ``float(text)`` accepts it.
    """
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header(path: str, row: list[str] | None) -> list[str]:
    """The column names of the header ``row``, stripped; an error for no names, a row of
    numbers or a name twice."""
    if row is None or not any(c.strip() for c in row):
        raise DataFileError(f"{path}: empty: no header row of column names")
    header = [c.strip() for c in row]
    if all(is_number(c) for c in header):
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
    return header


def _layout(path: str, header: list[str], want: _Want) -> _Layout:
    """The columns that ``want`` picks from ``header``; an error for a target or weights
    column that is not there, or no feature column left."""
    seen = {name: j for j, name in enumerate(header)}
    t = None
    if want.with_target:
        if want.target is None:
            t = len(header) - 1
        elif want.target in seen:
            t = seen[want.target]
        else:
            raise DataFileError(
                f"{path}, line 1: no column {want.target!r}; the columns are {', '.join(header)}"
            )
    v = None
    if want.weights is not None:
        if want.weights not in seen:
            raise DataFileError(
                f"{path}, line 1: no weights column {want.weights!r}; the columns are "
                f"{', '.join(header)}"
            )
        v = seen[want.weights]
        if v == t:
            raise DataFileError(
                f"{path}: column {want.weights!r} cannot be both target and weights"
            )
    features = want.features
    if features is not None and all(f in seen and seen[f] not in (t, v) for f in features):
        columns = [seen[f] for f in features]
    else:
        columns = [j for j in range(len(header)) if j not in (t, v)]
    if not columns:
        raise DataFileError(f"{path}: no feature columns besides the target {header[t]!r}")
    return _Layout(t, v, columns)


def _fast_csv(path: str, data: bytes, want: _Want) -> Table | None:
    """The Table of the CSV ``data`` (valid UTF-8) as a fast parser reads it; None where none
    vouches for the file, or for a missing column, a non-finite number or a bad weight: the
    careful reader then reports the first error, as it orders them."""
    split = csvread.split_header(data)
    if split is None:
        return None
    header = _header(path, split[0])
    try:
        layout = _layout(path, header, want)
    except DataFileError:  # reported by the careful reader, after any error in the rows
        return None
    t, v = layout.target, layout.weights
    numbers = list(dict.fromkeys([*layout.features, *([] if v is None else [v])]))
    columns = csvread.parse(data, split[1], len(header), numbers, [] if t is None else [t])
    if columns is None:
        return None
    at = {j: k for k, j in enumerate(numbers)}  # each column once, the features first
    X = columns.numbers
    if numbers != layout.features:  # weights read too, or a feature named twice
        X = X[:, [at[j] for j in layout.features]]
    w = None if v is None else columns.numbers[:, at[v]].copy()
    if not np.isfinite(X).all() or (w is not None and not _good_weights(w)):
        return None
    y = None
    if t is not None:
        y = _csv_targets(path, columns.texts[t], columns.lines, t, header[t])
    features = [header[j] for j in layout.features]
    target = None if t is None else header[t]
    return Table(path, X, y, features, target, columns.lines, path, w, columns.parser)


def _good_weights(w: np.ndarray) -> bool:
    """Whether the weights ``w`` are finite, >= 0 and not all 0."""
    return bool(np.isfinite(w).all() and (w >= 0).all() and (w > 0).any())


def _careful_csv(path: str, text: str, want: _Want) -> Table:
    """The CSV ``text`` read with the csv module, cell by cell: the first problem is an
    error naming its line (and column)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        header = _header(path, next(reader, None))
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
    layout = _layout(path, header, want)
    t, v = layout.target, layout.weights
    X = _csv_numbers(path, rows, lines, layout.features, header)
    y = None if t is None else _csv_targets(path, [r[t] for r in rows], lines, t, header[t])
    w = None if v is None else _csv_weights(path, rows, lines, v, header)
    features = [header[j] for j in layout.features]
    target = None if t is None else header[t]
    return Table(path, X, y, features, target, lines, path, w, "csv")


def _csv_weights(
    path: str, rows: list[list[str]], lines: list[int], v: int, header: list[str]
) -> np.ndarray:
    """The weights column as (n,) float64: every cell a finite number >= 0, not all 0."""
    w = _csv_numbers(path, rows, lines, [v], header)[:, 0]
    negative = np.flatnonzero(w < 0)
    if negative.size:
        i = negative[0]
        raise DataFileError(
            f"{path}, line {lines[i]}, column {v + 1} ({header[v]}): weight "
            f"{rows[i][v].strip()!r} is negative; expected a number >= 0"
        )
    _check_some_weight(w, f"{path}, column {v + 1} ({header[v]})")
    return w


def _csv_numbers(
    path: str, rows: list[list[str]], lines: list[int], columns: list[int], header: list[str]
) -> np.ndarray:
    """The feature cells as an (n, d) float64 array; the first bad cell is an error."""
    values = []
    for row, line in zip(rows, lines, strict=True):
        try:
            values.append([float(row[j]) for j in columns])
        except ValueError:
            j = next(j for j in columns if not is_number(row[j]))
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
    numbers = [float(c) if is_number(c) else None for c in cells]
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


def _npz(
    path: str, with_target: bool, weights: str | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Arrays X, y (``with_target``) and ``weights`` (a name, or None) of the .npz ``path``."""
    archive = _loaded(path, ".npz")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataFileError(f"{path}: a single .npy array, not an .npz archive of X and y")
    names = ["X", *(["y"] if with_target else []), *([weights] if weights else [])]
    with archive:
        for name in names:
            if name not in archive.files:
                holds = ", ".join(archive.files) or "nothing"
                raise DataFileError(f"{path}: no array {name!r} (it holds: {holds})")
        X = _member(path, archive, "X")
        y = _member(path, archive, "y") if with_target else None
        w = _member(path, archive, weights) if weights else None
    return X, y, w


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
