"""Builders for the spot margin venue tests: a venue over given prices, in a line."""

from __future__ import annotations

from collections.abc import Sequence

from riskguard.paper.feeds import Bars
from riskguard.paper.market import SlippageModel
from riskguard.paper.spot_margin.rules import MarginRules, SpotMarket
from riskguard.paper.spot_margin.venue import SpotMarginVenue

HOUR_MS = 3_600_000
T0 = 1_700_002_800_000  # 2023-11-14 23:00:00 UTC, the start of an hour
NO_SLIPPAGE = SlippageModel(0.0, 0.0, 0.0)


def bars(
    closes: Sequence[float],
    *,
    symbol: str = "BTC/USDT",
    start_ms: int = T0,
    bar_ms: int = 60_000,
    range_pct: float = 0.0,
) -> Bars:
    """One-minute bars opening at the previous close, with highs and lows ``range_pct`` out."""
    opens = [closes[0], *closes[:-1]]
    highs = [max(o, c) * (1 + range_pct / 100) for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) * (1 - range_pct / 100) for o, c in zip(opens, closes, strict=True)]
    times = tuple(start_ms + i * bar_ms for i in range(len(closes)))
    return Bars(symbol, times, tuple(opens), tuple(highs), tuple(lows), tuple(closes), bar_ms)


def venue(
    closes: Sequence[float],
    *,
    rules: MarginRules | None = None,
    frictionless: bool = True,
    range_pct: float = 0.0,
    **market: float,
) -> SpotMarginVenue:
    """A BTC/USDT venue over ``closes``; without fees, spread or slippage unless asked."""
    terms: dict[str, object] = dict(market)
    if frictionless:
        terms = {"maker_fee": 0.0, "taker_fee": 0.0, "spread": 0.0, "slippage": NO_SLIPPAGE}
        terms.update(market)
    m = SpotMarket("BTC/USDT", mark_half_life_s=0.0, **terms)  # type: ignore[arg-type]
    return SpotMarginVenue(
        [m], {"BTC/USDT": bars(closes, range_pct=range_pct)}, rules or MarginRules()
    )


def flat(price: float = 100.0, minutes: int = 600) -> list[float]:
    return [price] * minutes
