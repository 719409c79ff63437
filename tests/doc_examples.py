"""The Python examples of the documentation (README.md and every page under docs/), and the
convention by which tests/test_docs_examples.py runs them and checks what they print.

- Every ```python block is an example. A page's examples run in order in one fresh
  interpreter, in an empty folder (examples may write files): a block sees what the blocks
  before it on the page defined, as a reader who runs them one after another does.
- A ```text block that follows a ```python block with nothing but blank lines between them
  is what that block prints (its standard output). The lines must agree one by one, trailing
  spaces aside. A line ``...`` stands for any number of lines (none included), and ``...``
  inside a line for any text. A number agrees with the page's when it rounds to it: it
  differs by at most half a unit in the last place the page shows (``0.9778`` is 0.97775 to
  0.97785; an integer exactly). The outputs shown are those of the CI machine (a 2-core x86_64
  CPU, NumPy's OpenBLAS): another BLAS or thread count may round a float32 training
  differently, so pages print rounded figures, or the facts (``loss < 0.05``) that do not
  depend on the last digits.
- An HTML comment right before a ```python block marks it:
  ``<!-- example: slow -->`` runs it only in the slow pass (``pytest -m slow``), with the
  whole page; ``<!-- example: gpu -->`` needs a CUDA device: it runs, with the whole page,
  only where one answers (``pytest -m gpu``); ``<!-- example: processes=2 -->`` is a script
  for a run of several processes: it runs on its own (not with the page), as that many
  local processes with forced CPU devices, each given its process id and the coordinator's
  address as ``sys.argv[1]`` and ``sys.argv[2]`` (slow, needs JAX).
  The fast pass leaves marked blocks out, so a later block must not need what they define.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARK = re.compile(r"<!--\s*example:\s*([\w=]+)\s*-->\s*$")
# a number standing alone (not the 32 of float32, nor the 128 of 64-128 read as -128)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]*\w)")


@dataclasses.dataclass(frozen=True)
class Example:
    """One ```python block: its code, the ```text block after it (None if none), its mark
    (``"slow"``, ``"gpu"``, ``"processes=N"`` or None) and the line where it starts."""

    code: str
    output: str | None
    mark: str | None
    line: int

    @property
    def processes(self) -> int:
        """The number of processes of a ``processes=N`` example; 0 for the others."""
        return int(self.mark.split("=")[1]) if self.mark and "=" in self.mark else 0


def name(page: Path) -> str:
    """A page's path from the repository root, e.g. ``docs/guide/training.md``."""
    return page.relative_to(ROOT).as_posix()


def examples(page: Path) -> list[Example]:
    """The ```python blocks of ``page`` in order, each with its output block and mark."""
    text = page.read_text()
    fences = list(_FENCE.finditer(text))
    found = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        before = text[: fence.start()].rstrip().splitlines()
        mark = _MARK.search(before[-1]) if before else None
        after = fences[i + 1] if i + 1 < len(fences) else None
        output = None
        if after and after.group(1) == "text" and not text[fence.end() : after.start()].strip():
            output = after.group(2)
        line = text.count("\n", 0, fence.start()) + 1
        found.append(Example(fence.group(2), output, mark.group(1) if mark else None, line))
    return found


def page_code(page: Path, marks: tuple[str, ...] = ()) -> str:
    """One script of the page's examples, unmarked ones and those marked in ``marks``: each
    block, then a check of what it printed where the page shows it (``check_output``)."""
    parts = [
        "import contextlib, io, sys",
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})",
        "from doc_examples import check_output",
    ]
    for ex in examples(page):
        if ex.mark is not None and ex.mark not in marks:
            continue
        where = f"{name(page)}, the block at line {ex.line}"
        run = f"exec(compile({ex.code!r}, {where!r}, 'exec'))"
        if ex.output is None:
            parts.append(run)
            continue
        parts.append(
            f"with contextlib.redirect_stdout(io.StringIO()) as _out:\n    {run}\n"
            f"sys.stdout.write(_out.getvalue())\n"
            f"check_output(_out.getvalue(), {ex.output!r}, {where!r})"
        )
    return "\n".join(parts) + "\n"


def check_output(printed: str, expected: str, where: str = "") -> None:
    """Raise AssertionError unless ``printed`` agrees with ``expected`` (the module's rules)."""
    problem = mismatch(printed.splitlines(), expected.splitlines())
    if problem:
        raise AssertionError(
            f"{where}: {problem}\n--- printed:\n{printed}--- the page:\n{expected}"
        )


def mismatch(printed: list[str], expected: list[str]) -> str | None:
    """Why ``printed`` lines do not agree with ``expected`` ones, or None when they do."""
    printed, expected = [p.rstrip() for p in printed], [e.rstrip() for e in expected]
    if not expected:
        return None if not printed else f"printed {len(printed)} lines more than the page shows"
    if expected[0] == "...":
        tail = expected[1:]
        starts = range(len(printed) + 1)
        return None if any(mismatch(printed[i:], tail) is None for i in starts) else (
            f"no lines agree with the page's after '...': {tail[:1]}"
        )
    if not printed:
        return f"the page shows {expected[0]!r}, nothing more was printed"
    return line_mismatch(printed[0], expected[0]) or mismatch(printed[1:], expected[1:])


def line_mismatch(printed: str, expected: str) -> str | None:
    """Why the line ``printed`` does not agree with ``expected``, or None when it does."""
    pattern, numbers = "", []
    for part in re.split(r"(\.\.\.)", expected):
        if part == "...":
            pattern += ".*?"
            continue
        at = 0
        for number in _NUMBER.finditer(part):
            pattern += re.escape(part[at : number.start()]) + f"({_NUMBER.pattern})"
            numbers.append(number.group(0))
            at = number.end()
        pattern += re.escape(part[at:])
    match = re.fullmatch(pattern, printed)
    if match is None:
        return f"{printed!r} does not read as the page's {expected!r}"
    for got, shown in zip(match.groups(), numbers, strict=True):
        if abs(float(got) - float(shown)) > half_unit(shown):
            return f"{got} is not {shown} to the digits shown, in {printed!r}"
    return None


def half_unit(shown: str) -> float:
    """Half a unit in the last place of the number ``shown``: ``0.9778`` -> 5e-05."""
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)
