"""Save and load models (and optionally optimizer and trainer state) as one safetensors file.

The file is a standard safetensors file: tensors named ``params/<layer>/<key>`` (and
``opt/...`` for optimizer state), plus one metadata entry ``"nnkit"`` holding JSON with the
format tag, the nnkit version, the architecture (layer types and configs), the dtype, the
optimizer config and state layout, and the dtype, shape and SHA-256 of every tensor; a
second entry ``"nnkit_sha256"`` is the SHA-256 of that JSON text.

Loading parses and checks the header itself (length, UTF-8 JSON, offsets that tile the data
exactly, dtypes and shapes that agree with the metadata, checksums) before handing verified
bytes to ``safetensors.numpy.load``; nothing is unpickled or executed. Any disagreement raises
CorruptFileError and nothing is returned. Writes go to a temporary file in the target's
folder, are fsynced, and replace the target with ``os.replace``: a crash leaves the old file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np  # host-side file I/O

from . import backends
from .errors import InvalidTypeError, InvalidValueError
from .layers import LAYERS
from .optim import OPTIMIZERS, AdamState, RMSPropState, SGDState
from .optim.schedules import SCHEDULES

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
_STATES = {cls.__name__: cls for cls in (SGDState, RMSPropState, AdamState)}


class CorruptFileError(InvalidValueError):
    """A file that is not a valid nnkit safetensors file: truncated, altered or foreign."""


@dataclasses.dataclass
class Checkpoint:
    """Everything a file holds; ``optimizer``/``opt_state`` are None when not saved."""

    model: Any
    params: list[dict[str, Any]]
    optimizer: Any
    opt_state: Any
    extra: dict[str, Any]
    version: str
    dtype: str


# -- saving ---------------------------------------------------------------------------------


def save(
    path: str | os.PathLike,
    model: Any,
    params: list[dict[str, Any]],
    *,
    optimizer: Any = None,
    opt_state: Any = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``model`` and ``params`` (any backend) to ``path`` atomically.

    With ``optimizer`` (and optionally its ``opt_state``) they are saved too, so training
    can resume exactly; ``extra`` is any JSON-serialisable dict kept in the metadata.
    """
    from . import __version__

    if opt_state is not None and optimizer is None:
        raise InvalidValueError("opt_state given without optimizer: pass optimizer= too")
    tensors: dict[str, np.ndarray] = {}
    _check_params(model, params)
    for i, layer_params in enumerate(params):
        for key, value in layer_params.items():
            tensors[f"params/{i}/{key}"] = _host(value)
    meta = {
        "format": FORMAT,
        "nnkit_version": __version__,
        "architecture": [{"type": type(x).__name__, "config": x.config()} for x in model.layers],
        "dtype": _params_dtype(tensors),
        "optimizer": None if optimizer is None else _optimizer_config(optimizer),
        "opt_state": None if opt_state is None else _encode(opt_state, "opt", tensors),
        "extra": extra or {},
    }
    for name, array in tensors.items():
        if array.dtype not in _CODES:
            raise InvalidTypeError(
                f"tensor {name} has dtype {array.dtype}; nnkit saves {sorted(DTYPES)}"
            )
    meta["tensors"] = {
        name: {"dtype": _CODES[a.dtype], "shape": list(a.shape), "sha256": _sha256(a.tobytes())}
        for name, a in tensors.items()
    }
    text = json.dumps(meta, allow_nan=False)
    data = require_safetensors().save(
        tensors, metadata={"nnkit": text, "nnkit_sha256": _sha256(text.encode())}
    )
    atomic_write(path, data)


def require_safetensors() -> Any:
    """``safetensors.numpy``, or ImportError saying how to install it."""
    try:
        import safetensors.numpy
    except ImportError as e:
        raise ImportError("save/load need safetensors: pip install 'nnkit[io]'") from e
    return safetensors.numpy


