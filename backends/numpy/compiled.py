"""``jit`` on NumPy: a function recorded once and then made again as the array calls it made,
into arrays it keeps, without its Python (much as a CUDA graph is captured and replayed).

``Compiled(fn, donate_argnums)(*args)`` flattens the arguments (``backends.tree``). The first
call with a new structure, new shapes or dtypes, or other held arrays records ``fn`` on them
(``tracing``) and returns what it computed; later calls that fit the recording run its
``Program``:

- its inputs: an array argument is *held* (the recording reads that very array, so a call
  must pass the same array object, whose values may have changed) or, once a call has passed
  another array in its place, *copied* (into an array of the program's own, each call: the
  minibatch of a training step). Python numbers (a step count) are read anew each call, and
  the arithmetic the function did on them is made again with Python's operators;
- its buffers: each array the function made is written again in place (ufuncs with ``out=``,
  the rest copied in), views stay views of the same memory;
- donation, as in ``jax.jit``: the arrays of ``donate_argnums`` are given up by the caller;
  an output of the same shape and dtype is written into one of them (the last operation
  that makes it writes there directly when nothing reads the old values after it) and
  returned, so a training step updates its parameters in place;
- its outputs: other arrays are returned as new copies, numbers as their values.

The same calls on the same values: a replay is bitwise the plain call. As under
``jax.jit``, ``fn`` must be a function of its arguments (a value it reads from elsewhere is
recorded as a constant), must not branch on values (a traced value raises NotTraceable when
read: such a function is simply called, every time), and must not write into arguments it
does not donate. The BLAS runs as it is set for the process; nothing here changes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..tree import TreeDef, flatten, unflatten
from .traced import Traced, TracedScalar
from .tracing import Node, NotTraceable, Recorder, ScalarRef, nested_any, nested_map, resolve, root

KEEP = 4  # programs kept per function (a fit's full and last minibatch shapes, two fits)

# how a program takes each leaf of its arguments
HELD, COPIED, NUMBER, STATIC = "held", "copied", "number", "static"


class Compiled:
    """``fn`` recorded and replayed (see the module's docstring); call it as ``fn``."""

    def __init__(self, fn: Callable, donate_argnums: tuple[int, ...] = ()):
        self.fn, self.donate_argnums = fn, tuple(donate_argnums)
        self._programs: dict[Any, Program] = {}
        self._last: Program | None = None
        self._plain = False  # fn could not be recorded: it is called as it is
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        if self._plain:
            return self.fn(*args)
        leaves, treedef = flatten(args)
        last = self._last
        if last is not None and last.treedef == treedef and last.binds(leaves):
            return last.run(leaves)
        signature = _signature(treedef, leaves)
        if signature is None:  # traced arguments (a call inside another recording) or
            return self.fn(*args)  # arrays of a NumPy subclass: called as it is
        program = self._programs.get(signature)
        if program is not None and program.binds(leaves):
            self._last = program
            return program.run(leaves)
        return self._record(args, leaves, treedef, signature, program)

    def _record(self, args: tuple, leaves: list, treedef: TreeDef, signature: Any,
                previous: Program | None) -> Any:  # fmt: skip
        donated = _donated_leaves(treedef, self.donate_argnums)
        copied = set() if previous is None else previous.changed(leaves, donated)
        recorder = Recorder()
        plan, traced = [], []
        for i, leaf in enumerate(leaves):
            if _is_array(leaf):
                if i in copied or type(leaf) is not np.ndarray:  # NumPy scalars: 0-d copies
                    slot = np.array(leaf)
                    plan.append((COPIED, slot))
                    traced.append(recorder.array(slot))
                else:
                    plan.append((HELD, leaf))
                    traced.append(recorder.array(leaf))
            elif _is_number(leaf):
                plan.append((NUMBER, type(leaf)))
                traced.append(recorder.number(leaf))
            else:
                plan.append((STATIC, leaf))
                traced.append(leaf)
        try:
            out = self.fn(*unflatten(treedef, traced))
        except NotTraceable:
            out = None
        except Exception:  # the tracer's limit or the caller's error: the plain call tells
            result = self.fn(*args)
            self._plain = True
            return result
        if recorder.failed is not None:
            self._plain = True
            return self.fn(*args)
        program, result = Program.build(recorder, treedef, plan, donated, out, leaves)
        self._programs[signature] = self._last = program
        while len(self._programs) > KEEP:
            del self._programs[next(iter(self._programs))]
        return result


def jit(fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Compiled:
    """``fn`` recorded on its first call and replayed after (see the module's docstring)."""
    return Compiled(fn, donate_argnums)


def _is_number(x: Any) -> bool:
    """A Python number (bool is a static value, not a number that changes)."""
    return type(x) in (int, float, complex)


def _is_array(x: Any) -> bool:
    """A NumPy array (not of a subclass) or a NumPy scalar (a 0-d array to a recording)."""
    return type(x) is np.ndarray or isinstance(x, np.generic)


def _signature(treedef: TreeDef, leaves: list) -> Any:
    """What a recording depends on besides the held arrays: the structure, each array's
    shape and dtype, each number's type, the other leaves; None for leaves that cannot be
    recorded (traced values, NumPy array subclasses)."""
    parts = []
    for leaf in leaves:
        kind = type(leaf)
        if _is_array(leaf):
            parts.append((leaf.shape, leaf.dtype))
        elif kind is Traced or kind is TracedScalar or isinstance(leaf, np.ndarray):
            return None
        elif _is_number(leaf):
            parts.append(kind)
        else:
            try:
                parts.append((kind, hash(leaf), leaf))
            except TypeError:
                parts.append((kind, id(leaf)))
    return treedef, tuple(parts)


def _count(treedef: TreeDef) -> int:
    return 1 if treedef is None else sum(_count(child) for child in treedef[2])


def _donated_leaves(treedef: TreeDef, argnums: tuple[int, ...]) -> list[int]:
    """The positions, in the flattened arguments, of the leaves of arguments ``argnums``."""
    positions, start = [], 0
    for i, child in enumerate(treedef[2]):
        n = _count(child)
        if i in argnums:
            positions.extend(range(start, start + n))
        start += n
    return positions


class Program:
    """A recording made ready to replay: see ``Compiled``."""

    def __init__(self, treedef: TreeDef, plan: list, tape: list, numbers: list,
                 number_inputs: list[int], number_ops: list, out_treedef: TreeDef,
                 outputs: list) -> None:  # fmt: skip
        self.treedef, self.plan = treedef, plan
        self.copies = [(i, ref) for i, (kind, ref) in enumerate(plan) if kind is COPIED]
        self.tape, self.numbers = tape, numbers
        self.number_inputs, self.number_ops = number_inputs, number_ops
        self.out_treedef, self.outputs = out_treedef, outputs

    def binds(self, leaves: list) -> bool:
        """Whether ``leaves`` fit this recording: the held arrays themselves, copied arrays
        of the same shape and dtype, numbers of the same type, the same other leaves."""
        if len(leaves) != len(self.plan):
            return False
        for leaf, (kind, ref) in zip(leaves, self.plan, strict=True):
            if kind is HELD:
                if leaf is not ref:
                    return False
            elif kind is COPIED:
                if not _is_array(leaf) or leaf.shape != ref.shape or leaf.dtype != ref.dtype:
                    return False
            elif kind is NUMBER:
                if type(leaf) is not ref:
                    return False
            elif leaf is not ref and (type(leaf) is not type(ref) or leaf != ref):
                return False
        return True

    def changed(self, leaves: list, donated: list[int]) -> set[int]:
        """The leaves to copy in a new recording for ``leaves``: those copied here, and the
        held arrays not donated that ``leaves`` replace with other arrays."""
        keep = set(donated)
        copied = {i for i, _ in self.copies}
        for i, (leaf, (kind, ref)) in enumerate(zip(leaves, self.plan, strict=True)):
            if kind is HELD and leaf is not ref and i not in keep:
                copied.add(i)
        return copied

    def run(self, leaves: list) -> Any:
        """The recorded calls made again on ``leaves``: the outputs, as the function's."""
        for i, slot in self.copies:
            np.copyto(slot, leaves[i])
        numbers = self.numbers
        for k, i in enumerate(self.number_inputs):
            numbers[k] = leaves[i]
        for k, fn, refs in self.number_ops:
            numbers[k] = fn(*[numbers[r.index] if type(r) is ScalarRef else r for r in refs])
        for call in self.tape:
            call()
        outputs = []
        for kind, value in self.outputs:
            if kind == "array":  # written into a donated array, or an input: the caller's
                outputs.append(leaves[value])
            elif kind == "copy":
                outputs.append(value.copy())
            elif kind == "number":
                outputs.append(numbers[value])
            else:
                outputs.append(value)
        return unflatten(self.out_treedef, outputs)

    @classmethod
    def build(cls, recorder: Recorder, treedef: TreeDef, plan: list, donated: list[int],
              out: Any, leaves: list) -> tuple[Program, Any]:  # fmt: skip
        """The Program of a finished recording of ``fn(*args)`` (``out`` its traced result),
        and the result of this call as the function gives it."""
        nodes = list(recorder.nodes)
        made = {id(w): w for node in nodes if node.kind in ("ufunc", "copy") for w in node.writes()}
        out_leaves, out_treedef = flatten(out)
        inputs = {id(ref): i for i, (kind, ref) in enumerate(plan) if kind in (HELD, COPIED)}
        donors = [i for i in donated if plan[i][0] is HELD]
        outputs, result = [], []
        for leaf in out_leaves:
            if type(leaf) is TracedScalar:
                outputs.append(("number", leaf.index))
                result.append(recorder.numbers[leaf.index])
                continue
            if type(leaf) is not Traced:
                outputs.append(("const", leaf))
                result.append(leaf)
                continue
            a, i = leaf.array, inputs.get(id(leaf.array))
            if i is not None and plan[i][0] is HELD:  # an input given back as it is
                if i in donors:
                    donors.remove(i)
                outputs.append(("array", i))
                result.append(leaves[i])
                continue
            j = _donor(a, donors, plan, out_leaves)
            if j is None:
                outputs.append(("copy", a))
                result.append(a.copy())
                continue
            donors.remove(j)
            d = plan[j][1]
            if not _write_into(nodes, a, d):
                nodes.append(Node(np.copyto, (d, a), {}, (d,), "effect"))
            np.copyto(d, a)  # this call's result, where later calls write it
            outputs.append(("array", j))
            result.append(d)
        outputs = _reuse_buffers(nodes, outputs, made)
        numbers = list(recorder.numbers)
        number_inputs = [i for i, (kind, _) in enumerate(plan) if kind is NUMBER]
        first = recorder.inputs
        number_ops = [(first + k, fn, refs) for k, (fn, refs) in enumerate(recorder.number_ops)]
        tape = [_bind(node, numbers) for node in nodes]
        program = cls(treedef, plan, tape, numbers, number_inputs, number_ops, out_treedef,
                      outputs)  # fmt: skip
        return program, unflatten(out_treedef, result)


def _donor(a: np.ndarray, donors: list[int], plan: list, out_leaves: list) -> int | None:
    """The first donated leaf that output array ``a`` (a buffer, not a view, returned once)
    can be written into: the same shape, dtype and strides."""
    if root(a) is not a or sum(type(x) is Traced and root(x.array) is a for x in out_leaves) > 1:
        return None
    for j in donors:
        d = plan[j][1]
        if d.shape == a.shape and d.dtype == a.dtype and d.strides == a.strides:
            return j
    return None


def _write_into(nodes: list[Node], buffer: np.ndarray, target: np.ndarray) -> bool:
    """Make the one node that writes ``buffer`` write ``target`` instead, and the nodes after
    it read ``target`` for ``buffer``, where that keeps every value: nothing after that node
    reads or writes ``target``'s memory or a view of ``buffer``, and the node itself reads
    ``target`` only if it is a ufunc call (NumPy gives those the result of unaliased
    arrays). False, changing nothing, where it does not."""
    writers = [k for k, node in enumerate(nodes) if any(w is buffer for w in node.writes())]
    if len(writers) != 1:
        return False
    k = writers[0]
    node, held = nodes[k], root(target)
    if node.kind not in ("ufunc", "copy", "into") or isinstance(node.out, tuple):
        return False
    reads = [root(a) for a in node.arrays()]
    if any(r is held for r in reads) and not isinstance(node.fn, np.ufunc):
        return False
    for later in nodes[k + 1 :]:
        for a in (*later.arrays(), *later.writes()):
            if root(a) is held or (root(a) is buffer and a is not buffer):
                return False
    _rename(nodes, k, buffer, target)
    return True


def _reuse_buffers(nodes: list[Node], outputs: list, made: dict[int, np.ndarray]) -> list:
    """Let an element-wise node write into an input buffer that nothing reads after it (``a
    = exp(a)`` instead of a new array), as a compiler reuses dead buffers: fewer arrays, less
    memory to stream. NumPy computes element-wise ufuncs in place exactly as out of place,
    and a copied-in result is whole before it is copied. Returns ``outputs`` with the
    buffers renamed. ``made``: the buffers the recording made (by id), the only ones it
    may write into; outputs and donated arrays are never among those reused."""
    kept = {id(value) for kind, value in outputs if kind == "copy"}
    last: dict[int, int] = {}
    for k, node in enumerate(nodes):
        for a in (*node.arrays(), *node.writes()):
            last[id(root(a))] = k
    for k, node in enumerate(nodes):
        out = node.out
        elementwise = isinstance(node.fn, np.ufunc) and node.fn.signature is None
        if not (elementwise or node.kind == "copy") or id(out) not in made or id(out) in kept:
            continue
        for a in node.arrays():
            if (id(a) in made and a is not out and last.get(id(a)) == k and id(a) not in kept
                    and a.shape == out.shape and a.dtype == out.dtype
                    and a.strides == out.strides and _renamed(nodes, k, out, a)):  # fmt: skip
                last[id(a)] = last.get(id(out), k)
                kept.discard(id(out))
                outputs = [(kind, a if value is out else value) for kind, value in outputs]
                break
    return outputs


def _renamed(nodes: list[Node], k: int, old: np.ndarray, new: np.ndarray) -> bool:
    """Make node ``k`` write ``new`` for ``old``, and the nodes after it read ``new`` for it,
    where nothing after reads a view of ``old`` or writes ``old``; False, changing nothing,
    otherwise."""
    for later in nodes[k + 1 :]:
        if any(root(a) is old and a is not old for a in later.arrays()):
            return False
        if any(root(w) is old for w in later.writes()):
            return False
    _rename(nodes, k, old, new)
    return True


def _rename(nodes: list[Node], k: int, old: np.ndarray, new: np.ndarray) -> None:
    """Node ``k`` writes ``new`` instead of ``old``; the nodes after it read ``new`` where
    they read ``old`` (by identity)."""
    node = nodes[k]
    node.out = new
    if "out" in node.kwargs:
        node.kwargs = {**node.kwargs, "out": new}
    swap = lambda v: new if v is old else v  # noqa: E731
    for later in nodes[k + 1 :]:
        later.args, later.kwargs = nested_map(swap, later.args), nested_map(swap, later.kwargs)


def _copy_result(out: np.ndarray, fn: Callable, *args: Any, **kwargs: Any) -> None:
    np.copyto(out, fn(*args, **kwargs))


def _bind(node: Node, numbers: list) -> Callable[[], Any]:
    """A call without arguments that makes ``node``'s operation again (reading the traced
    numbers' values of the run from ``numbers``)."""
    fn, args, kwargs = node.fn, node.args, node.kwargs
    if node.kind == "copy":
        fn, args = functools.partial(_copy_result, node.out, fn), args
    elif node.kind == "into":
        fn, args = functools.partial(fn, node.out), args
    if not nested_any(lambda v: type(v) is ScalarRef, (args, kwargs)):
        return functools.partial(fn, *args, **kwargs)

    def call() -> Any:
        return fn(*resolve(args, numbers), **resolve(kwargs, numbers))

    return call
