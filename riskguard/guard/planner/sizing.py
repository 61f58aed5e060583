"""Sizing a reduction to its market (all order amounts are in contracts of the market,
:class:`~riskguard.domain.MarketRules`):

* The amount **sold** is rounded **up** to the amount step, so the size kept is at or below the
  rule's target (at least as protective), and never above the position.
* An amount below the market's minimum order (``min_amount``, and ``min_notional`` at the mark) is
  raised to the minimum when the position allows it.
* If the amount reaches the whole position, or what would be left is below the minimum (a dust
  remainder cannot be reduced by an ordinary order later, so it is not protection), the whole
  position is closed. A full close is sent as it is, even below the minimum: it is reduce-only and
  the only way out of a dust position.
* Notional is in the quote currency: ``contracts x contract_size x mark`` for linear contracts and
  ``contracts x contract_size`` (the contract's face value) for inverse ones.

Splitting the sized amount into orders is :mod:`riskguard.guard.planner.splitting`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskguard.domain import STEP_TOLERANCE, MarketRules, Position, clean_float
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import ActionKind


@dataclass(frozen=True, slots=True)
class ReductionSizing:
    """A reduction sized to a market: ``kind`` REDUCE or CLOSE, ``contracts`` to sell (whole
    steps, except a full close of a position that is not), ``size_after`` in base units."""

    kind: ActionKind
    contracts: float
    size_after: float
    notes: tuple[str, ...] = ()


def size_reduction(position: Position, target_size: float, market: MarketRules) -> ReductionSizing:
    """Size a reduction of ``position`` to at most ``target_size`` (base units) on ``market``.

    Raises ``ValueError`` if ``target_size`` is not below the position's size (not a reduction).
    """
    if not target_size < position.size:
        raise ValueError(f"target {target_size} is not below the size {position.size}")
    held = market.to_contracts(position.size)
    mark = position.mark_price
    notes: list[str] = []
    if target_size <= 0:
        return ReductionSizing(
            ActionKind.CLOSE, clean_float(held), 0.0, ("close the whole position",)
        )
    raw = held - market.to_contracts(target_size)
    sell = market.amount_up(raw)
    if not math.isclose(sell, raw, rel_tol=1e-9, abs_tol=1e-12):
        notes.append(f"sell {num(raw)} rounded up to the step {num(market.amount_step)}")
    smallest = market.min_order(mark, inverse=position.inverse)
    if sell < smallest:
        sell = smallest
        notes.append(f"raised to the minimum order of {num(smallest)} contracts")
    left = held - sell
    if left <= market.amount_step * 1e-6:
        notes.append("the amount reaches the whole position: close it")
        return ReductionSizing(ActionKind.CLOSE, clean_float(held), 0.0, tuple(notes))
    if _is_dust(left, market, position):
        notes.append(f"{num(left)} contracts left would be below the minimum: close it all")
        return ReductionSizing(ActionKind.CLOSE, clean_float(held), 0.0, tuple(notes))
    return ReductionSizing(ActionKind.REDUCE, sell, market.to_size(left), tuple(notes))


def _is_dust(contracts: float, market: MarketRules, position: Position) -> bool:
    if contracts < market.min_amount * (1 - STEP_TOLERANCE):
        return True
    if not market.min_notional:
        return False
    value = contracts * market.contract_value(position.mark_price, inverse=position.inverse)
    return value < market.min_notional * (1 - STEP_TOLERANCE)
