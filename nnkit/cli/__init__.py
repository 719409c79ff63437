"""The ``nnkit`` command: one module per command (``info``, ``train``, ``sweep``,
``evaluate``, ``predict``, ``bench``), each with its own flags. ``main`` runs one, and prints
a user's error (bad input, a missing package, a file that cannot be read) as one line with
exit code 2; a bug in nnkit keeps its traceback. ``NNKIT_DEBUG=1`` shows the traceback of
every error."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from .._version import __version__
from ..backends import BackendUnavailable
from ..errors import NNKitError
from . import bench, evaluate, info, predict, sweep, train
from .parsing import OneLineParser

COMMANDS = (info, train, sweep, evaluate, predict, bench)
# what a user can cause: bad input, a missing package or backend, a file or folder
USER_ERRORS = (NNKitError, BackendUnavailable, OSError)
DEBUG_ENV = "NNKIT_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``nnkit``: every command's subparser, as its module adds it."""
    parser = OneLineParser(
        prog="nnkit",
        description="Neural networks with hand-written backprop on NumPy, CuPy, JAX or torch.",
    )
    parser.add_argument("--version", action="version", version=f"nnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def debugging() -> bool:
    """Whether ``NNKIT_DEBUG`` is set to a non-empty value other than "0"."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nnkit`` with ``argv`` (default: the process's arguments); the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # stdout's reader went away (nnkit ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except USER_ERRORS as e:
        if debugging():
            traceback.print_exc()
        print(f"nnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnkit: interrupted", file=sys.stderr)
        return 130
