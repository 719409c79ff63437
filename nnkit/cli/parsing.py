"""The command line's parser class, a flag that several commands share, and the types of
arguments: each turns a flag's text into its value or raises argparse's ArgumentTypeError
(one line, exit code 2)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .. import datafiles
from .defaults import DATASETS

WEIGHTS_HELP = (
    "per-sample weights: a CSV column (not a feature then), an array of the .npz (e.g. w), "
    "or a .npy file beside a .npy of features; finite, >= 0, not all 0. Training minimises "
    "the weighted mean loss; the metrics printed are weighted means"
)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (and exit code 2), no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_backend(parser: argparse.ArgumentParser) -> None:
    """The --backend flag of the commands that compute."""
    parser.add_argument(
        "--backend",
        default=None,
        help="numpy, jax, cupy, ... (default: $NNKIT_BACKEND, else numpy)",
    )


def dataset_name(text: str) -> str:
    """A built-in dataset's name, or a path ending in .csv, .npz or .npy."""
    if text in DATASETS or datafiles.is_data_file(text):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(sorted(DATASETS))}, "
        "or a .csv, .npz or .npy file)"
    )


def layer_widths(text: str) -> tuple[int, ...]:
    """--layers: hidden widths like 128,64, each >= 1."""
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--layers wants widths like 128,64; got {text!r}")
    return widths


def device_count(text: str) -> int | str:
    """--devices: "all" or a positive int."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int or 'all', got {text!r}")
    return value


def number_list(text: str) -> tuple[float, ...]:
    """A comma list of numbers: 0.5,0.1,1e-3."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,0.1,1e-3; got {text!r}")
    return values


def seed_list(text: str) -> tuple[int, ...]:
    """--seeds: a count N (seeds 0..N-1), or a comma list of seeds (3,7 or 7,)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if "," not in text and len(values) == 1 and values[0] >= 1:
        return tuple(range(values[0]))
    if "," not in text or not values or min(values) < 0:
        raise argparse.ArgumentTypeError(
            f"expected a count N >= 1 (seeds 0..N-1) or a comma list of seeds >= 0 like 3,7; "
            f"got {text!r}"
        )
    return tuple(values)
