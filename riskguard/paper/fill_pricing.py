"""At what price the paper venue fills an order: only at prices that traded.

A taker order (a market order, a marketable limit order, a triggered stop, a liquidation) fills
now at the last price, across half the spread and with a size- and speed-dependent impact
(:class:`~riskguard.paper.market.SlippageModel`), **clamped to what trades after it went live**:
the range of the current bar from the current tick on
(:meth:`~riskguard.paper.price_path.SymbolState.remaining_range`). A buy fills at most at that
range's high, a sell at least at its low, and neither better than the last price. So a fill
never lands outside its bar's ``[low, high]``, however fast the market moves; on a tick series
a taker fills exactly at the tick's price. Before the bound, a crash's speed term priced a
guard's stop 12% above the highest price of its minute (issue 14).

A market order (a triggered stop-market too, never a liquidation) on a market with a price band
(:attr:`~riskguard.paper.market.PaperMarket.price_band`, Binance's market order price cap and
floor) fills only within the band around the mark: a buy at most ``mark * (1 + band)``, a sell
at least ``mark * (1 - band)``. The model (:func:`band_fillable`): the order fills the largest
part whose taker price (touch plus impact for that part, within traded) lies in the band, all at
that part's price, and the rest expires; when even the touch is beyond the band (the last price
itself, or the spread and the speed term, reach past it) nothing fills. Impact grows with size
only through the ``per_million`` term, so without it the order fills whole or not at all. That
stands for Binance walking the book up to the band and expiring the rest.

A limit order fills as a taker when that price is within its limit; otherwise it rests, and
fills at its limit price once the last price trades at or through it (the limit lies between
two traded prices).

Where this sits on a tick (see :mod:`~riskguard.paper.orders` and
:mod:`~riskguard.paper.liquidation`): the last price moves and the mark follows; trigger orders
whose source crossed fire and fill here; resting limits fill; funding; then the liquidation
check, whose closes are priced here too.
"""

from __future__ import annotations

import math

from riskguard.paper.price_path import SymbolState
from riskguard.paper.records import PaperOrder


def speed(st: SymbolState) -> float:
    """How fast the market is moving: |log| of the last price against the previous close."""
    return abs(math.log(st.last / st.prev_close)) if st.prev_close > 0 else 0.0


def unbounded_taker_price(st: SymbolState, side: str, base_amount: float) -> float:
    """The touch plus impact for ``base_amount`` on ``side``, before the traded-range bound."""
    m = st.market
    notional = base_amount * st.last
    impact = m.slippage.impact(notional, speed(st))
    half_spread = m.spread / 2.0
    if side == "buy":
        return st.last * (1.0 + half_spread) * (1.0 + impact)
    return st.last * (1.0 - half_spread) * (1.0 - impact)


def clamp_to_traded(st: SymbolState, side: str, price: float) -> float:
    """``price`` held inside what trades from now to the end of the bar, no better than last.

    A buy lands in ``[last, remaining high]``, a sell in ``[remaining low, last]``.
    """
    low, high = st.remaining_range()
    if side == "buy":
        return min(max(price, st.last), high)
    return max(min(price, st.last), low)


def taker_fill_price(st: SymbolState, side: str, base_amount: float) -> float:
    """Price a taker order of ``base_amount`` fills at now: touch plus impact, within traded."""
    return clamp_to_traded(st, side, unbounded_taker_price(st, side, base_amount))


def within_band(side: str, price: float, mark: float, band: float) -> bool:
    """True when ``price`` is inside the price band ``band`` (a fraction) around ``mark``."""
    return price <= mark * (1.0 + band) if side == "buy" else price >= mark * (1.0 - band)


def band_fillable(st: SymbolState, side: str, base_amount: float, band: float) -> float:
    """How much of a market order of ``base_amount`` fills within ``band`` of the mark, now.

    All of it when its taker price is within the band; else the largest amount whose taker
    price is (the ``per_million`` impact term is the only one that grows with size), or 0 when
    the touch for the smallest amount is already beyond the band. Not rounded to amount steps.
    """
    if within_band(side, taker_fill_price(st, side, base_amount), st.mark, band):
        return base_amount
    if not within_band(side, taker_fill_price(st, side, 0.0), st.mark, band):
        return 0.0
    # The last price is within the band here, so the clamp to traded prices cannot pull a price
    # beyond the band back in: the part within the band is the part whose unbounded price is.
    m = st.market
    half_spread = m.spread / 2.0
    if side == "buy":
        max_impact = st.mark * (1.0 + band) / (st.last * (1.0 + half_spread)) - 1.0
    else:
        max_impact = 1.0 - st.mark * (1.0 - band) / (st.last * (1.0 - half_spread))
    spare = max_impact - m.slippage.impact(0.0, speed(st))
    if spare <= 0 or m.slippage.per_million <= 0:
        return 0.0
    return min(base_amount, spare / m.slippage.per_million * 1e6 / st.last)


def within_limit(side: str, price: float, limit: float) -> bool:
    """True when ``price`` is at or better than ``limit`` for an order on ``side``."""
    return price <= limit if side == "buy" else price >= limit


def resting_fill_price(order: PaperOrder, last: float) -> float | None:
    """Price a resting limit order fills at on a tick at ``last``; None when it does not fill."""
    limit = order.price or 0.0
    return limit if within_limit(order.side, last, limit) else None
