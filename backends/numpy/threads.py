"""Independent jobs on every core. NumPy releases the GIL inside its ufunc loops and BLAS
calls, so jobs made of large array operations (stacks of models trained apart) run at once
in threads. While several run, the BLAS runs one thread in each (threadpoolctl), so that the
jobs' threads and the BLAS's do not compete for the cores (threadpoolctl's limit holds for
the whole process while they run); a lone job keeps the BLAS's own threads."""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def cores() -> int:
    """The cores this process may run on; 1 without threadpoolctl (installed with
    scikit-learn), which alone can keep the BLAS's threads off the cores the jobs use."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def concurrently(workers: int) -> Iterator[Callable[[Sequence[Callable[[], Any]]], list[Any]]]:
    """``Backend.concurrently`` with up to ``workers`` threads."""
    if workers == 1:
        yield lambda jobs: [job() for job in jobs]
        return
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController()

    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="nnkit") as pool:

        def run(jobs: Sequence[Callable[[], Any]]) -> list[Any]:
            if len(jobs) == 1:
                return [jobs[0]()]
            with blas.limit(limits=1, user_api="blas"):
                futures = [pool.submit(job) for job in jobs]
                concurrent.futures.wait(futures)
            return [f.result() for f in futures]

        yield run
