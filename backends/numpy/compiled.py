"""``jit`` on NumPy: a function recorded once and then made again as the array calls it made,
into arrays it keeps, without its Python (much as a CUDA graph is captured and replayed).

``Compiled(fn, donate_argnums)(*args)`` flattens the arguments (``backends.tree``). The first
call with a new structure, new shapes or dtypes, or other held arrays records ``fn`` on them
(``tracing``) and returns what it computed; later calls that fit the recording run its
``Program``:

- its inputs: an array argument is *held*: the recording reads that very array, whose values
  may have changed; a call that passes another array of the same layout owning its memory
  (a fit's fresh copy of the parameters) re-points the recorded calls to it. Where another
  array takes its place that is a view (a minibatch sliced from the data), the argument is
  *copied* from then on, into an array of the program's own each call. Python numbers (a
  step count) are read anew each call, and the arithmetic the function did on them is made
  again with Python's operators;
- its buffers: each array the function made is written again in place (ufuncs with ``out=``,
  the rest copied in), views stay views of the same memory;
- donation, as in ``jax.jit``: the arrays of ``donate_argnums`` are given up by the caller;
  an output of the same shape and dtype is written into one of them (the last operation
  that makes it writes there directly when nothing reads the old values after it) and
  returned, so a training step updates its parameters in place;
- its outputs: other arrays are returned new (made by their last call, or copied out of
  their buffer), numbers as their values.

The same calls on the same values: a replay is bitwise the plain call. Calls from several
threads run one at a time (a program's buffers are its own). As under
``jax.jit``, ``fn`` must be a function of its arguments (a value it reads from elsewhere is
recorded as a constant), must not branch on values (a traced value raises NotTraceable when
read: such a function is simply called, every time), and must not write into arguments it
does not donate. The BLAS runs as it is set for the process; nothing here changes it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..tree import TreeDef, count, flatten, flattener, unflatten, unflattener
from .passes import Graph, donate, reuse
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
        self._lock = threading.RLock()  # one call at a time: the programs' buffers are shared
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            return self._call(args)

    def _call(self, args: tuple) -> Any:
        if self._plain:
            return self.fn(*args)
        last = self._last
        if last is not None:
            leaves = last.match(args)
            if leaves is not None and last.binds(leaves):
                return last.run(leaves)
        leaves, treedef = flatten(args)
        signature = _signature(treedef, leaves)
        if signature is None:  # traced arguments (a call inside another recording) or
            return self.fn(*args)  # arrays of a NumPy subclass: called as it is
        program = self._programs.get(signature)
        if program is not None and (program.binds(leaves) or program.rebinds(leaves)):
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


def _donated_leaves(treedef: TreeDef, argnums: tuple[int, ...]) -> list[int]:
    """The positions, in the flattened arguments, of the leaves of arguments ``argnums``."""
    positions, start = [], 0
    for i, child in enumerate(treedef[2]):
        n = count(child)
        if i in argnums:
            positions.extend(range(start, start + n))
        start += n
    return positions


class Program:
    """A recording made ready to replay: see ``Compiled``. ``nodes`` its operations, ``tape``
    a call without arguments per node."""

    def __init__(self, treedef: TreeDef, plan: list, nodes: list[Node], numbers: list,
                 number_inputs: list[int], number_ops: list, out_treedef: TreeDef,
                 outputs: list) -> None:  # fmt: skip
        self.treedef, self.plan, self.nodes = treedef, plan, nodes
        self.match = flattener(treedef)  # args -> leaves, None for another structure
        self.copies = [(i, ref) for i, (kind, ref) in enumerate(plan) if kind is COPIED]
        self.numbers = numbers
        self.number_inputs, self.number_ops = number_inputs, number_ops
        self.outputs, self._build_out = outputs, unflattener(out_treedef)
        self.fresh: dict[int, Any] = {}  # node -> the new array it made this call
        self.tape = [_bind(node, numbers, self.fresh, k) for k, node in enumerate(nodes)]
        # the arrays the nodes use in a held leaf's memory: id -> (leaf, byte offset; None for
        # the leaf itself), and the nodes that use each held leaf's memory
        self._held: dict[int, tuple[int, int | None]] = {}
        self.users: dict[int, set[int]] = {}
        held = {id(ref): i for i, (kind, ref) in enumerate(plan) if kind is HELD}
        for k, node in enumerate(nodes):
            for a in (*node.arrays(), *node.writes()):
                i = held.get(id(root(a)))
                if i is not None:
                    self.users.setdefault(i, set()).add(k)
                    self._held[id(a)] = (i, None if a is plan[i][1] else _offset(a, plan[i][1]))

    def binds(self, leaves: list) -> bool:
        """Whether ``leaves`` fit this recording: the held arrays themselves, copied arrays
        of the same shape and dtype, numbers of the same type, the same other leaves."""
        return self._fits(leaves, held=lambda leaf, ref: leaf is ref)

    def rebinds(self, leaves: list) -> bool:
        """Hold, in place of each held array that ``leaves`` replace, the new one, where both
        own their memory with one layout (a fit's fresh copy of the parameters): the nodes
        that read or write the old one, or views of it, now do the same to the new one. False,
        changing nothing, where ``leaves`` do not fit so."""
        if not self._fits(leaves, held=_same_layout):
            return False
        new = {i: leaves[i] for i, (kind, ref) in enumerate(self.plan)
               if kind is HELD and leaves[i] is not ref}  # fmt: skip
        swapped: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id -> (old, new): the old
        # arrays kept alive until the end, so that no new array takes an old one's id

        def swap(a: Any) -> Any:
            spec = self._held.get(id(a)) if isinstance(a, np.ndarray) else None
            if spec is None or spec[0] not in new:
                return a
            if id(a) not in swapped:
                i, offset = spec
                b = new[i] if offset is None else np.ndarray(
                    a.shape, a.dtype, buffer=new[i], offset=offset, strides=a.strides
                )
                swapped[id(a)] = (a, b)
            return swapped[id(a)][1]

        for k in sorted(set().union(*(self.users.get(i, ()) for i in new))):
            node = self.nodes[k]
            node.args, node.kwargs = nested_map(swap, node.args), nested_map(swap, node.kwargs)
            node.out = nested_map(swap, node.out)
            self.tape[k] = _bind(node, self.numbers, self.fresh, k)
        self.outputs = [(kind, swap(value)) for kind, value in self.outputs]
        self.plan = [(kind, new.get(i, ref)) for i, (kind, ref) in enumerate(self.plan)]
        for old, b in swapped.values():
            self._held[id(b)] = self._held.pop(id(old))
        return True

    def _fits(self, leaves: list, held: Callable[[Any, Any], bool]) -> bool:
        if len(leaves) != len(self.plan):
            return False
        for leaf, (kind, ref) in zip(leaves, self.plan, strict=True):
            if kind is HELD:
                if not held(leaf, ref):
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
            elif kind == "fresh":
                outputs.append(self.fresh[value])
            elif kind == "number":
                outputs.append(numbers[value])
            else:
                outputs.append(value)
        return self._build_out(outputs)

    @classmethod
    def build(cls, recorder: Recorder, treedef: TreeDef, plan: list, donated: list[int],
              out: Any, leaves: list) -> tuple[Program, Any]:  # fmt: skip
        """The Program of a finished recording of ``fn(*args)`` (``out`` its traced result),
        and the result of this call as the function gives it."""
        graph = Graph(list(recorder.nodes))
        made = {id(w) for node in graph.nodes if node.kind in ("ufunc", "copy")
                for w in node.writes()}  # fmt: skip
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
            if not donate(graph, a, d):
                graph.nodes.append(Node(np.copyto, (d, a), {}, (d,), "effect"))
            np.copyto(d, a)  # this call's result, where later calls write it
            outputs.append(("array", j))
            result.append(d)
        reuse(graph, made, kept={id(value) for kind, value in outputs if kind == "copy"})
        nodes = graph.finish()
        outputs = [(kind, graph.name(v) if kind == "copy" else v) for kind, v in outputs]
        outputs = _fresh_outputs(graph, outputs)
        number_inputs = [i for i, (kind, _) in enumerate(plan) if kind is NUMBER]
        first = recorder.inputs
        number_ops = [(first + k, fn, refs) for k, (fn, refs) in enumerate(recorder.number_ops)]
        program = cls(treedef, plan, nodes, list(recorder.numbers), number_inputs, number_ops,
                      out_treedef, outputs)  # fmt: skip
        return program, unflatten(out_treedef, result)


def _fresh_outputs(graph: Graph, outputs: list) -> list:
    """Outputs made by the last node that touches them: that node makes a new array each
    call (a ufunc without ``out``, a function's own result) and the output is that array,
    rather than a buffer copied out. Returns ``outputs`` with those as ``("fresh", node)``."""
    fresh = []
    for kind, a in outputs:
        writers = graph.writes[id(a)] if kind == "copy" and root(a) is a else ()
        if len(writers) == 1 and sum(v is a for _, v in outputs) == 1:
            k = writers[0]
            node = graph.nodes[k]
            if (node.out is a and not graph.read_after(a, k) and "casting" not in node.kwargs
                    and node.kind in ("ufunc", "copy")):  # fmt: skip
                node.kind = "fresh " + node.kind
                fresh.append(("fresh", k))
                continue
        fresh.append((kind, a))
    return fresh


def _offset(a: np.ndarray, base: np.ndarray) -> int:
    """The byte offset of view ``a`` into ``base``'s memory."""
    return a.__array_interface__["data"][0] - base.__array_interface__["data"][0]


def _same_layout(new: Any, old: np.ndarray) -> bool:
    """Whether a held array ``old`` can be swapped for ``new``: both NumPy arrays owning
    their memory, C-contiguous, of one shape and dtype (or the same array)."""
    return new is old or (
        type(new) is np.ndarray and new.base is None and old.base is None
        and new.flags.c_contiguous and old.flags.c_contiguous
        and new.shape == old.shape and new.dtype == old.dtype
    )  # fmt: skip


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


def _copy_result(out: np.ndarray, fn: Callable, *args: Any, **kwargs: Any) -> None:
    np.copyto(out, fn(*args, **kwargs))


def _bind(node: Node, numbers: list, fresh: dict, k: int) -> Callable[[], Any]:
    """A call without arguments that makes ``node``'s operation again (reading the traced
    numbers' values of the run from ``numbers``; a "fresh" node's new array into
    ``fresh[k]``)."""
    fn, args, kwargs = node.fn, node.args, node.kwargs
    if node.kind == "copy":
        fn = functools.partial(_copy_result, node.out, fn)
    elif node.kind == "into":
        fn = functools.partial(fn, node.out)
    elif node.kind.startswith("fresh"):
        kwargs = {key: v for key, v in kwargs.items() if key != "out"}
    dynamic = nested_any(lambda v: type(v) is ScalarRef, (args, kwargs))
    call = (lambda: fn(*resolve(args, numbers), **resolve(kwargs, numbers))) if dynamic else (
        functools.partial(fn, *args, **kwargs)
    )
    if node.kind.startswith("fresh"):
        return lambda: fresh.__setitem__(k, call())
    return call
