"""NumPy's jit replays large runs of element-wise calls block of rows by block over threads
(backends/numpy/blocks.py): bitwise the plain calls, for optimizer updates, broadcasts, numbers
that change, donation, and calls that read another view of a run's memory (not blocked)."""

import threading

import numpy as np
import pytest

from nnkit import Sequential, Trainer, backends
from nnkit.layers import Dense, ReLU
from nnkit.losses import CrossEntropy
from nnkit.optim import SGD, Adam, AdamW, RMSProp
from nnkit.tree import tree_leaves

NUMPY = backends.get("numpy")
PLAIN = NUMPY.without_jit()
RNG = np.random.default_rng(0)


def same_bytes(a, b):
    pairs = [(np.asarray(x), np.asarray(y)) for x, y in zip(tree_leaves(a), tree_leaves(b))]
    return len(pairs) == len(tree_leaves(a)) == len(tree_leaves(b)) and all(
        x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in pairs
    )


@pytest.mark.parametrize("optimizer", [
    lambda: Adam(1e-3), lambda: AdamW(1e-3), lambda: RMSProp(1e-3),
    lambda: SGD(0.1, momentum=0.9, nesterov=True),
], ids=["adam", "adamw", "rmsprop", "nesterov"])  # fmt: skip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_wide_network_trains_bitwise_as_the_plain_calls(optimizer, dtype):
    """Weights of 1030 x 1024 (a million elements, rows no multiple of the blocks): the
    optimizer's update runs blocked over threads (from the third step on: the first two
    record); three epochs of three steps (a last partial minibatch) equal the plain calls
    bit for bit."""
    model = Sequential([Dense(16, 1030), ReLU(), Dense(1030, 1024), ReLU(), Dense(1024, 3)])
    X, y = RNG.normal(size=(40, 16)), RNG.integers(0, 3, 40)
    fast = Trainer(model, CrossEntropy(), optimizer(), backend=NUMPY, dtype=dtype)
    plain = Trainer(model, CrossEntropy(), optimizer(), backend=PLAIN, dtype=dtype)
    for t in (fast, plain):
        t.fit(X, y, epochs=3, batch_size=16, progress=False)
    assert same_bytes(fast.params, plain.params) and same_bytes(fast.opt_state, plain.opt_state)
    assert any(t.name.startswith("nnkit-blocks") for t in threading.enumerate())


def _check(fn, *args, donate=()):
    """``fn`` compiled, called three times on ``args`` scaled anew (other values each time,
    so that a block reading stale memory shows), equals the plain call bitwise."""
    fast = NUMPY.jit(fn, donate_argnums=donate)
    for scale in (1.0, 0.5, -2.0):
        given = [a * scale for a in args]
        want = fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in given])
        assert same_bytes(fast(*given), want)


def test_broadcasts_numbers_and_donation():
    W, g = RNG.normal(size=(1100, 1000)).astype(np.float32), RNG.normal(size=(1100, 1000))
    b, r = RNG.normal(size=(1000,)), RNG.normal(size=(1, 1000))

    def update(W, g, lr):
        v = 0.9 * g + lr * (W - b)  # b broadcast along the rows, lr a number of the call
        return W - lr * v / (np.sqrt(v * v) + 1e-8) * r, v

    _check(update, W, g.astype(np.float32), 0.01)
    _check(update, W, g.astype(np.float32), 0.01, donate=(0,))  # W written in place
    _check(lambda x: np.sqrt(x * x + 1.0) - x, RNG.normal(size=(3_000_001,)))  # one dimension


def test_other_views_of_a_runs_memory_are_not_split():
    """A call reading a transpose (or a shifted view) of what the run wrote, or writing what
    the run still reads whole, must see all of it: such calls end the run."""
    A = RNG.normal(size=(1024, 1024))

    def transpose(a):
        c = a * 2.0
        d = c + c.T
        return d * 3.0 - c

    def shifted(a):
        c = a + 1.0
        return c[1:] * c[:-1]

    def whole_then_written(a):
        c = a * 0.5
        d = a + c[0]  # row 0 of c, read whole by every block
        return d - c

    for fn in (transpose, shifted, whole_then_written):
        _check(fn, A)


def test_small_arrays_replay_as_before():
    """Below a million elements per run nothing is blocked: a small step stays exact too."""
    _check(lambda p, g, lr: p - lr * g, RNG.normal(size=(64, 128)), RNG.normal(size=(64, 128)), 0.1)
