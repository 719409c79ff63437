"""The worker process of ``nnkit bench --against PATH``, run as a script by ``against``: it
imports the nnkit of the checkout PATH (never this file's own), and builds and times that
checkout's contenders with that checkout's bench code, on request.

Requests and replies are JSON lines on stdin and stdout, one reply a request:

- ``{"op": "start", "path": PATH, "threads": N or null}``: import PATH's nnkit and give its
  libraries the run's precision and threads (``peers.pin``) -> ``{"nnkit": its __init__.py,
  "version": str}``
- ``{"op": "cell", "rows": [[scenario, dtype, batch_size, "nnkit", backend, strategy], ...],
  "full": bool}``: drop the last cell's contenders, build these (``command.build``) ->
  ``{"contenders": [Contender.info() or {"error": str}, ...]}``
- ``{"op": "run", "index": i, "settle_s": s}``: a pause of s seconds (this core kept busy),
  then one unit of the cell's i-th contender -> ``{"seconds": t}``, measured here around the
  unit (which ends with its backend's sync)

A request that fails is answered ``{"error": "TYPE: message"}`` (``NNKIT_DEBUG=1``: its
traceback on stderr too). End of stdin ends the process. Only the standard library is
imported at the top: the checkout's nnkit comes in through ``CheckoutFinder``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from types import ModuleType
from typing import Any, TextIO


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Imports ``nnkit`` from ``root/nnkit`` and ``nnkit.backends`` from ``root/backends``
    (the layout pyproject.toml installs), and every module below them from there alone: a
    module the checkout lacks is missing, never taken from an installed nnkit."""

    def __init__(self, root: Path):
        self.packages = {"nnkit": root / "nnkit", "nnkit.backends": root / "backends"}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.packages:
            folder = self.packages[fullname]
            return importlib.util.spec_from_file_location(
                fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )
        if fullname.partition(".")[0] != "nnkit":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            raise ModuleNotFoundError(f"no module {fullname!r} in the checkout", name=fullname)
        return spec


class Handler:
    """The answers to the requests, and what they keep between them: the cell's contenders."""

    def __init__(self) -> None:
        self.contenders: list[Any] = []

    def start(self, path: str, threads: int | None) -> dict[str, Any]:
        """Import the nnkit of the checkout at ``path`` (absolute) and pin its libraries."""
        root = Path(path)
        sys.meta_path.insert(0, CheckoutFinder(root))
        from nnkit import _version, backends
        from nnkit.bench import peers

        for module in (backends, peers):
            if not Path(module.__file__).is_relative_to(root):
                raise ImportError(f"{module.__name__} came from {module.__file__}, not {root}")
        peers.pin(threads)
        return {"nnkit": sys.modules["nnkit"].__file__, "version": _version.__version__}

    def cell(self, rows: list[list[Any]], full: bool) -> dict[str, Any]:
        """Build the contenders of ``rows`` (Planned fields), in place of the last cell's."""
        from nnkit.bench import command
        from nnkit.bench.contenders import Planned

        self.contenders = []
        infos = []
        for row in rows:
            try:
                contender = command.build(Planned(*row), full)
            except Exception as e:  # the checkout cannot build this row: said in the reply
                contender, info = None, {"error": _message(e)}
            else:
                info = contender.info()
            self.contenders.append(contender)
            infos.append(info)
        return {"contenders": infos}

    def run(self, index: int, settle_s: float) -> dict[str, Any]:
        """Pause ``settle_s``, then time one unit of the ``index``-th contender."""
        unit = self.contenders[index].run
        end = perf_counter() + settle_s
        while perf_counter() < end:  # timing.pause's busy wait (this file imports no nnkit)
            pass
        start = perf_counter()
        unit()
        return {"seconds": perf_counter() - start}


def _message(e: BaseException) -> str:
    """``e`` as one line (its traceback on stderr too with NNKIT_DEBUG set)."""
    if os.environ.get("NNKIT_DEBUG", "") not in ("", "0"):
        traceback.print_exception(e)
    return f"{type(e).__name__}: {e}"


def serve(requests: TextIO, replies: TextIO) -> None:
    """Answer each request line of ``requests`` on ``replies`` until ``requests`` ends."""
    handler = Handler()
    ops = {"start": handler.start, "cell": handler.cell, "run": handler.run}
    while line := requests.readline():
        request = json.loads(line)
        op = ops[request.pop("op")]
        try:
            reply = op(**request)
        except Exception as e:  # the checkout's code failed: the parent says so
            reply = {"error": _message(e)}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def main() -> None:
    """Serve stdin on the original stdout; anything else printed goes to stderr. Ctrl-C is
    left to the parent, which ends this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
