"""How the bench's tables write times, percentages and ratios."""

from __future__ import annotations


def format_time(seconds: float) -> str:
    """``seconds`` with three significant digits in s, ms, us or ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def pct(v: float | None) -> str:
    """A fraction as a percentage with one decimal; empty for None."""
    return "" if v is None else f"{100 * v:.1f}%"


def ratio(v: float | None) -> str:
    """A ratio as ``1.23x``; empty for None."""
    return "" if v is None else f"{v:.2f}x"
