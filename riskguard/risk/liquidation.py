"""Liquidation and bankruptcy prices: where equity meets the threshold, and where it meets zero.

For a set of legs marked at a common price ``P`` (one position, or the long and short legs of
one symbol in a hedge-mode cross account) with the rest of the account held fixed:

    f(P) = K + sum_legs( s*q*P - requirement_leg(P) ),     K = collateral - sum_legs(s*q*E)

``collateral`` is the isolated margin, or for cross the wallet plus the other positions'
unrealised PnL minus their requirements. Liquidation is where ``f`` crosses zero; within a tier
``f`` is linear, so the solver walks tier by tier from the mark in the direction ``f`` falls and
stops at the first tier whose own root lies inside it (or at a tier boundary where the threshold
jumps past equity). That is the notional *at the liquidation price* choosing the bracket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from riskguard.risk.margin import Schedule

_INF = math.inf

_Terms = Callable[[float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Leg:
    """One position as the solver sees it: sign, size, entry and its margin schedule."""

    sign: int
    size: float
    entry_price: float
    schedule: Schedule


def single_leg_liquidation(
    collateral: float, sign: int, size: float, entry: float, mark: float, schedule: Schedule
) -> float | None:
    """Liquidation price of one position with ``collateral`` behind it, or None if none exists.

    A long whose collateral covers its whole value can never be liquidated (None). When the
    position is already past its threshold at the mark, the price where it would be back at the
    threshold is returned (it lies on the favourable side of the mark).
    """
    return solve_single_leg(collateral, sign, size, entry, mark, schedule)[0]


def solve_single_leg(
    collateral: float, sign: int, size: float, entry: float, mark: float, schedule: Schedule
) -> tuple[float | None, bool]:
    """``(liquidation price or None, safe)``: safe is equity above the threshold at the mark."""
    k = -sign * size * entry + collateral
    index = schedule.index_at(mark)
    slope, const = schedule.linear_terms(index, sign)
    if not schedule.price_dependent:
        if schedule.clamped_at(index, mark):
            slope, const = size * (sign - schedule.fee_rate), 0.0
        safe = k + const + slope * mark > 0
        root = _positive_root(k + const, slope)
        if root is not None and schedule.clamped_at(index, root):
            # Past the price where the margin would turn negative the venue charges none.
            root = _positive_root(k, size * (sign - schedule.fee_rate))
        return root, safe
    safe = k + const + slope * mark > 0
    tiers = schedule.tiers
    # f rises with P for a long (slope > 0), falls for a short; walk towards where f changes sign.
    step = -1 if (slope > 0) == safe else 1
    last = len(tiers) - 1
    while True:
        if slope != 0.0:
            root = -(k + const) / slope
            low = schedule.price_floor(index)
            high = _INF if index == last else tiers[index + 1].min_bound / size
            if low <= root <= high and root > 0.0:
                return root, safe
        nxt = index + step
        if nxt < 0 or nxt > last:
            return None, safe
        boundary = tiers[index].min_bound / size if step < 0 else tiers[nxt].min_bound / size
        slope, const = schedule.linear_terms(nxt, sign)
        if (k + const + slope * boundary > 0) != safe:
            return boundary, safe
        index = nxt


def legs_liquidation(collateral: float, legs: Sequence[Leg], mark: float) -> float | None:
    """Liquidation price of several legs marked at one price (hedge mode), or None.

    ``f`` need not be monotone here (a hedged pair can be liquidated by a move either way), so
    both directions are searched and the nearest crossing wins.
    """
    if len(legs) == 1:
        leg = legs[0]
        return single_leg_liquidation(
            collateral, leg.sign, leg.size, leg.entry_price, mark, leg.schedule
        )
    k = collateral - sum(leg.sign * leg.size * leg.entry_price for leg in legs)
    points = {
        leg.schedule.price_floor(i)
        for leg in legs
        if leg.schedule.price_dependent
        for i in range(1, len(leg.schedule.tiers))
    }
    # Size tiers with a maintenance amount stop charging below amount / (size x rate).
    points.update(
        p for p in (leg.schedule.clamp_price() for leg in legs) if p is not None and p > 0
    )
    breaks = sorted(points)

    def terms(price: float) -> tuple[float, float]:
        slope = 0.0
        const = k
        for leg in legs:
            s, c = leg.schedule.linear_terms(leg.schedule.index_at(price), leg.sign, price)
            slope += s
            const += c
        return slope, const

    slope0, const0 = terms(mark)
    safe = const0 + slope0 * mark > 0
    best: float | None = None
    for direction in (-1, 1):
        found = _walk_segments(terms, breaks, mark, direction, safe)
        if found is not None and (best is None or abs(found - mark) < abs(best - mark)):
            best = found
    return best


def _walk_segments(
    terms: _Terms, breaks: Sequence[float], mark: float, direction: int, safe: bool
) -> float | None:
    """First price from ``mark`` in ``direction`` where the sign of f differs from ``safe``."""
    lower = max((b for b in breaks if b <= mark), default=0.0)
    upper = min((b for b in breaks if b > mark), default=_INF)
    position = mark
    while True:
        probe = _inside(lower, upper)
        slope, const = terms(probe)
        if slope != 0.0:
            root = -const / slope
            if lower <= root <= upper and root > 0.0 and (root - position) * direction >= 0:
                return root
        if direction < 0:
            if lower <= 0.0:
                return None
            boundary = lower
            upper = lower
            lower = max((b for b in breaks if b < boundary), default=0.0)
        else:
            if upper == _INF:
                return None
            boundary = upper
            lower = upper
            upper = min((b for b in breaks if b > boundary), default=_INF)
        slope, const = terms(_inside(lower, upper))
        if (const + slope * boundary > 0) != safe:
            return boundary
        position = boundary


def _inside(lower: float, upper: float) -> float:
    """A price strictly inside ``[lower, upper)`` for choosing the tier of that segment."""
    if upper == _INF:
        return lower * 2.0 + 1.0
    return (lower + upper) / 2.0


def bankruptcy_price(collateral: float, legs: Sequence[Leg]) -> float | None:
    """Price where equity reaches zero (``collateral + sum s*q*(P - E) = 0``), or None.

    None when no positive price makes equity zero: a long fully paid for, or a hedge with no net
    exposure.
    """
    net = sum(leg.sign * leg.size for leg in legs)
    k = collateral - sum(leg.sign * leg.size * leg.entry_price for leg in legs)
    return _positive_root(k, net)


def single_leg_bankruptcy(collateral: float, sign: int, size: float, entry: float) -> float | None:
    """:func:`bankruptcy_price` of one leg, without building it (the same floats)."""
    return _positive_root(collateral - sign * size * entry, sign * size)


def _positive_root(const: float, slope: float) -> float | None:
    if slope == 0.0:
        return None
    root = -const / slope
    return root if root > 0.0 else None
