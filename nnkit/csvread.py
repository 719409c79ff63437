"""Fast CSV parsing for ``nnkit.datafiles``: pyarrow's CSV reader where it is installed (and
the file is big enough to repay its import), else one ``numpy.loadtxt`` pass.

A fast parser reads a file only where it reads every cell as the csv module does, and
returns None where it cannot vouch for that; datafiles then reads the file with the csv
module, cell by cell, and names the line and column of what is wrong. It vouches for a
header that is one whole line, then one record per line (blank lines skipped), lines that
end in \\n or \\r\\n and are no longer than the csv module's field limit, and quotes only on
lines that the csv module reads in strict mode as one whole record (pyarrow and loadtxt
also take ``"1"2`` as 12 and an unclosed quote as running to the end of the file). Number
columns are parsed as float64: both parsers accept a subset of what ``float`` accepts
(no ``1_000``, no hexadecimal), to the same value.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Callable, Collection, Sequence

import numpy as np  # host-side: the columns of a file

# the fast parsers by preference: the first one installed reads a file (pyarrow one of at
# least PYARROW_MIN_BYTES); () leaves every file to the csv module
PARSERS: tuple[str, ...] = ("pyarrow", "numpy")
# importing pyarrow (about 0.05 s) pays for itself from about 2 MiB on: NumPy's parser reads
# a smaller file sooner (benchmarks/results/csv-read-cpu-2core.md)
PYARROW_MIN_BYTES = 2 << 20

_LINE_END = re.compile(rb"\r\n?|\n")
_BLOCK = 1 << 22  # bytes compared at a time: a small temporary, not one the size of the file

# (rows, the number columns side by side, the text columns) as a parser read them
Read = tuple[int, np.ndarray, dict[int, list[str]]]
# a parser: (data, start, width, numbers, texts) as parse() takes them -> Read, or None
Reader = Callable[[bytes, int, int, Sequence[int], Collection[int]], Read | None]


@dataclasses.dataclass(frozen=True)
class Columns:
    """What a fast parser read: ``numbers``, the number columns asked for side by side (n, k)
    float64, C-contiguous; ``texts`` (column index -> the n cells as str); the file ``lines``
    of the n rows (the header is line 1); the ``parser``'s name."""

    numbers: np.ndarray
    texts: dict[int, list[str]]
    lines: list[int]
    parser: str


def split_header(data: bytes) -> tuple[list[str], int] | None:
    """The first line of the UTF-8 ``data`` (a BOM left out) as the csv module reads it (a
    list of fields) and the offset of the next line; None where the first line is not one
    whole record."""
    end = _LINE_END.search(data)
    stop, start = (len(data), len(data)) if end is None else end.span()
    try:
        rows = list(csv.reader([data[:stop].decode("utf-8-sig")], strict=True))
    except csv.Error:
        return None
    return rows[0], start


def parse(
    data: bytes, start: int, width: int, numbers: Sequence[int], texts: Collection[int]
) -> Columns | None:
    """Columns ``numbers`` (as float64, distinct, in this order) and ``texts`` (as str) of the
    UTF-8 lines of ``data`` from offset ``start`` on, after a header of ``width`` names; None
    where no fast parser reads them as the csv module does, or where there are no rows."""
    parser = _parser(len(data) - start)
    if parser is None:
        return None
    records = _record_lines(data, start)
    if records is None or not records.size:
        return None
    read = _READERS[parser](data, start, width, numbers, texts)
    if read is None or read[0] != records.size:
        return None
    return Columns(read[1], read[2], (records + 2).tolist(), parser)  # the header: line 1


def _parser(size: int) -> str | None:
    """The first of PARSERS that reads ``size`` bytes here (pyarrow: where it is installed,
    from PYARROW_MIN_BYTES on; NumPy: always), or None."""
    for name in PARSERS:
        if name != "pyarrow" or (size >= PYARROW_MIN_BYTES and _has_pyarrow()):
            return name
    return None


def _has_pyarrow() -> bool:
    """Whether pyarrow's CSV reader imports (it is imported now)."""
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


# -- the lines of a file ---------------------------------------------------------------------


