"""Training over several processes (hosts): JAX's distributed runtime underneath.

Each process calls ``initialize`` first, then builds the same
``Trainer(..., backend="jax", devices="all")`` and calls ``fit`` with the same full X and
Y: the mesh spans the devices of every process, each minibatch is split over all of them,
and the parameters come out identical everywhere. ``save``, ``Checkpoint`` and plots write
from process 0 only.
"""

from __future__ import annotations

from .backends import processes


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: int = 120,
) -> None:
    """Join this process to a run of several processes (``jax.distributed.initialize``).

    Must come before JAX computes anything. On CPU devices the processes talk through gloo.
    Afterwards ``Trainer(..., backend="jax", devices="all")`` spans the devices of every
    process. A process missing at the start for ``timeout_s`` seconds, or one that dies
    later, makes the others fail with an error within a bounded time.

    Parameters
    ----------
    coordinator_address : str, optional
        "host:port" of process 0.
    num_processes : int, optional
        The number of processes in the run.
    process_id : int, optional
        This process's number, 0 to ``num_processes - 1``. All three are detected from
        Slurm, Open MPI or TPU environments when left out.
    timeout_s : int
        How long to wait for every process to join.

    Raises
    ------
    BackendUnavailable
        JAX is not installed.
    RuntimeError
        JAX's: the run cannot be joined (a timeout, a process missing).
    """
    processes.initialize(coordinator_address, num_processes, process_id, timeout_s)


def process_index() -> int:
    """This process's number in the run.

    Returns
    -------
    int
        0 to ``process_count() - 1``; 0 outside a run.
    """
    return processes.index()


def process_count() -> int:
    """The number of processes in the run.

    Returns
    -------
    int
        1 outside a run.
    """
    return processes.count()


def shutdown() -> None:
    """Leave the run (before exiting, once training is done)."""
    processes.shutdown()