def _host(x: Any) -> np.ndarray:
    """A little-endian, C-contiguous NumPy copy of a backend array."""
    name = backends.name_of(x)
    host = np.asarray(x if name in (None, "numpy") else backends.get(name).to_numpy(x))
    return host.astype(host.dtype.newbyteorder("<"), order="C", copy=False)  # keeps 0-d


def _check_params(model: Any, params: Any) -> None:
    """params must have one dict per layer, with the keys and shapes the layer makes."""
    if not isinstance(params, (list, tuple)) or len(params) != len(model.layers):
        got = len(params) if isinstance(params, (list, tuple)) else type(params).__name__
        raise InvalidValueError(f"params must be a list of {len(model.layers)} dicts, got {got}")
    for i, (layer, p) in enumerate(zip(model.layers, params, strict=True)):
        want = {k: v.shape for k, v in layer.init(np.random.default_rng(0)).items()}
        got = {k: tuple(v.shape) for k, v in p.items()} if isinstance(p, dict) else p
        if got != want:
            raise InvalidValueError(f"params[{i}] must have shapes {want}, got {got}")


def _params_dtype(tensors: dict[str, np.ndarray]) -> str | None:
    dtypes = {a.dtype.name for a in tensors.values()}
    if len(dtypes) > 1:
        raise InvalidTypeError(f"params must share one dtype, got {sorted(dtypes)}")
    return dtypes.pop() if dtypes else None


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _optimizer_config(optimizer: Any) -> dict[str, Any]:
    names = {cls: name for name, cls in OPTIMIZERS.items()}
    if type(optimizer) not in names:
        raise InvalidTypeError(
            f"cannot save optimizer {type(optimizer).__name__}; nnkit saves {sorted(OPTIMIZERS)}"
        )
    config = dict(vars(optimizer))
    lr = config["lr"]
    if callable(lr):
        if type(lr) not in SCHEDULES.values() or SCHEDULES.get(type(lr).__name__) is not type(lr):
            raise InvalidTypeError(
                f"cannot save the learning-rate schedule {lr!r}: only nnkit.optim.schedules "
                f"({', '.join(SCHEDULES)}) are saved; a custom callable would need code on load"
            )
        config["lr"] = {"schedule": type(lr).__name__, **dataclasses.asdict(lr)}
    return {"type": names[type(optimizer)], "config": config}


def _encode(tree: Any, name: str, tensors: dict[str, np.ndarray]) -> Any:
    """JSON describing ``tree``; its arrays go into ``tensors`` under names from ``name``."""
    if tree is None:
        return None
    if isinstance(tree, bool) or not isinstance(tree, (int, float, dict, list, tuple)):
        if hasattr(tree, "shape"):
            host = _host(tree)
            if host.ndim == 0 and host.dtype.kind in "iu":  # a step count: kept as a Python
                return {"int": int(host)}  # int, as an un-jitted optimizer state has it
            tensors[name] = host
            return {"tensor": name}
        raise InvalidTypeError(f"cannot save {name} of type {type(tree).__name__}")
    if isinstance(tree, int):
        return {"int": tree}
    if isinstance(tree, float):
        return {"float": tree}
    if isinstance(tree, tuple) and type(tree).__name__ in _STATES:
        fields = {f: _encode(v, f"{name}/{f}", tensors) for f, v in tree._asdict().items()}
        return {"state": type(tree).__name__, "fields": fields}
    if isinstance(tree, dict):
        return {"dict": {k: _encode(v, f"{name}/{k}", tensors) for k, v in tree.items()}}
    return {"list": [_encode(v, f"{name}/{i}", tensors) for i, v in enumerate(tree)]}


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, os.replace.

    On any error the temporary file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_all(f: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view) :]


# -- loading --------------------------------------------------------------------------------


def load(path: str | os.PathLike, backend: str | backends.Backend | None = None):
    """``(model, params)`` from a file written by :func:`save`, with ``params`` on
    ``backend`` (default: the default backend), bit-identical to what was saved."""
    ckpt = load_checkpoint(path, backend)
    return ckpt.model, ckpt.params


