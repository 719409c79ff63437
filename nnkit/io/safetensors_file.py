"""The safetensors container: host tensors and nnkit metadata to bytes, and back only after
strict checks of the header, the offsets, the dtypes and shapes, and every checksum."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from typing import Any

import numpy as np  # host-side file I/O

from ..errors import InvalidTypeError, InvalidValueError, MissingDependencyError

FORMAT = "nnkit/1"
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit
# safetensors dtype codes nnkit writes and accepts
DTYPES = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}
_CODES = {dtype: code for code, dtype in DTYPES.items()}


class CorruptFileError(InvalidValueError):
    """A file that is not a valid nnkit safetensors file: truncated, altered or foreign."""


def require_safetensors() -> Any:
    """The safetensors package's NumPy interface.

    Returns
    -------
    module
        ``safetensors.numpy``.

    Raises
    ------
    MissingDependencyError
        safetensors is not installed; the message says how to install it.
    """
    try:
        import safetensors.numpy
    except ImportError as e:
        raise MissingDependencyError("save/load need safetensors: pip install 'nnkit[io]'") from e
    return safetensors.numpy


def to_bytes(meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> bytes:
    """A safetensors file holding ``tensors``, with ``meta`` plus the format tag and the
    dtype, shape and SHA-256 of every tensor as its checksummed "nnkit" metadata."""
    for name, array in tensors.items():
        if array.dtype not in _CODES:
            raise InvalidTypeError(
                f"tensor {name} has dtype {array.dtype}; nnkit saves {sorted(DTYPES)}"
            )
    table = {
        name: {"dtype": _CODES[a.dtype], "shape": list(a.shape), "sha256": _sha256(a.tobytes())}
        for name, a in tensors.items()
    }
    text = json.dumps({"format": FORMAT, **meta, "tensors": table}, allow_nan=False)
    return require_safetensors().save(
        tensors, metadata={"nnkit": text, "nnkit_sha256": _sha256(text.encode())}
    )


def read_verified(data: bytes, name: str = "file") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of an nnkit file's bytes, after every check.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        The file's name, for messages.

    Returns
    -------
    tuple
        ``(metadata, arrays)``: the "nnkit" metadata (a dict) and ``{tensor name: host
        numpy.ndarray}``.

    Raises
    ------
    CorruptFileError
        Any check fails (header, offsets, dtypes, shapes, checksums, a foreign file).
    MissingDependencyError
        safetensors is not installed.
    """
    header, start = _parse_header(data, name)
    meta = _nnkit_meta(header, name)
    described = meta.get("tensors")
    if not isinstance(described, dict):
        raise CorruptFileError(f"{name}: metadata has no 'tensors' table")
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if set(entries) != set(described):
        raise CorruptFileError(
            f"{name}: header tensors {sorted(entries)} differ from metadata {sorted(described)}"
        )
    for tensor, entry in entries.items():
        want = described[tensor]
        if not isinstance(want, dict) or [entry["dtype"], entry["shape"]] != [
            want.get("dtype"),
            want.get("shape"),
        ]:
            raise CorruptFileError(
                f"{name}: tensor {tensor} is {entry['dtype']} {entry['shape']} in the header "
                f"but {want} in the metadata"
            )
        begin, end = entry["data_offsets"]
        if _sha256(memoryview(data)[start + begin : start + end]) != want.get("sha256"):
            raise CorruptFileError(f"{name}: tensor {tensor} fails its SHA-256 checksum")
    try:
        arrays = require_safetensors().load(data)
    except Exception as e:  # safetensors' own SafetensorError on what we did not catch
        raise CorruptFileError(f"{name}: safetensors refused it ({e})") from None
    return meta, arrays


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_header(data: bytes, name: str) -> tuple[dict[str, Any], int]:
    """The header dict and the offset where tensor data starts, checked strictly."""
    if len(data) < 8:
        raise CorruptFileError(f"{name}: {len(data)} bytes is too short for a safetensors file")
    (size,) = struct.unpack("<Q", data[:8])
    if size < 2 or size > MAX_HEADER_BYTES or size > len(data) - 8:
        raise CorruptFileError(
            f"{name}: header length {size} does not fit a file of {len(data)} bytes "
            "(not a safetensors file, or truncated)"
        )
    try:
        text = data[8 : 8 + size].decode("utf-8")
        header = _strict_json(text)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise CorruptFileError(f"{name}: header is not UTF-8 JSON ({e})") from None
    if not text.startswith("{") or not isinstance(header, dict):
        raise CorruptFileError(f"{name}: header must be a JSON object")
    start, spans = 8 + size, []
    for tensor, entry in header.items():
        if tensor == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CorruptFileError(f"{name}: tensor {tensor} has a malformed entry {entry!r}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise CorruptFileError(
                f"{name}: tensor {tensor} has dtype {dtype!r}; expected one of {sorted(DTYPES)}"
            )
        if not _ints(shape) or not _ints(offsets) or len(offsets) != 2:
            raise CorruptFileError(f"{name}: tensor {tensor} has bad shape or offsets")
        begin, end = offsets
        if not 0 <= begin <= end or end - begin != math.prod(shape) * DTYPES[dtype].itemsize:
            raise CorruptFileError(
                f"{name}: tensor {tensor} offsets {offsets} do not hold {dtype} {shape}"
            )
        spans.append((begin, end, tensor))
    position = 0
    for begin, end, tensor in sorted(spans):
        if begin != position:
            raise CorruptFileError(
                f"{name}: tensor {tensor} starts at {begin}, expected {position} "
                "(overlapping or gapped offsets)"
            )
        position = end
    if start + position != len(data):
        raise CorruptFileError(
            f"{name}: tensor data ends at byte {start + position} but the file has "
            f"{len(data)} bytes (truncated, or trailing junk)"
        )
    return header, start


def _nnkit_meta(header: dict[str, Any], name: str) -> dict[str, Any]:
    """The "nnkit" metadata of a parsed header, after its checksum and format tag."""
    raw = header.get("__metadata__")
    if not isinstance(raw, dict) or not isinstance(raw.get("nnkit"), str):
        raise CorruptFileError(f"{name}: no nnkit metadata (not a file written by nnkit.save)")
    if _sha256(raw["nnkit"].encode()) != raw.get("nnkit_sha256"):
        raise CorruptFileError(f"{name}: nnkit metadata fails its SHA-256 checksum")
    try:
        meta = _strict_json(raw["nnkit"])
    except ValueError as e:
        raise CorruptFileError(f"{name}: nnkit metadata is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CorruptFileError(f"{name}: unknown format {found!r}; expected {FORMAT!r}")
    return meta


def _strict_json(text: str) -> Any:
    """``json.loads`` refusing duplicate keys and NaN/Infinity with ValueError."""
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def _no_constant(token: str) -> None:
    raise ValueError(f"{token} is not valid JSON")


def _ints(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    )
