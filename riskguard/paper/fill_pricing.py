"""At what price the paper venue fills an order.

A taker order fills now at the last price, across half the spread and with a size- and
speed-dependent impact (:class:`~riskguard.paper.market.SlippageModel`). A limit order fills as a
taker when that price is within its limit; otherwise it rests, and fills at its limit price
once the last price trades at or through it.
"""

from __future__ import annotations

import math

from riskguard.paper.price_path import SymbolState
from riskguard.paper.records import PaperOrder


def speed(st: SymbolState) -> float:
    """How fast the market is moving: |log| of the last price against the previous close."""
    return abs(math.log(st.last / st.prev_close)) if st.prev_close > 0 else 0.0


def taker_fill_price(st: SymbolState, side: str, base_amount: float) -> float:
    """Price a taker order of ``base_amount`` fills at now: touch plus impact."""
    m = st.market
    notional = base_amount * st.last
    impact = m.slippage.impact(notional, speed(st))
    half_spread = m.spread / 2.0
    if side == "buy":
        return st.last * (1.0 + half_spread) * (1.0 + impact)
    return st.last * (1.0 - half_spread) * (1.0 - impact)


def within_limit(side: str, price: float, limit: float) -> bool:
    """True when ``price`` is at or better than ``limit`` for an order on ``side``."""
    return price <= limit if side == "buy" else price >= limit


def resting_fill_price(order: PaperOrder, last: float) -> float | None:
    """Price a resting limit order fills at on a tick at ``last``; None when it does not fill."""
    limit = order.price or 0.0
    return limit if within_limit(order.side, last, limit) else None
