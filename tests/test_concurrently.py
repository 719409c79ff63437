"""``Backend.concurrently``: independent jobs, one after another, or at once in a thread a core
where the backend declares ``workers`` > 1 (NumPy), the BLAS then one thread in each; and a
NumPy compiled function called from several threads at once computes each call's own values."""

import os
import threading
import time

import numpy as np
import pytest
from helpers import host

from nnkit import backends


def test_workers_declared_one_but_for_numpy(backend):
    if backend.name == "numpy":
        pytest.importorskip("threadpoolctl")
        assert backend.workers == len(os.sched_getaffinity(0))
    else:
        assert backend.workers == 1


def test_jobs_give_their_results_in_order_on_every_backend(backend):
    xp = backend.xp
    jobs = [lambda k=k: host(xp.sum(xp.ones((100, k + 1)))) for k in range(5)]
    with backend.concurrently() as run:
        assert [float(v) for v in run(jobs)] == [100.0 * (k + 1) for k in range(5)]
        assert run([]) == []


@pytest.fixture
def two_workers(monkeypatch):
    pytest.importorskip("threadpoolctl")
    numpy = backends.get("numpy")
    monkeypatch.setattr(type(numpy), "workers", 2)
    return numpy


def test_numpy_runs_jobs_at_once_in_threads_with_one_blas_thread_each(two_workers):
    from threadpoolctl import threadpool_info

    both = threading.Barrier(2, timeout=10)  # each job waits for the other: run at once or fail

    def job():
        both.wait()
        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        return threading.get_ident(), blas

    with two_workers.concurrently() as run:
        (a, blas_a), (b, blas_b) = run([job, job])
        lone = run([lambda: threading.get_ident()])
    assert a != b and threading.get_ident() not in (a, b)
    assert set(blas_a) | set(blas_b) <= {1}
    assert lone == [threading.get_ident()]  # a lone job runs here, with the BLAS as it is set


def test_a_jobs_error_is_raised_once_every_job_of_the_call_ended(two_workers):
    ended = []

    def fails():
        raise ValueError("job 0 failed")

    def slow():
        time.sleep(0.3)
        ended.append(True)

    with two_workers.concurrently() as run, pytest.raises(ValueError, match="job 0 failed"):
        run([fails, slow])
    assert ended == [True]


def test_numpy_compiled_function_called_from_threads_at_once(two_workers):
    """One compiled function (its buffers shared) called by two jobs at once: each gets the
    values of its own arguments, bitwise the plain call's."""

    def f(a, b):
        return np.tanh(a @ b) * 2.0 + a.sum(axis=1, keepdims=True)

    fast = two_workers.jit(f)
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(64, 64)), rng.normal(size=(64, 64))) for _ in range(2)]
    expected = [f(a, b) for a, b in pairs]

    def job(k):
        return [fast(*pairs[k]) for _ in range(200)]

    with two_workers.concurrently() as run:
        results = run([lambda: job(0), lambda: job(1)])
    for k, outs in enumerate(results):
        for out in outs:
            np.testing.assert_array_equal(out, expected[k])
