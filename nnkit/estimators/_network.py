"""The network behind the estimators: scikit-learn's layout (``coefs_``, ``intercepts_``) as an
nnkit Sequential, its parameters between host and backend, its optimizers and the forward pass
with the output activation.

Host side (NumPy) on purpose: scikit-learn's fitted attributes are NumPy arrays.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np  # host side: coefs_, intercepts_ and the solver state kept for pickling

from .. import backends
from .. import functional as F
from .._ns import namespace
from ..model import Sequential, mlp
from ..optim import SGD, Adam
from ..stacks import host_values
from ..training import precision
from ..training import steps as step_fns
from ..tree import tree_map

# scikit-learn's activation names -> nnkit's
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def build_model(units: Sequence[int], activation: str) -> Sequential:
    """``nnkit.model.mlp`` of ``units`` with scikit-learn's ``activation`` between the Dense
    layers and none after the last: its raw output z is what the losses take."""
    return mlp(units, ACTIVATIONS[activation])


def host_dtype(dtype: str) -> type:
    """The NumPy dtype of the parameters that a Trainer of ``dtype`` keeps (float32 for
    mixed bfloat16)."""
    return np.float64 if dtype == "float64" else np.float32


def init_coefs(
    units: Sequence[int], activation: str, rng: np.random.RandomState, dtype: type
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """scikit-learn's initialisation, the same draws in the same order from ``rng``: per layer
    W (in, out) then b (out,), uniform in +-sqrt(6 / (in + out)) (2 instead of 6 for the
    logistic activation)."""
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in pairwise(units):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    return coefs, intercepts


def to_params(
    backend: backends.Backend, coefs: Sequence[Any], intercepts: Sequence[Any], dtype: str
) -> list[dict[str, Any]]:
    """The Sequential's params on ``backend``: ``{"W": coefs[i], "b": intercepts[i]}`` per
    Dense layer, ``{}`` per activation between them."""
    param = precision.policy(dtype, backend).param
    params: list[dict[str, Any]] = []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        if i:
            params.append({})
        params.append({"W": backend.asarray(W, dtype=param), "b": backend.asarray(b, dtype=param)})
    return params


def to_coefs(params: Sequence[dict[str, Any]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(coefs, intercepts): host NumPy copies of the Dense layers' W and b in ``params``."""
    dense = [p for p in params if p]
    coefs = [np.array(backends.to_host(p["W"]), copy=True) for p in dense]
    return coefs, [np.array(backends.to_host(p["b"]), copy=True) for p in dense]


def to_host_tree(tree: Any) -> Any:
    """A pytree of any backend's arrays as host NumPy copies (0-d integers as ints): what a
    pickle may hold."""

    def host(a: Any) -> Any:
        if not hasattr(a, "shape"):
            return a
        h = np.array(backends.to_host(a), copy=True)
        return int(h) if h.ndim == 0 and h.dtype.kind in "iu" else h

    return tree_map(host, tree)


def to_backend_tree(backend: backends.Backend, tree: Any) -> Any:
    """A pytree of host arrays (``to_host_tree``'s output) or of ``backend``'s own, placed as
    ``backend``'s compiled steps return it."""
    return backend.place(
        tree_map(lambda a: backend.asarray(a) if isinstance(a, np.ndarray) else a, tree)
    )


class SklearnAdam(Adam):
    """Adam as scikit-learn's MLPs step: eps is added to sqrt(v) before the bias correction,
    ``p <- p - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (torch's Adam, nnkit's
    ``Adam``, adds it after)."""

    def _scalars(self, count: Any) -> tuple[Any, Any, Any]:
        lr, t = self.learning_rate(count), count + 1
        b1, b2 = host_values(self.b1), host_values(self.b2)
        return lr * (1 - b2**t) ** 0.5 / (1 - b1**t), 1.0, None


@dataclasses.dataclass(frozen=True)
class InvScaling:
    """scikit-learn's 'invscaling' learning rate as a schedule over one ``fit`` call: epoch 0
    steps with ``lr0``, epoch e >= 1 with ``lr0 / (t0 + e * n + 1) ** power_t``, where t0 is
    the samples seen before the call, n the samples per epoch (a float) and ``per_epoch`` the
    steps. For a stack of K models every field may be a host array (K,), model k's values,
    and ``count`` then holds each model's own step count."""

    lr0: Any
    power_t: Any
    t0: Any
    n: Any
    per_epoch: Any

    def __call__(self, count: Any) -> Any:
        e = count // self.per_epoch
        started = min(e, 1) if isinstance(e, int) else namespace(e).minimum(e, 1)
        return self.lr0 / ((self.t0 + e * self.n) * started + 1) ** self.power_t


def make_optimizer(ests: Sequence[Any], lr: Any) -> SGD | Adam:
    """The optimizer of the estimators' ``solver`` ("sgd" or "adam", the same for all) with
    the learning rate ``lr``: one estimator's hyperparameters as numbers, or, for a stack of
    K models, one value per model (a tuple) where the estimators' values differ."""

    def value(name: str) -> float | tuple[float, ...]:
        values = tuple(float(getattr(est, name)) for est in ests)
        return values[0] if len(set(values)) == 1 else values

    if ests[0].solver == "sgd":
        momentum = value("momentum")
        moving = min(momentum if isinstance(momentum, tuple) else (momentum,)) > 0
        return SGD(lr, momentum=momentum, nesterov=bool(ests[0].nesterovs_momentum) and moving)
    return SklearnAdam(lr, b1=value("beta_1"), b2=value("beta_2"), eps=value("epsilon"))


def _output(name: str) -> Callable[[Any], Any]:
    """The output activation ``out_activation_`` as a function z -> output."""
    return {
        "softmax": F.softmax,
        "logistic": F.sigmoid,
        "exp": lambda z: namespace(z).exp(z),
        "identity": lambda z: z,
    }[name]


@functools.lru_cache(maxsize=64)
def forward_fn(
    backend_name: str, units: tuple[int, ...], activation: str, out: str, dtype: str
) -> Callable[[Any, Any], Any]:
    """``(params, X) -> output`` compiled on the backend: the network of ``units`` and then the
    output activation ``out``; X (n, units[0]) in the parameter dtype. One per network
    layout, shared by every estimator of that layout (no compilation per call)."""
    backend = backends.get(backend_name)
    predict = step_fns.predict_fn(build_model(units, activation), precision.policy(dtype, backend))
    activate = _output(out)

    def forward(params: Any, X: Any) -> Any:
        return activate(predict(params, X))

    return backend.jit(forward)
