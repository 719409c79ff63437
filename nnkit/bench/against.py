"""``nnkit bench --against PATH``: the nnkit rows of a run timed with the nnkit of another
checkout too, in a worker process per checkout (``worker.py``, started with this Python, so
with the same NumPy, JAX and torch) that builds them with that checkout's own bench code and
times a unit on request; ``command`` schedules them in its rounds beside this checkout's rows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidValueError, NNKitError
from .contenders import Contender, Planned
from .timing import SelfTimed

WORKER = Path(__file__).with_name("worker.py")
# what makes a folder a checkout of nnkit that a worker can bench
MARKERS = ("nnkit/__init__.py", "nnkit/bench/command.py", "backends/__init__.py")
CLOSE_TIMEOUT_S = 10.0  # a worker not gone this long after its stdin closed is killed
GIT_TIMEOUT_S = 10.0


class WorkerError(NNKitError, RuntimeError):
    """Another checkout's worker failed a unit, or stopped."""


@dataclass(frozen=True)
class Checkout:
    """Another checkout of nnkit: its folder, its commit (None: not a git checkout) and the
    label of its rows (the short commit, else the folder's name)."""

    path: str
    commit: str | None
    label: str

    def info(self) -> dict[str, str | None]:
        """What its rows' "checkout" field carries."""
        return asdict(self)


def checkout(path: str) -> Checkout:
    """The checkout at ``path``; InvalidValueError where there is none."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise InvalidValueError(f"--against {path}: no such folder")
    for marker in MARKERS:
        if not (root / marker).is_file():
            raise InvalidValueError(f"--against {path}: not a checkout of nnkit (no {marker})")
    git = _git_commit(root)
    if git is None:
        return Checkout(str(root), None, root.name)
    commit, short = git
    return Checkout(str(root), commit, short)


def checkouts(paths: list[str]) -> list[Checkout]:
    """The checkouts at ``paths``; InvalidValueError where one is none, or where two would
    label their rows alike."""
    found = [checkout(path) for path in paths]
    labels = [c.label for c in found]
    for label in labels:
        if labels.count(label) > 1:
            raise InvalidValueError(f"--against: two checkouts are both @{label}")
    return found


def _git_commit(root: Path) -> tuple[str, str] | None:
    """(commit, short commit) of the git checkout whose top folder is ``root``; None where
    ``root`` is none (or git is not installed)."""
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD", "--short", "HEAD"],
            capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 3 or Path(lines[0]).resolve() != root:
        return None
    return lines[1], lines[2]


class Worker:
    """A worker process timing ``checkout``'s contenders (see ``worker.py`` for the protocol);
    ``start`` before anything else, ``close`` at the end."""

    def __init__(self, checkout: Checkout):
        self.checkout = checkout
        self.version = ""
        # -P: the worker's folder (this checkout's nnkit/bench) is not put on its sys.path
        self.process = subprocess.Popen(
            [sys.executable, "-P", str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.pid = self.process.pid
        self._requests: IO[str] = self.process.stdin  # type: ignore[assignment]
        self._replies: IO[str] = self.process.stdout  # type: ignore[assignment]

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """The worker's reply to request ``op``; WorkerError where it has stopped."""
        try:
            self._requests.write(json.dumps({"op": op, **fields}) + "\n")
            self._requests.flush()
        except BrokenPipeError:
            line = ""
        else:
            line = self._replies.readline()
        if not line:
            raise WorkerError(f"@{self.checkout.label}: its worker (pid {self.pid}) stopped "
                              "(its stderr above says why)")  # fmt: skip
        return json.loads(line)

    def start(self, threads: int | None) -> None:
        """Import the checkout's nnkit with ``threads`` threads for every library (as
        ``peers.pin``); InvalidValueError where it does not import."""
        reply = self.request("start", path=self.checkout.path, threads=threads)
        if "error" in reply:
            raise InvalidValueError(
                f"--against {self.checkout.path}: its nnkit does not import: {reply['error']}"
            )
        self.version = reply["version"]

    def cell(self, rows: list[Planned], full: bool) -> list[Contender | str]:
        """The checkout's contenders of ``rows`` (one cell's nnkit rows, built with the quick
        run's units unless ``full``), each run by the worker and timed there; a note in
        place of a row it cannot build. The last cell's contenders are gone."""
        # a row without K as one of six fields: a checkout from before K builds it too
        rows_sent = [list(row) if row.models is not None else list(row)[:6] for row in rows]
        reply = self.request("cell", rows=rows_sent, full=full)
        if "error" in reply:
            raise WorkerError(f"@{self.checkout.label}: its bench code failed: {reply['error']}")
        found: list[Contender | str] = []
        for index, (row, info) in enumerate(zip(rows, reply["contenders"], strict=True)):
            if "error" in info:
                found.append(f"@{self.checkout.label} {row.name}: {info['error']}")
            else:
                run = SelfTimed(lambda settle_s, index=index: self.run(index, settle_s))
                found.append(Contender.from_info(info, run, self.checkout.info()))
        return found

    def run(self, index: int, settle_s: float = 0.0) -> float:
        """Seconds of one unit of the cell's ``index``-th contender, as the worker measured,
        after a pause of ``settle_s`` there (see ``timing.SelfTimed``)."""
        reply = self.request("run", index=index, settle_s=settle_s)
        if "error" in reply:
            raise WorkerError(f"@{self.checkout.label}: a unit failed: {reply['error']}")
        return reply["seconds"]

    def close(self, kill: bool = False) -> None:
        """End the worker: its stdin closed, killed if not gone within CLOSE_TIMEOUT_S (at once
        with ``kill``), and waited for."""
        if not kill:
            try:
                self._requests.close()  # end of its requests: the worker ends
                self.process.wait(CLOSE_TIMEOUT_S)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            self.process.kill()  # by its pid
            self.process.wait()
        for pipe in (self._requests, self._replies):
            try:
                pipe.close()
            except BrokenPipeError:  # unflushed requests to a worker already gone
                pass


