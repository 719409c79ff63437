"""Runs of several processes (hosts) on JAX's distributed runtime: joining one, and which
process this is. Only JAX trains over processes; with no such run, this is process 0 of 1.

``initialize`` must come before JAX computes anything (JAX's rule); it never imports JAX
before it is called, and the questions (``index``, ``count``) import nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from .base import require

INSTALL = "pip install 'nnkit[jax]'"
HEARTBEAT_S = 10  # a process silent this long is dead: the others stop with an error


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = 120,
) -> None:
    """Join a multi-process JAX run (``jax.distributed.initialize``; arguments left out are
    detected from Slurm, Open MPI or a TPU environment). CPU devices talk through gloo. A
    process that has not joined within ``timeout_s`` seconds, or that goes silent for
    HEARTBEAT_S seconds later, stops the others with an error instead of a hang."""
    jax = require("jax", "jax", INSTALL)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        initialization_timeout=timeout_s,
        heartbeat_timeout_seconds=HEARTBEAT_S,
    )


def shutdown() -> None:
    """Leave the run (``jax.distributed.shutdown``); nothing where none was joined."""
    jax = _jax()
    if jax is not None:
        jax.distributed.shutdown()


def index() -> int:
    """This process's number in the run, 0 to ``count() - 1``; 0 where JAX is not in use."""
    jax = _jax()
    return 0 if jax is None else int(jax.process_index())


def count() -> int:
    """The number of processes in the run; 1 where JAX is not in use."""
    jax = _jax()
    return 1 if jax is None else int(jax.process_count())


def _jax() -> Any:
    """JAX where this process imported it (only then can it be in a run), else None."""
    return sys.modules.get("jax")
