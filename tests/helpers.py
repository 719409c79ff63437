"""Test utilities: host conversion, central finite differences (float64), small files, JAX's
x64 mode."""

import contextlib
import inspect
import re

import numpy as np
import pytest

from nnkit import backends


def host(x):
    """Any backend's array as a NumPy array."""
    name = backends.name_of(x)
    return np.asarray(x) if name in (None, "numpy") else backends.get(name).to_numpy(x)


def rel_error(a, b):
    """||a - b|| / (||a|| + ||b||): the usual gradient-check error, 0 when both are 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar host function f at the host array x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        g[i] = (up - down) / (2 * h)
    return g


def write(path, text):
    """Write ``text`` to ``path`` as UTF-8 bytes, exactly (no newline translation); ``path``."""
    path.write_bytes(text.encode())
    return path


X64_DTYPES = ("float64", "int64")  # 32-bit on JAX unless its x64 mode is on


def x64_param(*values):
    """``pytest.param(*values)``, marked x64 (JAX's x64 mode on for its test: conftest.py) where
    a value, or an item of a tuple value, names a 64-bit dtype."""
    flat = [x for v in values for x in (v if isinstance(v, tuple) else (v,))]
    wide = any(isinstance(x, str) and x in X64_DTYPES for x in flat)
    return pytest.param(*values, marks=[pytest.mark.x64] if wide else [])


@contextlib.contextmanager
def jax_x64(enable=True):
    """JAX's x64 mode (64-bit arrays on JAX) set to ``enable`` inside the block and back to
    its previous setting after it; nothing where JAX is not installed."""
    if "jax" not in backends.available():
        yield
        return
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enable)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def numpydoc_sections(doc):
    """{section title: the names its entries document} of a numpydoc docstring: an entry
    is an unindented line ``name : type`` (or a bare ``name``, as Raises has it)."""
    lines = inspect.cleandoc(doc).splitlines()
    sections, title = {}, None
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and set(underline.strip()) == {"-"} and len(underline) == len(line):
            title = line.strip()
            sections[title] = []
        elif title and line and not line[0].isspace() and set(line) != {"-"}:
            sections[title].append(re.match(r"(\S+)", line).group(1))
    return sections
