"""Layers with hand-written forward and backward passes.

A layer is stateless maths: its parameters live in a dict ``p`` that the model passes in, so
the same layer runs on any backend and under its ``jit``. The derivative of each op is
written beside it, as the formula a reader knows.

- ``forward(p, X) -> (Y, cache)`` with X of shape (batch, in);
- ``backward(p, cache, dY) -> (dX, grads)`` with ``grads`` shaped like ``p``;
- ``param_grads(p, cache, dY) -> grads`` alone (for the first layer, whose dX nobody needs);
- ``param_shapes() -> {name: shape}``: the shapes of the parameters ``init`` draws.

A new layer is one class: plain array expressions over its inputs (``xp = namespace(X)``),
returning new arrays, never branching on their values.
"""

from __future__ import annotations

from typing import Any

from . import checks
from . import functional as F
from ._ns import namespace
from .configurable import Configurable
from .initializers import INITIALIZERS, bias_zeros


class Layer(Configurable):
    """The base of layers: the contract every layer keeps.

    A subclass writes ``forward`` and ``backward`` as plain array expressions; a layer with
    parameters also writes ``init`` and ``param_shapes`` (a layer without has them return
    ``{}``), and ``config`` where its constructor takes arguments.
    """

    def init(self, rng: Any) -> dict[str, Any]:
        """Initial parameters, drawn on the host.

        Parameters
        ----------
        rng : numpy.random.Generator
            Where the draws come from (``Sequential.init`` passes one per model, seeded).

        Returns
        -------
        dict
            ``{name: numpy.ndarray}`` in float64 (``Sequential.init`` casts and moves
            them); ``{}`` for a layer without parameters.
        """
        return {}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes of the parameters ``init`` makes, without drawing them.

        Returns
        -------
        dict
            ``{name: shape}``; ``{}`` for a layer without parameters.
        """
        return {}

    def forward(self, p: dict, X: Any) -> tuple[Any, Any]:
        """The layer's output for a batch, and what ``backward`` needs.

        Parameters
        ----------
        p : dict
            The layer's parameters (``{}`` for an activation), arrays of X's backend.
        X : array of shape (batch, in)
            The input: one row per sample.

        Returns
        -------
        tuple
            ``(Y, cache)``: the output (batch, out) and whatever ``backward`` needs.
        """
        raise NotImplementedError

    def backward(self, p: dict, cache: Any, dY: Any) -> tuple[Any, dict]:
        """The gradients of the loss, from the gradient with respect to the output.

        Parameters
        ----------
        p : dict
            The layer's parameters, as given to ``forward``.
        cache : object
            What ``forward`` returned beside its output.
        dY : array of shape (batch, out)
            dLoss/dY for the whole batch.

        Returns
        -------
        tuple
            ``(dX, grads)``: dLoss/dX (batch, in), and dLoss/dp shaped like ``p``.
        """
        raise NotImplementedError

    def param_grads(self, p: dict, cache: Any, dY: Any) -> dict:
        """The parameter gradients alone: the ``grads`` of ``backward``.

        Layers that can skip computing dX override it (``Dense``: one matmul less); the
        training step calls it for the first layer, whose dX nobody needs.

        Parameters
        ----------
        p, cache, dY
            As for ``backward``.

        Returns
        -------
        dict
            dLoss/dp, shaped like ``p``.
        """
        return self.backward(p, cache, dY)[1]


class Dense(Layer):
    """Y = X @ W + b, with W of shape (in_features, out_features) and b of shape (out_features,).

    dX = dY @ W^T,  dW = X^T @ dY,  db = sum of dY over the rows.

    Parameters
    ----------
    in_features, out_features : int
        The input and output widths, ints >= 1.
    init : str
        The initializer of W, a name in ``nnkit.initializers.INITIALIZERS``: "uniform"
        (U(-0.5, 0.5), the lecture's), "glorot_uniform", "glorot_normal", "he_uniform",
        "he_normal" or "zeros". The bias starts at zero.
    bias : bool
        Whether the layer has the bias b.

    Raises
    ------
    InvalidValueError
        A width that is not an int >= 1, or an unknown initializer (the message lists the
        known ones).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "glorot_uniform",
        bias: bool = True,
    ):
        self.in_features = checks.check_positive_int("Dense in_features", in_features)
        self.out_features = checks.check_positive_int("Dense out_features", out_features)
        checks.check_choice("initializer", init, INITIALIZERS)
        self.initializer, self.bias = init, bool(bias)

    def init(self, rng):
        p = {"W": INITIALIZERS[self.initializer](rng, self.in_features, self.out_features)}
        if self.bias:
            p["b"] = bias_zeros(self.out_features)
        return p

    def param_shapes(self):
        shapes = {"W": (self.in_features, self.out_features)}
        if self.bias:
            shapes["b"] = (self.out_features,)
        return shapes

    def forward(self, p, X):
        Y = X @ p["W"]
        if "b" in p:
            Y = Y + p["b"][..., None, :]  # b broadcast over the rows
        return Y, X

    def backward(self, p, X, dY):
        mT = namespace(dY).matrix_transpose
        return dY @ mT(p["W"]), self.param_grads(p, X, dY)

    def param_grads(self, p, X, dY):
        xp = namespace(dY)
        grads = {"W": xp.matrix_transpose(X) @ dY}
        if "b" in p:
            grads["b"] = xp.sum(dY, axis=-2)
        return grads

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.initializer,
            "bias": self.bias,
        }


