"""Objects described by their constructor arguments: layers and losses."""

from __future__ import annotations

from typing import Any


class Configurable:
    """``config()`` gives the constructor arguments, JSON-serialisable (``nnkit.io`` saves
    them and rebuilds the object with ``type(obj)(**config)``); the repr shows them."""

    def config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
