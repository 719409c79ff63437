"""What one ``nnkit train`` run does: its flags with the dataset's defaults filled in, made
once from the parsed arguments and only read afterwards."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path

from ..checks import check_positive_int
from ..errors import InvalidValueError
from .defaults import DATASETS, FILE, TASK_LOSS, TEST_FRACTION

FILE_ONLY = ("target", "targets", "weights", "task", "test_fraction")  # flags for data files alone


def compiled_cache_dir() -> str:
    """Where ``nnkit train`` keeps compiled programs across runs (JAX: a run with the same
    shapes loads its whole-fit program instead of compiling it, about 2 s on a 2-core CPU):
    ``$NNKIT_CACHE_DIR`` (empty: keep none), else ``$XDG_CACHE_HOME/nnkit/compiled`` or
    ``~/.cache/nnkit/compiled``."""
    given = os.environ.get("NNKIT_CACHE_DIR")
    if given is not None:
        return given
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(home) / "nnkit" / "compiled")


def _fraction(flag: str, value: float) -> float:
    if not 0 <= value < 1:
        raise InvalidValueError(f"{flag} must be in [0, 1), got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run: the fields are ``nnkit train``'s flags (see its help), with these
    meanings where a flag was left out. ``target``, ``targets``, ``weights``, ``task``: None
    (a data file's flags). ``test_fraction``: 0 for a built-in dataset. ``cache_dir``: where
    compiled programs are kept ("": none). ``loss``: None where the data file's task picks it
    (``loss_for``). The run stops after ``steps`` or ``epochs``, whichever comes first
    (``total_steps``); None sets no limit."""

    dataset: str
    target: str | None
    targets: str | None
    weights: str | None
    task: str | None
    standardize: bool
    test_fraction: float
    val_fraction: float
    seed: int
    backend: str | None
    devices: int | str | None
    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    distributed: bool
    cache_dir: str
    layers: tuple[int, ...]
    activation: str
    loss: str | None
    optimizer: str
    lr: float
    schedule: str
    steps: int | None
    epochs: int | None
    batch_size: int
    strategy: str
    dtype: str
    progress: bool
    save: str | None
    plot: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """The run that ``nnkit train``'s parsed ``args`` ask for, with the defaults of the
        dataset they name (defaults.DATASETS, or defaults.FILE for a data file). Raises
        InvalidValueError for a value out of range or a data-file flag with a built-in
        dataset."""
        builtin = args.dataset in DATASETS
        d = DATASETS.get(args.dataset, FILE)
        if builtin:
            given = [f"--{f.replace('_', '-')}" for f in FILE_ONLY if getattr(args, f) is not None]
            if given:
                raise InvalidValueError(f"{', '.join(given)}: for a data file, not {args.dataset}")
        for flag in ("steps", "epochs", "batch_size"):
            if getattr(args, flag) is not None:
                check_positive_int("--" + flag.replace("_", "-"), getattr(args, flag))
        test_fraction = TEST_FRACTION if args.test_fraction is None else args.test_fraction
        optimizer = args.optimizer or d.optimizer
        if args.steps is None and args.epochs is None:
            steps, epochs = d.steps, d.epochs
        else:
            steps, epochs = args.steps, args.epochs
        return cls(
            dataset=args.dataset,
            target=args.target,
            targets=args.targets,
            weights=args.weights,
            task=args.task,
            standardize=d.standardize if args.standardize is None else args.standardize,
            test_fraction=0.0 if builtin else _fraction("--test-fraction", test_fraction),
            val_fraction=_fraction("--val-fraction", args.val_fraction),
            seed=args.seed,
            backend=args.backend,
            devices=args.devices,
            coordinator=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
            distributed=args.distributed,
            cache_dir=compiled_cache_dir(),
            layers=args.layers or d.layers,
            activation=args.activation or d.activation,
            loss=args.loss or d.loss,
            optimizer=optimizer,
            lr=d.lr_for(optimizer) if args.lr is None else args.lr,
            schedule=args.schedule,
            steps=steps,
            epochs=epochs,
            batch_size=args.batch_size or d.batch_size,
            strategy=args.strategy,
            dtype=args.dtype,
            progress=args.progress is not False,
            save=args.save,
            plot=args.plot,
        )

    @property
    def builtin(self) -> bool:
        """Whether ``dataset`` is a built-in dataset (else a data file)."""
        return self.dataset in DATASETS

    @property
    def joins_processes(self) -> bool:
        """Whether the run spans several processes (--distributed or --coordinator ...)."""
        given = (self.coordinator, self.num_processes, self.process_id)
        return self.distributed or any(v is not None for v in given)

    def loss_for(self, classes: int | None) -> str:
        """The loss: ``loss``, else the one TASK_LOSS gives a task of ``classes`` classes
        (None: a regression)."""
        return self.loss or TASK_LOSS["regression" if classes is None else "classification"]

    def total_steps(self, rows: int) -> int:
        """The steps of the run on ``rows`` training rows: ``steps``, or ``epochs`` passes
        of ``batch_size`` minibatches, whichever is fewer."""
        limits = [] if self.steps is None else [self.steps]
        if self.epochs is not None:
            limits.append(self.epochs * math.ceil(rows / self.batch_size))
        return min(limits)
