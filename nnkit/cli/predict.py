"""``nnkit predict``: a saved model's predictions on a data file (class names for a
classifier), to a .csv or .npy file or as CSV on stdout."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from .. import datafiles
from ..errors import InvalidValueError
from .docs import see
from .parsing import add_backend
from .predictions import check_path, predictions_csv, write_predictions
from .saved import spec_for, trainer_from_file


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """What to predict: the model file, the data file ``source``, where to write (None:
    stdout), ``raw`` scores instead of class names, the backend."""

    model: str
    source: str
    out: str | None
    raw: bool
    backend: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PredictConfig:
        """The predictions that the parsed ``args`` ask for; InvalidValueError without a
        data file or for an output that is not .csv or .npy."""
        source = args.file or args.input
        if source is None:
            raise InvalidValueError("give the data file: nnkit predict --model M FILE")
        if args.out:
            check_path(args.out)
        return cls(args.model, source, args.out, args.raw, args.backend)


def add_parser(sub: Any) -> None:
    """The ``predict`` command and its flags in the subparsers ``sub``."""
    predict = sub.add_parser(
        "predict",
        help="a saved model's predictions (class names for a classifier) on a file",
        epilog=see("predict"),
    )
    predict.add_argument("--model", required=True, metavar="PATH")
    predict.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=".csv (a header row; the model's feature columns are picked by name when all "
        "there, a target column is ignored), .npz (array X) or .npy (features)",
    )
    predict.add_argument("--input", help=argparse.SUPPRESS)  # the old spelling of FILE
    predict.add_argument(
        "--out",
        "--output",
        metavar="PATH",
        help="write the predictions to a .csv (a header row) or .npy (default: CSV on stdout)",
    )
    predict.add_argument(
        "--raw",
        action="store_true",
        help="a classifier's scores per class (its output layer) instead of class names",
    )
    add_backend(predict)
    predict.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the predictions that ``args`` ask for; 0."""
    config = PredictConfig.from_args(args)
    if config.out and not Path(config.out).resolve().parent.is_dir():
        raise FileNotFoundError(f"cannot write {config.out}: its folder does not exist")
    trainer, spec, _ = trainer_from_file(config.model, config.backend)
    table = datafiles.read(
        config.source, with_target=False, features=None if spec is None else spec.features
    )
    spec = spec_for(trainer, spec, table)
    outputs = trainer.backend.to_numpy(trainer.predict(spec.features_of(table)))
    name, width = spec.target or "y", outputs.shape[1]
    if spec.classes is not None and config.raw:  # a score per class (one: the second class's)
        values, header = outputs, [f"{name}={c}" for c in spec.classes[-width:]]
    else:
        values = spec.decode(outputs) if spec.classes is not None or width == 1 else outputs
        header = [name] if values.ndim == 1 else [f"{name}{j}" for j in range(width)]
    if config.out:
        write_predictions(config.out, values, header)
        print(f"wrote {values.shape[0]} predictions to {config.out}")
    else:
        sys.stdout.write(predictions_csv(values, header))
    return 0
