"""``nnkit evaluate``: a saved model's metrics (and confusion matrix) on a data file with
targets, or on the test split of the built-in dataset it was trained on."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .. import datafiles
from ..errors import InvalidValueError
from .data import load_dataset
from .defaults import DATASETS
from .docs import see
from .parsing import WEIGHTS_HELP, add_backend
from .report import report_test
from .saved import spec_for, trainer_from_file


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """What to evaluate: the model file; a data file (with ``target``/``targets`` as train
    reads them) or a built-in ``dataset`` (None: the one the model names); the backend; the
    seed of sine's test set."""

    model: str
    file: str | None
    target: str | None
    targets: str | None
    weights: str | None
    dataset: str | None
    backend: str | None
    seed: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EvaluateConfig:
        """The evaluation that the parsed ``args`` ask for; InvalidValueError for flags that
        do not go together."""
        if args.file is None and (args.target or args.targets or args.weights):
            raise InvalidValueError("--target, --targets and --weights go with a data file FILE")
        if args.file is not None and args.dataset is not None:
            raise InvalidValueError(f"give a data file or --dataset, not both ({args.file})")
        fields = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: getattr(args, name) for name in fields})


def add_parser(sub: Any) -> None:
    """The ``evaluate`` command and its flags in the subparsers ``sub``."""
    evaluate = sub.add_parser(
        "evaluate",
        help="metrics of a saved model on a data file or a dataset's test split",
        epilog=see("evaluate"),
    )
    evaluate.add_argument("--model", required=True, metavar="PATH")
    evaluate.add_argument(
        "file", nargs="?", metavar="FILE", help="a data file with targets, as train reads"
    )
    evaluate.add_argument(
        "--target", metavar="COLUMN", help="a CSV's target column (default: the model's)"
    )
    evaluate.add_argument("--targets", metavar="Y.npy", help="the targets of a .npy of features")
    evaluate.add_argument("--weights", metavar="COLUMN", help=WEIGHTS_HELP)
    evaluate.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default=None,
        help="default: the dataset the model was trained on",
    )
    add_backend(evaluate)
    evaluate.add_argument(
        "--seed", type=int, default=0, help="sine: test set from seed + 1 (default: %(default)s)"
    )
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the metrics that ``args`` ask for; 0."""
    config = EvaluateConfig.from_args(args)
    trainer, spec, extra = trainer_from_file(config.model, config.backend)
    if config.file:
        table = datafiles.read(
            config.file,
            target=config.target,
            targets=config.targets,
            features=None if spec is None else spec.features,
            default_target=None if spec is None else spec.target,
            weights=config.weights,
        )
        spec = spec_for(trainer, spec, table)
        Y = spec.encode(table, trainer.model.out_features or 1)
        X = spec.features_of(table)
        rows = (X, Y) if table.w is None else (X, Y, table.w)
        report_test(config.file, trainer, rows, spec.n_classes, spec.classes)
        return 0
    dataset = config.dataset or extra.get("dataset")
    if dataset not in DATASETS:
        raise InvalidValueError("give a data file or --dataset (the model names no built-in one)")
    data = load_dataset(dataset, config.seed, 0)
    X, Y = data.test
    if spec is not None:
        X = spec.transform(X)
    report_test(f"{dataset} test", trainer, (X, Y), data.classes)
    return 0