def _record_lines(data: bytes, start: int) -> np.ndarray | None:
    """The indexes of the non-empty lines of ``data[start:]``, each one whole record; None
    where a line may not be: a lone \\r (a line end to the csv module, not to loadtxt), a
    line longer than the csv module's field limit, a line with a quote that is not one whole
    record."""
    if data.find(b"\r", start) >= 0 and data.count(b"\r", start) != data.count(b"\r\n", start):
        return None
    raw = np.frombuffer(data, np.uint8, offset=start)
    starts, stops = _line_bounds(raw)
    if (stops - starts).max() > csv.field_size_limit():
        return None
    if data.find(b'"', start) >= 0 and not _quoted_lines_are_records(raw, starts, stops):
        return None
    return np.flatnonzero(stops > starts)


def _line_bounds(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each line of the bytes ``raw`` starts and stops (split at \\n; a \\r before it
    left out)."""
    ends = _positions(raw, b"\n")
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [raw.size]))
    crlf = stops > starts
    crlf[crlf] = raw[stops[crlf] - 1] == ord("\r")
    return starts, stops - crlf


def _quoted_lines_are_records(raw: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> bool:
    """Whether every line of the bytes ``raw`` that holds a quote is one whole record to the
    csv module in strict mode."""
    quotes = _positions(raw, b'"')
    quoted = np.unique(np.searchsorted(stops, quotes, side="right"))  # their lines
    lines = [raw[starts[i] : stops[i]].tobytes().decode() for i in quoted]
    try:
        return sum(1 for _ in csv.reader(lines, strict=True)) == len(lines)
    except csv.Error:  # a record that runs past the last of these lines, or a stray quote
        return False


def _positions(raw: np.ndarray, byte: bytes) -> np.ndarray:
    """The indexes of ``byte`` in the bytes ``raw``, found a block at a time."""
    found = [
        np.flatnonzero(raw[i : i + _BLOCK] == ord(byte)) + i for i in range(0, raw.size, _BLOCK)
    ]
    return np.concatenate([np.empty(0, np.intp), *found])


# -- the parsers -----------------------------------------------------------------------------


def _read_pyarrow(
    data: bytes, start: int, width: int, numbers: Sequence[int], texts: Collection[int]
) -> Read | None:
    """pyarrow.csv.read_csv of the columns wanted: numbers as float64 (no missing values),
    texts as strings; None where pyarrow refuses the file."""
    import pyarrow
    from pyarrow import csv as pyarrow_csv

    names = [f"c{j}" for j in range(width)]
    types = {names[j]: pyarrow.float64() for j in numbers} | {
        names[j]: pyarrow.string() for j in texts
    }
    try:
        table = pyarrow_csv.read_csv(
            pyarrow.py_buffer(data).slice(start),
            read_options=pyarrow_csv.ReadOptions(column_names=names),
            parse_options=pyarrow_csv.ParseOptions(
                delimiter=",", quote_char='"', double_quote=True, escape_char=False,
                newlines_in_values=False, ignore_empty_lines=True,
            ),
            convert_options=pyarrow_csv.ConvertOptions(
                column_types=types, include_columns=list(types), null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )  # fmt: skip
    except pyarrow.ArrowInvalid:  # a cell that is not a number, a row of other length
        return None
    X = np.empty((table.num_rows, len(numbers)))
    row = 0
    for batch in table.select([names[j] for j in numbers]).to_batches():  # cache-sized blocks
        for k, column in enumerate(batch.columns):
            X[row : row + batch.num_rows, k] = column.to_numpy()
        row += batch.num_rows
    return table.num_rows, X, {j: table.column(names[j]).to_pylist() for j in texts}


def _read_numpy(
    data: bytes, start: int, width: int, numbers: Sequence[int], texts: Collection[int]
) -> Read | None:
    """One numpy.loadtxt pass over every column: numbers as float64, the others as str;
    None where loadtxt refuses the file."""
    wanted = set(numbers)
    kinds = np.dtype([(f"c{j}", np.float64 if j in wanted else object) for j in range(width)])
    lines = io.BytesIO(data)  # the bytes themselves, decoded a chunk at a time
    lines.seek(start)
    text = io.TextIOWrapper(lines, encoding="utf-8", newline="")
    try:
        table = np.loadtxt(text, dtype=kinds, delimiter=",", comments=None, quotechar='"', ndmin=1)
    except ValueError:  # a cell that is not a number, a row of other length
        return None
    X = np.stack([table[f"c{j}"] for j in numbers], axis=1)
    return table.size, X, {j: table[f"c{j}"].tolist() for j in texts}


_READERS: dict[str, Reader] = {
    "pyarrow": _read_pyarrow,
    "numpy": _read_numpy,
}
