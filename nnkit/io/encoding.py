"""nnkit objects to and from JSON plus named host tensors: the model (architecture and
params), the optimizer config, and the optimizer state tree.

Encoders fill a ``tensors`` dict (name -> little-endian, C-contiguous NumPy array) and return
JSON; decoders take the verified metadata and arrays of a file, move tensors to a backend and
raise CorruptFileError on anything that does not fit. Nothing is looked up by import path:
layers, optimizers, schedules and states come from nnkit's own tables."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np  # host-side file I/O

from .. import backends
from ..errors import InvalidTypeError, InvalidValueError
from ..layers import LAYERS
from ..model import Sequential
from ..optim import OPTIMIZERS, AdamState, RMSPropState, SGDState
from ..optim.schedules import SCHEDULES
from .safetensors_file import CorruptFileError

_STATES = {cls.__name__: cls for cls in (SGDState, RMSPropState, AdamState)}


# -- model ----------------------------------------------------------------------------------


def encode_model(model: Any, params: Any, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """``{"architecture", "dtype"}`` of ``model``; ``params`` go into ``tensors`` as
    ``params/<layer>/<key>``."""
    _check_params(model, params)
    host = {f"params/{i}/{k}": _host(v) for i, p in enumerate(params) for k, v in p.items()}
    dtypes = {a.dtype.name for a in host.values()}
    if len(dtypes) > 1:
        raise InvalidTypeError(f"params must share one dtype, got {sorted(dtypes)}")
    tensors.update(host)
    return {
        "architecture": [{"type": type(x).__name__, "config": x.config()} for x in model.layers],
        "dtype": dtypes.pop() if dtypes else None,
    }


def decode_model(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], be: backends.Backend
) -> tuple[Sequential, list[dict[str, Any]]]:
    """The model and its params on ``be`` from a file's metadata and arrays."""
    layers = []
    for spec in meta["architecture"]:
        if spec["type"] not in LAYERS:
            raise CorruptFileError(f"unknown layer type {spec['type']!r}")
        layers.append(LAYERS[spec["type"]](**spec["config"]))
    stored = sum(a.size for a in arrays.values())
    params = []
    for i, layer in enumerate(layers):
        shapes = layer.param_shapes()
        if sum(math.prod(shape) for shape in shapes.values()) > stored:
            raise CorruptFileError(f"layer {i} ({layer!r}) needs more values than the file has")
        p = {}
        for key, shape in shapes.items():
            tensor = f"params/{i}/{key}"
            if tensor not in arrays or arrays[tensor].shape != shape:
                raise CorruptFileError(f"tensor {tensor} of shape {shape} is missing")
            if arrays[tensor].dtype.name != meta["dtype"]:
                raise CorruptFileError(f"tensor {tensor} is not {meta['dtype']}")
            p[key] = _to_backend(be, arrays[tensor])
        params.append(p)
    expected = {f"params/{i}/{k}" for i, p in enumerate(params) for k in p}
    extra = {n for n in arrays if n.startswith("params/")} - expected
    if extra:
        raise CorruptFileError(f"tensors {sorted(extra)} do not belong to the architecture")
    return Sequential(layers), params


def _check_params(model: Any, params: Any) -> None:
    """params must have one dict per layer, with the keys and shapes the layer makes."""
    if not isinstance(params, (list, tuple)) or len(params) != len(model.layers):
        got = len(params) if isinstance(params, (list, tuple)) else type(params).__name__
        raise InvalidValueError(f"params must be a list of {len(model.layers)} dicts, got {got}")
    for i, (layer, p) in enumerate(zip(model.layers, params, strict=True)):
        want = layer.param_shapes()
        got = {k: tuple(v.shape) for k, v in p.items()} if isinstance(p, dict) else p
        if got != want:
            raise InvalidValueError(f"params[{i}] must have shapes {want}, got {got}")


# -- optimizer ------------------------------------------------------------------------------


def encode_optimizer(optimizer: Any) -> dict[str, Any]:
    """``{"type", "config"}`` of one of nnkit's optimizers; a learning-rate schedule must be
    one of ``nnkit.optim.schedules``."""
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


def decode_optimizer(spec: dict[str, Any]) -> Any:
    """The inverse of :func:`encode_optimizer`."""
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


# -- optimizer state ------------------------------------------------------------------------


def encode_state(tree: Any, name: str, tensors: dict[str, np.ndarray]) -> Any:
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
        fields = {f: encode_state(v, f"{name}/{f}", tensors) for f, v in tree._asdict().items()}
        return {"state": type(tree).__name__, "fields": fields}
    if isinstance(tree, dict):
        return {"dict": {k: encode_state(v, f"{name}/{k}", tensors) for k, v in tree.items()}}
    return {"list": [encode_state(v, f"{name}/{i}", tensors) for i, v in enumerate(tree)]}


def decode_state(
    spec: Any, arrays: dict[str, np.ndarray], be: backends.Backend, used: set[str]
) -> Any:
    """The inverse of :func:`encode_state`, with tensors moved to ``be``; the names of the
    tensors it takes are added to ``used``."""
    if spec is None:
        return None
    (kind,) = set(spec) - {"fields"} if "state" in spec else set(spec)
    value = spec[kind]
    if kind == "tensor":
        if value not in arrays or value in used:
            raise CorruptFileError(f"optimizer state tensor {value!r} missing or reused")
        used.add(value)
        return _to_backend(be, arrays[value])
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, float):
        return value
    if kind == "state" and value in _STATES:
        cls = _STATES[value]
        fields = spec["fields"]
        if list(fields) != list(cls._fields):
            raise CorruptFileError(f"{value} must have fields {cls._fields}")
        return cls(*(decode_state(fields[f], arrays, be, used) for f in cls._fields))
    if kind == "dict" and isinstance(value, dict):
        return {k: decode_state(v, arrays, be, used) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [decode_state(v, arrays, be, used) for v in value]
    raise CorruptFileError(f"malformed optimizer state entry {spec!r}")


# -- arrays ---------------------------------------------------------------------------------


def _host(x: Any) -> np.ndarray:
    """A little-endian, C-contiguous NumPy copy of a backend array."""
    host = backends.to_host(x)
    return host.astype(host.dtype.newbyteorder("<"), order="C", copy=False)  # keeps 0-d


def _to_backend(be: backends.Backend, array: np.ndarray) -> Any:
    return be.asarray(array, dtype=array.dtype.name)
