"""What a stochastic solver needs to go on where it stopped: one frozen ``SolverState``.

``fit`` ends by keeping one, ``partial_fit`` and a change of learning rate continue from
it, and a pickle holds it as host NumPy arrays (``__getstate__``), so that ``partial_fit``
after unpickling continues exactly. The live Trainer that made it rides along, to be
reused while nothing it was built from has changed; pickles and copies leave it out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..training import Trainer
from . import _network as net


@dataclasses.dataclass(frozen=True)
class SolverState:
    """A stochastic solver's state between two ``fit``/``partial_fit`` calls.

    Parameters
    ----------
    opt_state : pytree
        The optimizer's state (momentum; Adam's moments and step count), arrays of the
        backend ``backend``, or host NumPy arrays where ``backend`` is None.
    seed : int
        The Trainer's seed: it draws each epoch's minibatch order.
    position : tuple of int
        (epoch, sample offset) where the next step starts.
    steps_done : int
        Optimizer steps taken so far.
    learning_rate : float
        The rate the next epoch steps with (scikit-learn's ``_optimizer.learning_rate``:
        'invscaling' and 'adaptive' change it from epoch to epoch).
    backend : str or None
        The name of the backend whose arrays ``opt_state`` holds; None: host arrays.
    trainer : Trainer or None
        The live Trainer this state was taken from, kept to continue without rebuilding
        (and, on JAX, recompiling) it; never pickled or copied.
    recipe : tuple
        What ``trainer`` was built from (backend, layout, learning rate, hyperparameters):
        it is reused only for the same recipe.
    """

    opt_state: Any
    seed: int
    position: tuple[int, int]
    steps_done: int
    learning_rate: float
    backend: str | None
    trainer: Trainer | None = dataclasses.field(default=None, compare=False, repr=False)
    recipe: tuple = ()

    @classmethod
    def of(cls, trainer: Trainer, learning_rate: float, recipe: tuple) -> SolverState:
        """The state of ``trainer`` (built from ``recipe``), to go on at ``learning_rate``."""
        state = trainer.state
        return cls(
            state.opt_state, trainer.seed, tuple(state.position), state.steps_done,
            float(learning_rate), trainer.backend.name, trainer, recipe,
        )  # fmt: skip

    def live(self, recipe: tuple) -> Trainer | None:
        """The kept Trainer where it was built from ``recipe``; else None."""
        return self.trainer if self.trainer is not None and self.recipe == recipe else None

    def on(self, trainer: Trainer, params: Any = None) -> Trainer:
        """``trainer`` (new, of the same network and solver) made to continue this state: its
        optimizer state (moved to the trainer's backend), step count and data position, with
        ``params`` (None: the trainer's own)."""
        opt_state = self.opt_state
        if self.backend != trainer.backend.name:
            opt_state = net.to_host_tree(opt_state)
        trainer.restore(
            trainer.state.replace(
                params=trainer.params if params is None else params,
                opt_state=net.to_backend_tree(trainer.backend, opt_state),
                steps_done=self.steps_done,
                position=self.position,
            )
        )
        return trainer

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (and deep-copied) as host NumPy arrays, without the Trainer."""
        host = self.opt_state if self.backend is None else net.to_host_tree(self.opt_state)
        return {**self.__dict__, "opt_state": host, "backend": None, "trainer": None}
