"""Objects described by their constructor arguments: layers and losses."""

from __future__ import annotations

from typing import Any


class Configurable:
    """An object described by its constructor arguments: the base of layers and losses.

    ``config()`` gives the constructor arguments, JSON-serialisable (``nnkit.io`` saves them
    and rebuilds the object with ``type(obj)(**config)``); the repr shows them.
    """

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this object.

        Returns
        -------
        dict
            ``{argument name: value}``, JSON-serialisable; ``{}`` for an object without
            arguments. ``type(obj)(**obj.config())`` is an equal object.
        """
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
