"""``nnkit bench``: its arguments go, unread, to ``nnkit.bench.command``, which is imported
only when this command runs (``nnkit info`` and ``nnkit train`` never load it)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    """The ``bench`` command in the subparsers ``sub``: every argument after it, --help
    included, lands in ``args.rest`` (no option prefix here, so argparse reads none)."""
    parser = sub.add_parser(
        "bench",
        add_help=False,
        prefix_chars="\0",
        help="time per-sample vs batched training on each backend, beside peer libraries "
        "(nnkit bench --help)",
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``nnkit.bench`` on the arguments after "bench"; its exit code."""
    from ..bench.command import main as bench_main

    return bench_main(list(args.rest))
