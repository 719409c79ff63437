"""nnkit.model.mlp: the MLP recipe of the command, the estimators and the bench."""

import numpy as np
import pytest

from nnkit.errors import InvalidValueError
from nnkit.layers import Dense, Identity, ReLU, Sigmoid, Tanh
from nnkit.model import Sequential, mlp


def _kinds(model):
    return [(type(layer).__name__, getattr(layer, "in_features", None),
             getattr(layer, "out_features", None)) for layer in model.layers]  # fmt: skip


def test_dense_layers_with_the_activation_between_and_the_output_after():
    model = mlp([4, 8, 6, 3], "tanh", "sigmoid")
    assert _kinds(model) == [("Dense", 4, 8), ("Tanh", None, None), ("Dense", 8, 6),
                             ("Tanh", None, None), ("Dense", 6, 3),
                             ("Sigmoid", None, None)]  # fmt: skip
    assert [type(layer) for layer in mlp([2, 5, 1], "relu").layers] == [Dense, ReLU, Dense]
    assert [type(layer) for layer in mlp([2, 1], "relu", "identity").layers] == [Dense, Identity]


def test_the_same_weights_as_the_network_written_out():
    written = Sequential([Dense(3, 7), Sigmoid(), Dense(7, 2), Tanh()])
    for got, want in zip(mlp((3, 7, 2), "sigmoid", "tanh").init(seed=5), written.init(seed=5)):
        assert got.keys() == want.keys()
        for key in got:
            np.testing.assert_array_equal(got[key], want[key])


@pytest.mark.parametrize(
    ("units", "activation", "output", "message"),
    [
        ([3], "relu", None, "input and output widths"),
        ([3, 0], "relu", None, "out_features must be an int >= 1"),
        ([3, 4, 2], "swish", None, "unknown activation 'swish'"),
        ([3, 2], "relu", "swish", "unknown activation 'swish'"),
        ([3, 2], "swish", None, "unknown activation 'swish'"),  # checked with no hidden layer
    ],
)
def test_bad_arguments_are_named(units, activation, output, message):
    with pytest.raises(InvalidValueError, match=message):
        mlp(units, activation, output)