def load_checkpoint(path: str | os.PathLike, backend: str | backends.Backend | None = None):
    """Everything :func:`save` wrote: a :class:`Checkpoint` (model, params, optimizer,
    opt_state, extra, version, dtype). Raises CorruptFileError on any inconsistency."""
    be = backends.get(backend)
    data = Path(path).read_bytes()
    meta, arrays = read_verified(data, str(path))
    try:
        model, params = _build_model(meta, arrays, be)
        optimizer = None if meta["optimizer"] is None else _build_optimizer(meta["optimizer"])
        state_names: set[str] = set()
        opt_state = _decode(meta["opt_state"], arrays, be, state_names)
        unused = set(arrays) - state_names - {n for n in arrays if n.startswith("params/")}
        if unused:
            raise CorruptFileError(f"tensors {sorted(unused)} are not used by the model")
        extra, version, dtype = meta["extra"], meta["nnkit_version"], meta["dtype"]
        if not isinstance(extra, dict) or not isinstance(version, str):
            raise CorruptFileError("metadata 'extra' must be an object, 'nnkit_version' a string")
    except CorruptFileError as e:
        raise CorruptFileError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise CorruptFileError(f"{path}: inconsistent nnkit metadata ({e!r})") from None
    return Checkpoint(model, params, optimizer, opt_state, extra, version, dtype)


