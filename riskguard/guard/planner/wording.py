"""How the planner writes a number into its reasons, notes and alert messages."""

from __future__ import annotations


def num(value: float | None) -> str:
    """``value`` in at most ten significant digits (``"n/a"`` for ``None``)."""
    return "n/a" if value is None else f"{value:.10g}"
