"""Layers with hand-written forward and backward passes.

A layer is stateless maths: its parameters live in a dict ``p`` that the model
passes in, so the same layer runs on any backend and under ``jax.jit``.

- ``forward(p, X) -> (Y, cache)`` with X of shape (batch, in);
- ``backward(p, cache, dY) -> (dX, grads)`` with ``grads`` shaped like ``p``;
- ``param_grads(p, cache, dY) -> grads`` alone (for the first layer, whose dX nobody needs);
- ``param_shapes() -> {name: shape}``: the shapes of the parameters ``init`` draws.

The maths is written once in the operations of ``ops`` (see ``nnkit.functional``): the
default ``PURE`` returns new arrays; the Trainer's NumPy step passes in-place ops that write
each result into a buffer of its role (``out="Y"``), reused across steps.
"""

from __future__ import annotations

from typing import Any

from . import checks
from . import functional as F
from ._ns import namespace
from .configurable import Configurable
from .functional import PURE
from .initializers import INITIALIZERS, bias_zeros


class Layer(Configurable):
    """Base class; a layer without parameters has ``init`` and ``param_shapes`` return ``{}``."""

    def init(self, rng: Any) -> dict[str, Any]:
        """Host (NumPy, float64) initial parameters drawn from ``rng``."""
        return {}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shapes of the parameters ``init`` makes, without drawing them."""
        return {}

    def forward(self, p: dict, X: Any, ops: Any = PURE) -> tuple[Any, Any]:
        raise NotImplementedError

    def backward(self, p: dict, cache: Any, dY: Any, ops: Any = PURE) -> tuple[Any, dict]:
        raise NotImplementedError

    def param_grads(self, p: dict, cache: Any, dY: Any, ops: Any = PURE) -> dict:
        """The ``grads`` of ``backward``; layers that can skip computing dX override it."""
        return self.backward(p, cache, dY, *(() if ops is PURE else (ops,)))[1]


class Dense(Layer):
    """Y = X @ W + b, with W of shape (in_features, out_features) and b of shape (out_features,)."""

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

    def forward(self, p, X, ops=PURE):
        Y = ops.matmul(X, p["W"], out="Y")
        if "b" in p:
            Y = ops.add(Y, p["b"][None, :], out=Y)
        return Y, X

    def backward(self, p, X, dY, ops=PURE):
        grads = self.param_grads(p, X, dY, ops)
        return ops.matmul(dY, p["W"].T, out="dX"), grads

    def param_grads(self, p, X, dY, ops=PURE):
        grads = {"W": ops.matmul(X.T, dY, out="dW")}
        if "b" in p:
            grads["b"] = ops.sum(dY, axis=0, out="db")
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

    def forward(self, p, Z, ops=PURE):
        S = F.sigmoid(namespace(Z), Z, ops)
        return S, S

    def backward(self, p, S, dY, ops=PURE):
        dX = ops.mul(dY, S, out="dX")
        return ops.mul(dX, ops.sub(1, S, out="1-S"), out=dX), {}


class Tanh(Layer):
    """t = tanh(z); dt/dz = 1 - t^2."""

    def forward(self, p, Z, ops=PURE):
        T = ops.tanh(Z, out="T")
        return T, T

    def backward(self, p, T, dY, ops=PURE):
        d = ops.mul(T, T, out="1-T^2")
        return ops.mul(dY, ops.sub(1, d, out=d), out="dX"), {}


class ReLU(Layer):
    """max(z, 0); derivative 1 where z > 0, else 0."""

    def forward(self, p, Z, ops=PURE):
        return ops.where(ops.gt(Z, 0, out="Z>0"), Z, 0, out="Y"), Z

    def backward(self, p, Z, dY, ops=PURE):
        return ops.where(ops.gt(Z, 0, out="Z>0"), dY, 0, out="dX"), {}


class LeakyReLU(Layer):
    """z where z > 0, else alpha * z."""

    def __init__(self, alpha: float = 0.01):
        self.alpha = checks.check_unit_interval("LeakyReLU alpha", alpha)

    def forward(self, p, Z, ops=PURE):
        return self._leaky(Z, Z, ops, "Y"), Z

    def backward(self, p, Z, dY, ops=PURE):
        return self._leaky(Z, dY, ops, "dX"), {}

    def _leaky(self, Z, X, ops, role):
        """X where Z > 0, else alpha * X (the alpha * X buffer becomes the result)."""
        scaled = ops.mul(X, self.alpha, out=role)
        return ops.where(ops.gt(Z, 0, out="Z>0"), X, scaled, out=scaled)

    def config(self):
        return {"alpha": self.alpha}


class Softmax(Layer):
    """Row-wise softmax over the last axis; dz = s * (dY - sum(dY * s))."""

    def forward(self, p, Z, ops=PURE):
        S = F.softmax(namespace(Z), Z, ops)
        return S, S

    def backward(self, p, S, dY, ops=PURE):
        s = ops.sum(ops.mul(dY, S, out="dY*S"), axis=-1, keepdims=True, out="sum")
        dX = ops.sub(dY, s, out="dX")
        return ops.mul(S, dX, out=dX), {}


class Identity(Layer):
    """y = z."""

    def forward(self, p, Z, ops=PURE):
        return Z, None

    def backward(self, p, cache, dY, ops=PURE):
        return dY, {}


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax, Identity)
}
ACTIVATIONS: dict[str, type[Layer]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
    "identity": Identity,
}


def activation(name: str, **kwargs) -> Layer:
    """The activation layer called ``name`` (a key of ACTIVATIONS), built with ``kwargs``."""
    return checks.lookup("activation", name, ACTIVATIONS)(**kwargs)