def read_verified(data: bytes, name: str = "file") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(nnkit metadata, host arrays)`` from the bytes of a file, after every check."""
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
        header = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
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


def _nnkit_meta(header: dict[str, Any], name: str) -> dict[str, Any]:
    raw = header.get("__metadata__")
    if not isinstance(raw, dict) or not isinstance(raw.get("nnkit"), str):
        raise CorruptFileError(f"{name}: no nnkit metadata (not a file written by nnkit.save)")
    if _sha256(raw["nnkit"].encode()) != raw.get("nnkit_sha256"):
        raise CorruptFileError(f"{name}: nnkit metadata fails its SHA-256 checksum")
    try:
        meta = json.loads(
            raw["nnkit"], object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except ValueError as e:
        raise CorruptFileError(f"{name}: nnkit metadata is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CorruptFileError(f"{name}: unknown format {found!r}; expected {FORMAT!r}")
    return meta


def _build_model(meta: dict[str, Any], arrays: dict[str, np.ndarray], be: backends.Backend):
    from .model import Sequential

    layers = []
    for spec in meta["architecture"]:
        if spec["type"] not in LAYERS:
            raise CorruptFileError(f"unknown layer type {spec['type']!r}")
        layers.append(LAYERS[spec["type"]](**spec["config"]))
    model = Sequential(layers)
    stored = sum(a.size for a in arrays.values())
    params = []
    for i, layer in enumerate(layers):
        size = getattr(layer, "in_features", 1) * getattr(layer, "out_features", 1)
        if size > stored:  # check before init allocates what the config asks for
            raise CorruptFileError(f"layer {i} ({layer!r}) needs more values than the file has")
        want = layer.init(np.random.default_rng(0))
        p = {}
        for key, value in want.items():
            tensor = f"params/{i}/{key}"
            if tensor not in arrays or arrays[tensor].shape != value.shape:
                raise CorruptFileError(f"tensor {tensor} of shape {value.shape} is missing")
            if arrays[tensor].dtype.name != meta["dtype"]:
                raise CorruptFileError(f"tensor {tensor} is not {meta['dtype']}")
            p[key] = be.asarray(arrays[tensor], dtype=arrays[tensor].dtype.name)
        params.append(p)
    expected = {f"params/{i}/{k}" for i, p in enumerate(params) for k in p}
    extra = {n for n in arrays if n.startswith("params/")} - expected
    if extra:
        raise CorruptFileError(f"tensors {sorted(extra)} do not belong to the architecture")
    return model, params


def _build_optimizer(spec: dict[str, Any]) -> Any:
    config = dict(spec["config"])
    if isinstance(config.get("lr"), dict):
        lr = dict(config["lr"])
        schedule = lr.pop("schedule")
        if schedule not in SCHEDULES:
            raise CorruptFileError(f"unknown schedule {schedule!r}")
        config["lr"] = SCHEDULES[schedule](**lr)
    if spec["type"] not in OPTIMIZERS:
        raise CorruptFileError(f"unknown optimizer {spec['type']!r}")
    return OPTIMIZERS[spec["type"]](**config)


def _decode(spec: Any, arrays: dict[str, np.ndarray], be: backends.Backend, used: set) -> Any:
    """The inverse of :func:`_encode`, with tensors moved to ``be``."""
    if spec is None:
        return None
    (kind,) = set(spec) - {"fields"} if "state" in spec else set(spec)
    value = spec[kind]
    if kind == "tensor":
        if value not in arrays or value in used:
            raise CorruptFileError(f"optimizer state tensor {value!r} missing or reused")
        used.add(value)
        return be.asarray(arrays[value], dtype=arrays[value].dtype.name)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, float):
        return value
    if kind == "state" and value in _STATES:
        cls = _STATES[value]
        fields = spec["fields"]
        if list(fields) != list(cls._fields):
            raise CorruptFileError(f"{value} must have fields {cls._fields}")
        return cls(*(_decode(fields[f], arrays, be, used) for f in cls._fields))
    if kind == "dict" and isinstance(value, dict):
        return {k: _decode(v, arrays, be, used) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_decode(v, arrays, be, used) for v in value]
    raise CorruptFileError(f"malformed optimizer state entry {spec!r}")


# -- trainers -------------------------------------------------------------------------------


def save_trainer(
    path: str | os.PathLike, trainer: Any, extra: dict[str, Any] | None = None
) -> None:
    """Save a Trainer whole: model, params, optimizer and its state, loss, strategy, seed,
    dtype, steps done and the data position, so that ``load_trainer(path).fit(...)``
    continues exactly where this trainer is. ``extra``: more JSON metadata."""
    from .losses import LOSSES

    names = {cls: name for name, cls in LOSSES.items()}
    if type(trainer.loss) not in names:
        raise InvalidTypeError(
            f"cannot save loss {type(trainer.loss).__name__}; nnkit saves {sorted(LOSSES)}"
        )
    state = {
        "loss": {"type": names[type(trainer.loss)], "config": trainer.loss.config()},
        "strategy": trainer.strategy,
        "seed": trainer.seed,
        "dtype": trainer.dtype,
        "steps_done": trainer.steps_done,
        "position": list(trainer._position),
    }
    save(
        path,
        trainer.model,
        trainer.params,
        optimizer=trainer.optimizer,
        opt_state=trainer.opt_state,
        extra={**(extra or {}), "trainer": state},
    )


def load_trainer(path: str | os.PathLike, backend: str | backends.Backend | None = None):
    """The Trainer saved by :func:`save_trainer`, on ``backend``."""
    return trainer_from_checkpoint(load_checkpoint(path, backend), path, backend)


def trainer_from_checkpoint(ckpt: Checkpoint, path: Any, backend: Any = None):
    """The Trainer a loaded :class:`Checkpoint` describes (``path`` names it in errors)."""
    from .losses import LOSSES
    from .trainer import Trainer

    try:
        state = ckpt.extra["trainer"]
        loss = LOSSES[state["loss"]["type"]](**state["loss"]["config"])
        trainer = Trainer(
            ckpt.model,
            loss,
            ckpt.optimizer,
            backend=backend,
            strategy=state["strategy"],
            seed=state["seed"],
            dtype=state["dtype"],
        )
        epoch, offset = state["position"]
        steps_done = state["steps_done"]
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptFileError(f"{path}: no complete trainer state ({e!r})") from None
    if ckpt.opt_state is None:
        raise CorruptFileError(f"{path}: the trainer's optimizer state is missing")
    trainer.params, trainer.opt_state = ckpt.params, ckpt.opt_state
    trainer.steps_done, trainer._position = int(steps_done), (int(epoch), int(offset))
    return trainer
