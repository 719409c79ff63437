"""Test utilities: host conversion, central finite differences (float64), small files."""

import numpy as np

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
