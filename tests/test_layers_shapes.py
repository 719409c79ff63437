"""Layer.param_shapes: the shapes of the parameters init draws, known without drawing them."""

import numpy as np
import pytest

from nnkit.initializers import INITIALIZERS
from nnkit.layers import LAYERS, Dense

LAYERS_TO_CHECK = [
    *(Dense(3, 5, init=name) for name in INITIALIZERS),
    Dense(4, 2, bias=False),
    Dense(1, 1, init="zeros", bias=False),
    *(cls() for name, cls in LAYERS.items() if name != "Dense"),
]


@pytest.mark.parametrize("layer", LAYERS_TO_CHECK, ids=repr)
def test_param_shapes_are_the_shapes_init_draws(layer):
    drawn = layer.init(np.random.default_rng(0))
    shapes = layer.param_shapes()
    assert shapes == {key: value.shape for key, value in drawn.items()}
    assert all(type(n) is int for shape in shapes.values() for n in shape)


def test_dense_shapes():
    assert Dense(3, 5).param_shapes() == {"W": (3, 5), "b": (5,)}
    assert Dense(3, 5, bias=False).param_shapes() == {"W": (3, 5)}
