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
    """Everything a file holds.

    Attributes
    ----------
    model : Sequential
        The architecture.
    params : list of dict
        Its parameters, on the backend asked for.
    optimizer : Optimizer or None
        The optimizer (None when not saved).
    opt_state : NamedTuple or None
        Its state (None when not saved).
    extra : dict
        The caller's JSON (a saved trainer's loss, seed, position ...).
    version : str
        The nnkit version that wrote the file.
    dtype : str
        The parameters' dtype name (a trainer's policy: "bfloat16" for mixed precision).
    """

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
    """Write ``model`` and ``params`` to ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file (a temporary file beside it is renamed into place).
    model : Sequential
        A model of nnkit's layers.
    params : list of dict
        Its parameters, arrays of any backend, one dtype.
    optimizer : Optimizer, optional
        Saved too, so that training can resume exactly (one of nnkit's, its learning rate
        a float or one of ``nnkit.optim.schedules``).
    opt_state : NamedTuple, optional
        The optimizer's state (needs ``optimizer``).
    extra : dict, optional
        Any JSON-serialisable dict, kept in the metadata.

    Raises
    ------
    InvalidValueError
        ``opt_state`` without ``optimizer``, or ``params`` that do not fit ``model``.
    InvalidTypeError
        A layer, optimizer or schedule that files cannot hold, or params of mixed dtypes.
    MissingDependencyError
        safetensors is not installed.
    OSError
        The file cannot be written (a previous one is then untouched).
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
    """The model and parameters of a file written by ``save``.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    backend : str, Backend or None
        Where the parameters go (None: the default backend).

    Returns
    -------
    tuple
        ``(model, params)``, the parameters bit-identical to what was saved.

    Raises
    ------
    CorruptFileError
        The file fails any of its checks; nothing is returned.
    OSError
        The file cannot be read.
    """
    ckpt = load_checkpoint(path, backend)
    return ckpt.model, ckpt.params


def load_checkpoint(
    path: str | os.PathLike, backend: str | backends.Backend | None = None
) -> Checkpoint:
    """Everything ``save`` wrote.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    backend : str, Backend or None
        Where the arrays go (None: the default backend).

    Returns
    -------
    Checkpoint
        The model, params, optimizer, opt_state, extra, version and dtype.

    Raises
    ------
    CorruptFileError
        The file fails any of its checks; nothing is returned.
    OSError
        The file cannot be read.
    """
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
