"""Sequential: a stack of layers, with the parameters kept outside it (one dict per layer);
``mlp``: the multilayer perceptron that the command, the estimators and the bench build."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np  # host-side only: the initial weights are drawn with NumPy's generator

from . import backends, checks, shapes
from .errors import InvalidTypeError, InvalidValueError
from .layers import ACTIVATIONS, Dense, Layer
from .stacks import stack


class Sequential:
    """``layers`` applied in order: ``Y = layers[-1](... layers[0](X))``.

    The model holds no numbers: its parameters are a list with one dict per layer, made by
    ``init`` and passed to every call.

    Parameters
    ----------
    layers : sequence of Layer
        At least one layer.

    Attributes
    ----------
    layers : list of Layer
        As given.

    Raises
    ------
    InvalidValueError
        An empty list.
    InvalidTypeError
        An item that is not an nnkit ``Layer``.
    """

    def __init__(self, layers: Sequence[Layer]):
        layers = list(layers)
        if not layers:
            raise InvalidValueError("Sequential needs at least one layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise InvalidTypeError(
                    f"layer {i} must be an nnkit Layer, got {type(layer).__name__}"
                )
        self.layers = layers
        self._in = next((lay.in_features for lay in layers if hasattr(lay, "in_features")), None)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner},\n])"

    @property
    def in_features(self) -> int | None:
        """Input width of the first layer that fixes one (None if no layer does)."""
        return self._in

    @property
    def out_features(self) -> int | None:
        """Output width of the last layer that fixes one."""
        widths = [lay.out_features for lay in self.layers if hasattr(lay, "out_features")]
        return widths[-1] if widths else None

    def init(
        self,
        seed: int | Sequence[int] = 0,
        backend: str | backends.Backend | None = None,
        dtype: str = "float32",
    ) -> list[dict[str, Any]]:
        """Initial parameters: one dict per layer, drawn on the host from ``seed``.

        Weights are drawn with ``numpy.random.default_rng(seed)`` in float64, then cast and
        moved, so the same seed gives the same initial weights on every backend and dtype.

        Parameters
        ----------
        seed : int or sequence of int
            The seed of the draws; a sequence of K seeds gives a stack of K models, every
            leaf with a leading axis K whose slice k equals ``init(seed=seed[k])`` exactly
            (see ``nnkit.stack``).
        backend : str, Backend or None
            Where the arrays go (None: the default backend).
        dtype : {"float32", "float64"}
            Their dtype.

        Returns
        -------
        list of dict
            A Dense layer's ``{"W": (in, out), "b": (out,)}`` (stacked: ``(K, in, out)``,
            ``(K, out)``), an activation's ``{}``.

        Raises
        ------
        InvalidValueError
            An unknown dtype.
        BackendUnavailable
            ``backend`` cannot run here.
        """
        checks.check_choice("dtype", dtype, backends.FLOAT_DTYPES)
        be = backends.get(backend)
        seeds = checks.check_seeds(seed)
        host = self._draw(seed) if seeds is None else stack([self._draw(s) for s in seeds])
        return [{k: be.asarray(v, dtype=dtype) for k, v in p.items()} for p in host]

    def _draw(self, seed: int) -> list[dict[str, Any]]:
        """Host (NumPy, float64) parameters of every layer, drawn from ``seed``."""
        rng = np.random.default_rng(seed)
        return [layer.init(rng) for layer in self.layers]

    def forward(self, params: list[dict], X: Any) -> tuple[Any, list]:
        """The output for a batch, and the cache ``backward`` needs: the design-matrix form,
        one matmul per Dense layer for all the rows.

        Parameters
        ----------
        params : list of dict
            As ``init`` gives them, arrays of X's backend; stacked params (K models).
        X : array of shape (batch, in)
            One row per sample; with stacked params (batch, in), the same rows for every
            model, or (K, batch, in), model k's rows in slice k.

        Returns
        -------
        tuple
            ``(Y, cache)``: Y of shape (batch, out) (stacked: (K, batch, out)), and one
            cache entry per layer.

        Raises
        ------
        ShapeError
            X is not 2-D (or 3-D for a stack) or has another width than the model's.
        InvalidValueError
            ``params`` has another length than the model.
        """
        self._check(params, X)
        cache = []
        for layer, p in zip(self.layers, params, strict=True):
            X, c = layer.forward(p, X)
            cache.append(c)
        return X, cache

    def backward(
        self, params: list[dict], cache: list, dY: Any, *, input_grad: bool = True
    ) -> tuple[Any, list[dict]]:
        """The gradients of the loss, from dY = dLoss/dY of the whole batch.

        Parameters
        ----------
        params : list of dict
            As given to ``forward``.
        cache : list
            What ``forward`` returned beside Y.
        dY : array of shape (batch, out)
            dLoss/dY; (K, batch, out) for stacked params.
        input_grad : bool
            False skips dX (returned as None): the first layer computes only its parameter
            gradients, one matmul less per step for a Dense first layer.

        Returns
        -------
        tuple
            ``(dX, grads)``: dLoss/dX (batch, in) or None, and the gradients, structured
            like ``params`` (stacked for stacked params: slice k is model k's).
        """
        layers = self.layers
        grads = [None] * len(layers)
        for i in reversed(range(0 if input_grad else 1, len(layers))):
            dY, grads[i] = layers[i].backward(params[i], cache[i], dY)
        if not input_grad:
            grads[0] = layers[0].param_grads(params[0], cache[0], dY)
            dY = None
        return dY, grads

    def predict(self, params: list[dict], X: Any) -> Any:
        """The output for X, keeping no cache.

        Parameters
        ----------
        params : list of dict
            As ``init`` gives them.
        X : array of shape (batch, in)
            One row per sample.

        Returns
        -------
        array of shape (batch, out)
            The last layer's output.

        Raises
        ------
        ShapeError, InvalidValueError
            As ``forward``.
        """
        self._check(params, X)
        for layer, p in zip(self.layers, params, strict=True):
            X = layer.forward(p, X)[0]
        return X

    def stack_size(self, params: list[dict]) -> int | None:
        """The number of models of ``params``, read from the shape of the first parameter
        (free under jit).

        Parameters
        ----------
        params : list of dict
            One model's parameters or a stack's (every leaf with a leading model axis).

        Returns
        -------
        int or None
            K for params stacked over K models, None for one model's.

        Raises
        ------
        InvalidValueError
            ``params`` has another number of entries than the model has layers, or its first
            parameter has neither the layer's shape nor one more leading axis.
        """
        if len(params) != len(self.layers):
            raise InvalidValueError(
                f"params has {len(params)} entries but the model has {len(self.layers)} layers; "
                f"expected the list that model.init returns"
            )
        for i, (layer, p) in enumerate(zip(self.layers, params, strict=True)):
            for name, shape in layer.param_shapes().items():
                got = tuple(getattr(p.get(name) if isinstance(p, dict) else None, "shape", ()))
                if got == shape:
                    return None
                if got[1:] == shape:
                    return got[0]
                raise InvalidValueError(
                    f"params[{i}][{name!r}] has shape {got}; layer {i} ({layer!r}) expects "
                    f"{shape}, or (K, *{shape}) for a stack of K models"
                )
        return None

    def _check(self, params: list[dict], X: Any) -> None:
        """Shapes only (static under jit, so free there): X (batch, in) or, with params stacked
        over K models, (K, batch, in); one dict per layer."""
        shapes.check_features(X, self._in, stack=self.stack_size(params))

def mlp(units: Sequence[int], activation: str, output: str | None = None) -> Sequential:
    """A multilayer perceptron: ``Sequential([Dense, act, Dense, act, ..., Dense, out])``.

    Parameters
    ----------
    units : sequence of int
        The widths from the input to the output, at least two: Dense layer i maps
        ``units[i]`` to ``units[i + 1]`` with its default initialisation.
    activation : str
        The activation after every Dense layer but the last, a name in
        ``nnkit.layers.ACTIVATIONS``.
    output : str or None
        The activation after the last Dense layer (a name as above), or None for none: the
        network then gives the last layer's raw outputs (logits for a cross-entropy loss).

    Returns
    -------
    Sequential
        The network; its parameters come from ``init`` as for any Sequential.

    Raises
    ------
    InvalidValueError
        Fewer than two widths, a width that is not an int >= 1 (from ``Dense``), or an
        unknown activation name.
    """
    units = list(units)
    if len(units) < 2:
        raise InvalidValueError(f"mlp needs the input and output widths at least, got {units}")
    hidden = checks.lookup("activation", activation, ACTIVATIONS)
    last = None if output is None else checks.lookup("activation", output, ACTIVATIONS)
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(pairwise(units)):
        if i:
            layers.append(hidden())
        layers.append(Dense(fan_in, fan_out))
    if last is not None:
        layers.append(last())
    return Sequential(layers)
