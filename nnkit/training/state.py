"""TrainState: what training changes, as one immutable record.

The Trainer holds one TrainState and is its only writer: ``fit``'s loop, the NaN guard's
replay, checkpoints and the scikit-learn estimators take a TrainState and hand back a new
one (``Trainer.restore`` for code outside a fit).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..checks import check_int
from ..errors import InvalidTypeError, InvalidValueError


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class TrainState:
    """A Trainer's state between two steps; frozen (``replace`` gives a changed copy).

    Attributes
    ----------
    params : list[dict[str, array]]
        One dict per layer, as ``Sequential.init`` gives them: a Dense layer's
        ``{"W": (in, out), "b": (out,)}``, an activation's ``{}``; arrays of the trainer's
        backend.
    opt_state : pytree
        The optimizer's state for ``params``, of ``Optimizer.init(params)``'s structure
        (e.g. Adam's ``(count, m, v)``).
    steps_done : int
        Optimizer steps taken over the trainer's life.
    position : tuple[int, int]
        ``(epoch, sample offset)`` where the next step starts; an offset at the end of the
        data means the next step starts the following epoch.

    The record is frozen; its arrays are the trainer's. A ``fit`` copies the state it
    starts from before a step that updates in place (NumPy) or consumes its inputs (JAX
    donation), so a TrainState kept between fits still reads as it did then; during a fit
    the steps go on updating the fit's own copy, so a callback that keeps a state across
    steps keeps a copy of its arrays (``nnkit.tree.tree_copy``).
    """

    params: Any
    opt_state: Any
    steps_done: int = 0
    position: tuple[int, int] = (0, 0)

    def replace(self, **changes: Any) -> TrainState:
        """A copy with some fields replaced.

        Parameters
        ----------
        **changes
            New values by field name (``params``, ``opt_state``, ``steps_done``,
            ``position``).

        Returns
        -------
        TrainState
            The copy; this state is unchanged.
        """
        return dataclasses.replace(self, **changes)


def conforming(state: Any, like: TrainState) -> TrainState:
    """``state`` checked against ``like`` (the trainer's current state): a TrainState whose
    params and optimizer state have ``like``'s structure and leaf shapes, and whose step
    count and position are ints >= 0 (returned as Python ints).

    Raises InvalidTypeError when ``state`` is not a TrainState, InvalidValueError naming
    the first leaf or field that differs otherwise.
    """
    if not isinstance(state, TrainState):
        raise InvalidTypeError(
            f"expected a TrainState (e.g. trainer.state.replace(params=...)), "
            f"got {type(state).__name__}"
        )
    _check_tree("params", state.params, like.params)
    _check_tree("opt_state", state.opt_state, like.opt_state)
    steps_done = check_int("steps_done", state.steps_done, 0)
    position = state.position
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        raise InvalidValueError(f"position must be a pair (epoch, offset), got {position!r}")
    epoch, offset = position
    position = (check_int("position's epoch", epoch, 0), check_int("position's offset", offset, 0))
    return state.replace(steps_done=steps_done, position=position)


def _check_tree(name: str, tree: Any, like: Any) -> None:
    """Raise InvalidValueError where ``tree`` differs from ``like`` in its nesting (dict
    keys, sequence lengths) or a leaf's shape; ``name`` is the path so far."""
    if isinstance(like, dict):
        if not isinstance(tree, dict) or set(tree) != set(like):
            keys = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
            raise InvalidValueError(f"{name} has {keys}, expected a dict of {sorted(like)}")
        for key in like:
            _check_tree(f"{name}[{key!r}]", tree[key], like[key])
    elif isinstance(like, (list, tuple)):
        if not isinstance(tree, (list, tuple)) or len(tree) != len(like):
            got = len(tree) if isinstance(tree, (list, tuple)) else type(tree).__name__
            raise InvalidValueError(f"{name} has {got} entries, expected {len(like)}")
        for i, (t, lk) in enumerate(zip(tree, like, strict=True)):
            _check_tree(f"{name}[{i}]", t, lk)
    elif _shape(tree) != _shape(like):
        raise InvalidValueError(f"{name} has shape {_shape(tree)}, expected {_shape(like)}")


def _shape(leaf: Any) -> tuple[int, ...]:
    """A leaf's shape; () for numbers and None."""
    return tuple(getattr(leaf, "shape", ()))
