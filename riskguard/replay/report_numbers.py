"""How a replay's report writes numbers, in its tables and on its charts.

Thousands separators; ``—`` for a missing figure or NaN and ``∞`` for an infinite one; never
``-0.00``. Prices keep six significant digits below 1; contract amounts keep eight.
"""

from __future__ import annotations

import math


def num(value: float | None, decimals: int = 2) -> str:
    """``12,345.68``; ``—`` for nothing; no ``-0.00``."""
    if value is None or not math.isfinite(value):
        return "—" if value is None or math.isnan(value) else ("∞" if value > 0 else "-∞")
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0
    return f"{value:,.{decimals}f}"


def signed(value: float, decimals: int = 2) -> str:
    """:func:`num` with a ``+`` on a gain (none on zero)."""
    text = num(value, decimals)
    return text if text.startswith("-") or text in ("—", num(0.0, decimals)) else "+" + text


def count(value: int) -> str:
    """A signed count: ``+2``, ``-1``, ``0``."""
    return f"{value:+,d}" if value else "0"


def price(value: float | None) -> str:
    """Prices keep six significant digits below 1 (LUNA fell to 0.00004)."""
    if value is None or not math.isfinite(value):
        return "—"
    size = abs(value)
    if size >= 1000:
        return num(value, 2)
    if size >= 1:
        return num(value, 4)
    if size == 0:
        return "0"
    return num(value, 5 - math.floor(math.log10(size)))


def amount(value: float | None) -> str:
    """A contract amount to eight significant digits; ``—`` for nothing."""
    return "—" if value is None else f"{value:,.8g}"
