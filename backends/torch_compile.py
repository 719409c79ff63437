"""``TorchBackend.compile_step``: a whole training step compiled with ``torch.compile``.

The step is nnkit's own array-API maths (``array_api_compat.torch``) traced by dynamo as one
graph (``fullgraph=True``: a graph break is an error, never a silent split) with static
shapes (``dynamic=False``): each new shape of the rows compiles once, so a fit compiles
twice at most (its minibatches and the smaller last one). Inductor's default mode on every
device: CUDA graphs (``mode="reduce-overhead"``) wait for a run on a GPU, where they can be
tested (GPU code lands only after it ran on the device).
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

from .tree import tree_map

# array_api_compat's type checks (``is_numpy_array`` and the like, behind ``array_namespace``
# and ``device``) are functools.lru_cache'd pure functions: dynamo traces through the cache,
# which is sound for them, and would warn once per call site that it did
_LRU_WARNING = r"Dynamo detected a call to a `functools.lru_cache`-wrapped function at '_helpers"


def compile_step(torch: Any, device: Any, fn: Callable) -> Callable:
    """``fn(params, opt_state, *rows) -> (params, opt_state, loss)`` compiled for ``device``.

    Python numbers among the arguments' leaves (an optimizer's step count) go in as 0-d
    float64 tensors on the device (as ``torch.optim`` keeps its step count: a float tensor,
    here exact up to 2**53), so the first call and the later ones, which get the count the
    step returned, see the same kinds of arguments; the learning rate and bias corrections
    stay in double precision, as the eager step computes them in Python (in float32,
    ``1 - b2**t`` would lose 1e-5 of its value to cancellation at Adam's first steps; the
    price: inductor runs a float32 update with float64 scalars in float64, S2's Adam step
    at batch 64 on one CPU thread 96 ms against 69).
    """
    warnings.filterwarnings("ignore", message=_LRU_WARNING, category=UserWarning)
    compiled = torch.compile(own_frame(fn), dynamic=False, fullgraph=True)

    returned: list[Any] = [None]  # the optimizer state of the last call's results

    def as_tensor(leaf: Any) -> Any:
        if isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
            return torch.tensor(leaf, dtype=torch.float64, device=device)
        return leaf

    def step(params: Any, opt_state: Any, *rows: Any) -> Any:
        args = (params, opt_state, *rows)
        if opt_state is not returned[0]:  # the step's own results hold tensors only
            args = tree_map(as_tensor, args)
        out = compiled(*args)
        returned[0] = out[1]
        return out

    return step


def own_frame(fn: Callable) -> Callable:
    """``fn`` called through a function with a code object of its own.

    Dynamo keeps compiled code per code object and falls back to running a frame eagerly
    once it holds ``recompile_limit`` (8) versions of it. The steps of different Trainers
    share their code (closures of one function): each gets a frame of its own, so Trainers
    never use up one another's versions, and the compiled code goes with the step.
    """

    def step(*args: Any) -> Any:
        return fn(*args)

    code = step.__code__.replace()  # a new code object, equal to the old one
    return types.FunctionType(code, step.__globals__, step.__name__, None, step.__closure__)
