"""save, load and load_checkpoint: a model, its params and optionally an optimizer and its
state, to and from one nnkit safetensors file."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .. import backends
from .._version import __version__
from ..errors import InvalidValueError
from .atomic import atomic_write
from .encoding import (
    decode_model,
    decode_optimizer,
    decode_state,
    encode_model,
    encode_optimizer,
    encode_state,
)
from .safetensors_file import CorruptFileError, read_verified, to_bytes


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
    if opt_state is not None and optimizer is None:
        raise InvalidValueError("opt_state given without optimizer: pass optimizer= too")
    tensors: dict[str, Any] = {}
    meta = {
        "nnkit_version": __version__,
        **encode_model(model, params, tensors),
        "optimizer": None if optimizer is None else encode_optimizer(optimizer),
        "opt_state": encode_state(opt_state, "opt", tensors),
        "extra": extra or {},
    }
    atomic_write(path, to_bytes(meta, tensors))


def load(
    path: str | os.PathLike, backend: str | backends.Backend | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """``(model, params)`` from a file written by :func:`save`, with ``params`` on
    ``backend`` (default: the default backend), bit-identical to what was saved."""
    ckpt = load_checkpoint(path, backend)
    return ckpt.model, ckpt.params


def load_checkpoint(
    path: str | os.PathLike, backend: str | backends.Backend | None = None
) -> Checkpoint:
    """Everything :func:`save` wrote: a :class:`Checkpoint` (model, params, optimizer,
    opt_state, extra, version, dtype). Raises CorruptFileError on any inconsistency."""
    be = backends.get(backend)
    meta, arrays = read_verified(Path(path).read_bytes(), str(path))
    try:
        model, params = decode_model(meta, arrays, be)
        optimizer = None if meta["optimizer"] is None else decode_optimizer(meta["optimizer"])
        state_names: set[str] = set()
        opt_state = decode_state(meta["opt_state"], arrays, be, state_names)
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
