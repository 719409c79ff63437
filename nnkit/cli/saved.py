"""A saved model for ``nnkit evaluate`` and ``nnkit predict``: the Trainer that holds it and
the DataSpec by which it reads data."""

from __future__ import annotations

from typing import Any

from ..datafiles import Table
from ..dataspec import DataSpec
from ..io import load_checkpoint
from ..losses import MSE
from ..optim import SGD
from ..training import Trainer
from ..training.checkpoint import from_checkpoint
from .data import builtin_spec
from .defaults import DATASETS


def trainer_from_file(
    path: str, backend: str | None
) -> tuple[Trainer, DataSpec | None, dict[str, Any]]:
    """A Trainer holding the saved model (the whole saved trainer when the file has one,
    else the model and parameters with an MSE loss); the model's DataSpec: saved with it,
    else that of the built-in dataset it names, else None; and the file's extra metadata."""
    ckpt = load_checkpoint(path, backend)
    if "trainer" in ckpt.extra:
        trainer = from_checkpoint(Trainer, ckpt, path, backend)
    else:
        trainer = Trainer(ckpt.model, MSE(), SGD(0.1), backend=backend, dtype=ckpt.dtype)
        trainer.restore(trainer.state.replace(params=ckpt.params))
    extra, spec = ckpt.extra, None
    if "data" in extra:
        spec = DataSpec.from_json(extra["data"], path)
    elif extra.get("dataset") in DATASETS:
        spec = builtin_spec(extra["dataset"], ckpt.model.in_features)
    return trainer, spec, extra


def spec_for(trainer: Trainer, spec: DataSpec | None, table: Table) -> DataSpec:
    """``spec``, or for a model saved without one: its outputs as they are (integer labels
    in ``table`` are output indices, as Trainer.evaluate takes them)."""
    if spec is not None:
        return spec
    width = trainer.model.out_features or 1
    features = [f"x{j}" for j in range(trainer.model.in_features or table.X.shape[1])]
    if table.y is not None and table.y.dtype.kind in "iU":
        classes = [str(c) for c in range(max(width, 2))]
        return DataSpec("classification", features, table.target, classes, "int")
    return DataSpec("regression", features, table.target, outputs=width)
