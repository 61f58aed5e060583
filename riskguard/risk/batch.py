"""Liquidation price and distance for many isolated positions at once (screening, dashboards)."""

from __future__ import annotations

from collections.abc import Iterable

from riskguard.domain import Position
from riskguard.risk.account import isolated_collateral
from riskguard.risk.inverse import reciprocal
from riskguard.risk.liquidation import solve_single_leg
from riskguard.risk.margin import schedule_for
from riskguard.risk.venues import VenueProfile


def liquidation_distances(
    positions: Iterable[Position], profile: VenueProfile
) -> list[tuple[float | None, float | None]]:
    """``(liquidation_price, distance)`` per isolated position, in order.

    The same numbers as :func:`riskguard.risk.assess_isolated`, without the other figures.
    Distance is the fraction of the mark to the liquidation price, negative when past it.
    Inverse positions are mapped through :mod:`riskguard.risk.inverse`.
    """
    out: list[tuple[float | None, float | None]] = []
    append = out.append
    for original in positions:
        p = reciprocal(original) if original.inverse else original
        schedule = schedule_for(p, profile)
        collateral = isolated_collateral(p)
        lp, safe = solve_single_leg(
            collateral, p.side.sign, p.size, p.entry_price, p.mark_price, schedule
        )
        mark = original.mark_price
        if lp is not None and original.inverse:
            lp = 1.0 / lp
        if lp is None:
            append((None, None))
        else:
            gap = abs(mark - lp) / mark
            append((lp, gap if safe else -gap))
    return out