@contextmanager
def workers(checkouts: list[Checkout], threads: int | None) -> Iterator[list[Worker]]:
    """A started worker per checkout (see ``Worker.start``), all ended when the block ends:
    killed at once where it ends with an error or Ctrl-C."""
    started: list[Worker] = []
    done = False
    try:
        for c in checkouts:
            started.append(Worker(c))
        for worker in started:
            worker.start(threads)
        yield started
        done = True
    finally:
        for worker in started:
            worker.close(kill=not done)


def beside(
    local: list[Contender], rows: list[Planned], remotes: list[Worker], full: bool
) -> tuple[list[Contender], list[str]]:
    """A cell's contenders (``local``, built from ``rows``) with, after each nnkit row, its
    twin of each other checkout; and a note for each twin left out (the checkout cannot build
    it, or builds another unit of work: other steps or FLOPs)."""
    nnkit = [i for i, row in enumerate(rows) if row.library == "nnkit"]
    twins: dict[int, list[Contender]] = {i: [] for i in nnkit}
    notes: list[str] = []
    for worker in remotes:
        for i, twin in zip(nnkit, worker.cell([rows[i] for i in nnkit], full), strict=True):
            if isinstance(twin, str):
                notes.append(twin)
            elif (twin.steps, twin.flops_per_step) != (local[i].steps, local[i].flops_per_step):
                notes.append(f"@{worker.checkout.label} {rows[i].name}: another unit of "
                             f"work ({twin.steps} steps of {twin.flops_per_step} FLOPs, here "
                             f"{local[i].steps} of {local[i].flops_per_step})")  # fmt: skip
            else:
                twins[i].append(twin)
    return [c for i, own in enumerate(local) for c in (own, *twins.get(i, ()))], notes
