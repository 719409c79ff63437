"""Learning-rate schedules: callables ``t -> lr`` where t = 0 is the first update.

``t`` is a Python int in eager code and a 0-d array under ``jax.jit``; both work.
``lr0`` may be a sequence of K numbers, one per model of a stack (``nnkit.stack``): the
schedule then gives K learning rates, model k's from ``lr0[k]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import checks
from .._ns import namespace
from ..stacks import host_values


def _check_lr0(schedule: Any) -> None:
    """``schedule.lr0`` a finite number > 0, or a sequence of them (kept as a tuple)."""
    lr0 = checks.per_model(checks.check_positive, "lr0", schedule.lr0)
    if isinstance(lr0, tuple):
        object.__setattr__(schedule, "lr0", lr0)


@dataclass(frozen=True)
class inverse_time:  # noqa: N801  (named as in the contract)
    """lr0 / (1 + decay * t): the lecture's decay.

    Parameters
    ----------
    lr0 : float
        The first learning rate, > 0.
    decay : float
        >= 0.

    Raises
    ------
    InvalidValueError
        A value out of range.
    """

    lr0: float
    decay: float

    def __post_init__(self):
        _check_lr0(self)
        checks.check_nonnegative("decay", self.decay)

    def __call__(self, t: Any) -> Any:
        """The learning rate of update ``t``.

        Parameters
        ----------
        t : int or 0-d array
            The update's number, 0 for the first.

        Returns
        -------
        float or array
            The learning rate; an array of K rates where ``lr0`` is per model.
        """
        return host_values(self.lr0) / (1 + self.decay * t)


def _check_decay(schedule: Any, name: str, base: float, every: int) -> None:
    """lr0 and the base of a decay ``lr0 * base ** (...)`` > 0, ``every`` an int >= 1."""
    _check_lr0(schedule)
    checks.check_positive(name, base)
    checks.check_positive_int("every", every)


@dataclass(frozen=True)
class exponential:  # noqa: N801
    """lr0 * rate ** (t / every).

    Parameters
    ----------
    lr0 : float
        The first learning rate, > 0.
    rate : float
        The factor every ``every`` updates, > 0.
    every : int
        >= 1.

    Raises
    ------
    InvalidValueError
        A value out of range.
    """

    lr0: float
    rate: float
    every: int = 1

    def __post_init__(self):
        _check_decay(self, "rate", self.rate, self.every)

    def __call__(self, t: Any) -> Any:
        """The learning rate of update ``t``.

        Parameters
        ----------
        t : int or 0-d array
            The update's number, 0 for the first.

        Returns
        -------
        float or array
            The learning rate; an array of K rates where ``lr0`` is per model.
        """
        return host_values(self.lr0) * self.rate ** (t / self.every)


@dataclass(frozen=True)
class step:  # noqa: N801
    """lr0 * factor ** (t // every).

    Parameters
    ----------
    lr0 : float
        The first learning rate, > 0.
    factor : float
        The factor at every step, > 0.
    every : int
        Updates between steps, >= 1.

    Raises
    ------
    InvalidValueError
        A value out of range.
    """

    lr0: float
    factor: float
    every: int

    def __post_init__(self):
        _check_decay(self, "factor", self.factor, self.every)

    def __call__(self, t: Any) -> Any:
        """The learning rate of update ``t``.

        Parameters
        ----------
        t : int or 0-d array
            The update's number, 0 for the first.

        Returns
        -------
        float or array
            The learning rate; an array of K rates where ``lr0`` is per model.
        """
        return host_values(self.lr0) * self.factor ** (t // self.every)


@dataclass(frozen=True)
class cosine:  # noqa: N801
    """final + (lr0 - final) * (1 + cos(pi * min(t, total_steps) / total_steps)) / 2.

    Parameters
    ----------
    lr0 : float
        The first learning rate, > 0.
    total_steps : int
        The update at which it reaches ``final`` and stays, >= 1.
    final : float
        The last learning rate, >= 0.

    Raises
    ------
    InvalidValueError
        A value out of range.
    """

    lr0: float
    total_steps: int
    final: float = 0.0

    def __post_init__(self):
        _check_lr0(self)
        checks.check_positive_int("total_steps", self.total_steps)
        checks.check_nonnegative("final", self.final)

    def __call__(self, t: Any) -> Any:
        """The learning rate of update ``t``.

        Parameters
        ----------
        t : int or 0-d array
            The update's number, 0 for the first.

        Returns
        -------
        float or 0-d array
            The learning rate.
        """
        if isinstance(t, (int, float)):
            cos = math.cos(math.pi * min(t, self.total_steps) / self.total_steps)
        else:
            xp = namespace(t)
            cos = xp.cos(math.pi * xp.clip(t, max=self.total_steps) / self.total_steps)
        return self.final + (host_values(self.lr0) - self.final) * (1 + cos) / 2


SCHEDULES = {
    "inverse_time": inverse_time,
    "exponential": exponential,
    "step": step,
    "cosine": cosine,
}
"""The schedules by the names ``nnkit train --schedule`` takes; files hold only these."""
