"""What a reduction filled and freed: sizes, values and fees from the venue's answers.

The executor caps a margin put-back at what the reduction freed at its actual fills
(:func:`freed_by`), so these read the orders' fills as the venue reported them, or say that
they cannot (``None``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from riskguard.domain import Position
from riskguard.risk.account import closed_part_equity


@dataclass(frozen=True, slots=True)
class Fills:
    """What a reduction's orders filled: size (the position's units), value at the fill
    prices (size x average), and fees in the settlement currency."""

    size: float
    value: float
    fee: float

    @property
    def average(self) -> float:
        return self.value / self.size


def order_fills(order: Mapping[str, Any], position: Position, contract_size: float) -> Fills | None:
    """Size, value and fee of an order's fills, or ``None`` when the order does not say."""
    filled = _positive(order.get("filled"))
    average = _positive(order.get("average"))
    if filled is None or average is None:
        return None
    size = filled * contract_size
    return Fills(size, size * average, _fee(order, position, size, average))


def _fee(order: Mapping[str, Any], position: Position, size: float, average: float) -> float:
    """Fees paid in the settlement currency; the taker rate on the traded value when not
    reported (an inverse contract's value is in the base coin: its size over the price)."""
    settle = position.symbol.partition(":")[2]
    fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
    paid = [
        float(f["cost"])
        for f in fees
        if isinstance(f, Mapping) and f.get("cost") is not None and f.get("currency") == settle
    ]
    if paid:
        return sum(paid)
    value = size / average if position.inverse else size * average
    return value * position.taker_fee


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def add_fills(a: Fills, b: Fills) -> Fills:
    return Fills(a.size + b.size, a.value + b.value, a.fee + b.fee)


def freed_by(position: Position, fills: Fills | None) -> float | None:
    """What a reduction of an isolated position moved to the wallet, at its actual fills."""
    if fills is None:
        return None
    if fills.size <= 0:
        return 0.0
    closed = min(fills.size, position.size)
    return closed_part_equity(position, closed, fills.average, fills.fee)
