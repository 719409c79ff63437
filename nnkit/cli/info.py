"""``nnkit info``: the nnkit version, the installed packages it uses, and every backend:
available (its devices) or why not (and how to install it)."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import Any

from .. import backends
from .._version import __version__
from .docs import see

PACKAGES = ("numpy", "array-api-compat", "jax", "torch", "cupy-cuda12x", "cupy-cuda13x",
            "safetensors", "rich", "matplotlib", "scikit-learn")  # fmt: skip


def add_parser(sub: Any) -> None:
    """The ``info`` command in the subparsers ``sub``."""
    sub.add_parser(
        "info",
        help="nnkit version, packages, backends (available or why not) and devices",
        epilog=see("info"),
    ).set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the version, packages and backends; 0."""
    print(f"nnkit {__version__} (Python {sys.version.split()[0]})")
    print("packages:")
    for pkg in PACKAGES:
        try:
            print(f"  {pkg:<17} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    print("backends:")
    for name in backends.NAMES:
        try:
            be = backends.get(name)
        except backends.BackendUnavailable as e:
            print(f"  {name:<17} unavailable: {e.reason}; install: {e.install}")
        else:
            memory = be.memory_bytes()
            size = "" if memory is None else f", {memory / 2**30:.1f} GiB"
            print(f"  {name:<17} available, device {be.device_name()}{size}")
            print(f"  {'':<17} devices: {', '.join(be.device_names())}")
    print(see("info"))
    return 0
