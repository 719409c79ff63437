"""Predictions out, for ``nnkit predict``: a header row and one row per sample as CSV text,
or a .npy array (class names as a string array: no pickle needed to read it)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np  # host-side: predictions are NumPy arrays

from ..errors import InvalidValueError
from ..io import atomic_write

SUFFIXES = (".csv", ".npy")


def check_path(path: str | os.PathLike) -> None:
    """Raise InvalidValueError unless ``path`` ends in one of SUFFIXES (any case)."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise InvalidValueError(f"{path}: predictions go to a .csv or .npy file")


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
    """Write ``values`` to ``path`` atomically: a .csv under ``header``, or a .npy array."""
    check_path(path)
    if Path(path).suffix.lower() == ".csv":
        atomic_write(path, predictions_csv(values, header).encode())
        return
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    atomic_write(path, buffer.getvalue())
