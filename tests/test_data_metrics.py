"""Data helpers (split, minibatches) and the printed confusion matrix."""

import numpy as np
import pytest

from nnkit.data import epoch_order, minibatches, train_val_split
from nnkit.errors import InvalidValueError
from nnkit.metrics import accuracy, confusion_matrix, format_confusion_matrix


def _rows(n):
    X = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    return X, np.arange(n)


def test_split_is_a_partition_of_the_rows():
    X, Y = _rows(50)
    Xt, Yt, Xv, Yv = train_val_split(X, Y, val_fraction=0.2, seed=3)
    assert (len(Yt), len(Yv)) == (40, 10)
    assert sorted(np.concatenate([Yt, Yv]).tolist()) == list(range(50))
    np.testing.assert_array_equal(Xt[:, 0], 2 * Yt)  # rows stay paired with their targets
    np.testing.assert_array_equal(Xv[:, 0], 2 * Yv)


def test_split_depends_on_the_seed_only():
    X, Y = _rows(50)
    a = train_val_split(X, Y, 0.2, seed=1)[3]
    b = train_val_split(X, Y, 0.2, seed=1)[3]
    c = train_val_split(X, Y, 0.2, seed=2)[3]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(train_val_split(X, Y, 0.2, shuffle=False)[3], Y[40:])


def test_split_on_backend_arrays_stays_there(backend):
    X, Y = _rows(20)
    Xt, Yt, Xv, Yv = train_val_split(backend.asarray(X), backend.asarray(Y), 0.25, seed=0)
    host = train_val_split(X, Y, 0.25, seed=0)
    for got, want in zip((Xt, Yt, Xv, Yv), host, strict=True):
        np.testing.assert_array_equal(backend.to_numpy(got), want)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.999])
def test_split_rejects_fractions_that_leave_a_side_empty(fraction):
    X, Y = _rows(10)
    with pytest.raises(InvalidValueError, match="val_fraction"):
        train_val_split(X, Y, fraction)


def test_minibatches_cover_an_epoch_in_the_seeded_order():
    X, Y = _rows(10)
    batches = list(minibatches(X, Y, 4, seed=5, epoch=2))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    seen = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(seen, epoch_order(5, 2, 10))
    assert sorted(seen.tolist()) == list(range(10))
    again = np.concatenate([y for _, y in minibatches(X, Y, 4, seed=5, epoch=2)])
    other = np.concatenate([y for _, y in minibatches(X, Y, 4, seed=5, epoch=3)])
    np.testing.assert_array_equal(seen, again)
    assert not np.array_equal(seen, other)
    in_order = np.concatenate([y for _, y in minibatches(X, Y, 3, shuffle=False)])
    np.testing.assert_array_equal(in_order, Y)


def test_minibatches_reject_bad_batch_size():
    X, Y = _rows(4)
    with pytest.raises(InvalidValueError, match="batch_size"):
        next(minibatches(X, Y, 0))


def test_accuracy_takes_labels_or_one_hot():
    pred = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    assert accuracy(pred, labels) == pytest.approx(0.75)
    assert accuracy(pred, np.eye(2)[labels]) == pytest.approx(0.75)


def test_confusion_matrix_and_its_printed_form():
    pred, true = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    counts = confusion_matrix(pred, true)
    # rows are true classes: class 2 was predicted once as 1 and once as 2
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    text = format_confusion_matrix(counts, labels=["a", "b", "c"]).splitlines()
    assert text[0].split() == ["true\\pred", "a", "b", "c", "recall"]
    assert text[3].split() == ["c", "0", "1", "1", "0.500"]
    assert text[-1] == "accuracy 0.7500 (3/4)"