class Sigmoid(Layer):
    """s = 1 / (1 + exp(-z)) (stable form); ds/dz = s (1 - s)."""

    def forward(self, p, Z):
        S = F.sigmoid(Z)
        return S, S

    def backward(self, p, S, dY):
        return dY * S * (1 - S), {}


class Tanh(Layer):
    """t = tanh(z); dt/dz = 1 - t^2."""

    def forward(self, p, Z):
        T = namespace(Z).tanh(Z)
        return T, T

    def backward(self, p, T, dY):
        return dY * (1 - T**2), {}


class ReLU(Layer):
    """max(z, 0); derivative 1 where z > 0, else 0."""

    def forward(self, p, Z):
        return namespace(Z).where(Z > 0, Z, 0), Z

    def backward(self, p, Z, dY):
        return namespace(Z).where(Z > 0, dY, 0), {}


class LeakyReLU(Layer):
    """z where z > 0, else alpha * z; derivative 1 where z > 0, else alpha.

    Parameters
    ----------
    alpha : float
        The slope for z <= 0, in [0, 1).

    Raises
    ------
    InvalidValueError
        ``alpha`` outside [0, 1).
    InvalidTypeError
        ``alpha`` not a number.
    """

    def __init__(self, alpha: float = 0.01):
        self.alpha = checks.check_unit_interval("LeakyReLU alpha", alpha)

    def forward(self, p, Z):
        return namespace(Z).where(Z > 0, Z, self.alpha * Z), Z

    def backward(self, p, Z, dY):
        return namespace(Z).where(Z > 0, dY, self.alpha * dY), {}

    def config(self):
        return {"alpha": self.alpha}


class Softmax(Layer):
    """Row-wise softmax over the last axis; dz = s * (dY - sum(dY * s))."""

    def forward(self, p, Z):
        S = F.softmax(Z)
        return S, S

    def backward(self, p, S, dY):
        return S * (dY - namespace(S).sum(dY * S, axis=-1, keepdims=True)), {}


class Identity(Layer):
    """y = z."""

    def forward(self, p, Z):
        return Z, None

    def backward(self, p, cache, dY):
        return dY, {}


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Identity)
}
"""The layers files can hold, by class name: loading rebuilds layers from here only."""
ACTIVATIONS: dict[str, type[Layer]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
    "identity": Identity,
}
"""The activations by the names ``activation``, ``nnkit.model.mlp`` and ``nnkit train`` take."""


def activation(name: str, **kwargs) -> Layer:
    """The activation layer called ``name``.

    Parameters
    ----------
    name : str
        A key of ``ACTIVATIONS``: "sigmoid", "tanh", "relu", "leaky_relu", "softmax" or
        "identity".
    **kwargs
        The layer's constructor arguments (``alpha`` for "leaky_relu").

    Returns
    -------
    Layer
        The activation.

    Raises
    ------
    InvalidValueError
        An unknown name; the message lists the known ones.
    """
    return checks.lookup("activation", name, ACTIVATIONS)(**kwargs)
