"""The terms of the paper spot margin venue: its spot markets and its cross margin rules.

A :class:`SpotMarket` is one spot pair (``BTC/USDT``): fees, spread, slippage and amount steps.
Its prices walk along a feed exactly as the perpetual venue's do
(:class:`~riskguard.paper.price_path.SymbolState`), so :meth:`SpotMarket.price_market` gives the
:class:`~riskguard.paper.market.PaperMarket` that walk and the fill pricing
(:mod:`~riskguard.paper.fill_pricing`) read: its spread, slippage and the mark's half-life. The
perpetual terms in it (tiers, funding, leverage) are never read here.

:class:`MarginRules` are Binance Cross Margin Classic's rules as data (``docs/venue_rules.md``,
"The paper spot margin venue"): the margin level thresholds, the liquidation fee, the hourly
interest rates, and who bears a debt the collateral could not repay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from riskguard.domain import Tier
from riskguard.paper.market import PaperMarket, SlippageModel

BadDebtPayer = Literal["user", "risk_fund"]
"""Who bears what the collateral could not repay after a liquidation: the user (the debt stays
on the account) or the venue's margin risk fund (the debt is written off)."""

BINANCE_LIQUIDATION_LEVEL = 1.1
"""Cross Margin Classic (3x and 5x): liquidation at a margin level of 1.1 or below."""
BINANCE_MARGIN_CALL_LEVEL = 1.3
"""Cross Margin Classic 3x: margin call when the margin level is above 1.1 and at most 1.3."""
BINANCE_LIQUIDATION_STOP_LEVEL = 1.5
"""Cross Margin Classic 3x: a regular liquidation stops once the margin level is above 1.5."""
BINANCE_BORROW_LIMIT_LEVEL = 1.5
"""Cross Margin Classic 3x: no borrowing that would leave the margin level below 1.5 (3x)."""
BINANCE_LIQUIDATION_FEE_RATE = 0.02
"""Cross Margin: 2% of the liquidated assets."""


@dataclass(frozen=True, slots=True)
class SpotMarket:
    """One spot pair of the margin venue. Amounts are in the base asset, prices in the quote."""

    symbol: str
    maker_fee: float = 0.001
    taker_fee: float = 0.001
    spread: float = 0.0001
    slippage: SlippageModel = field(default_factory=SlippageModel)
    amount_step: float = 0.00001
    min_amount: float = 0.00001
    price_tick: float = 0.01
    mark_half_life_s: float = 5.0
    """The price the margin level is valued at (Binance's margin price index) follows the last
    price with this half-life, as the perpetual venue's mark does."""

    def __post_init__(self) -> None:
        base, sep, quote = self.symbol.partition("/")
        if not (sep and base and quote) or ":" in quote or "/" in quote:
            raise ValueError(f"a spot symbol looks like BASE/QUOTE, got {self.symbol!r}")
        for name in ("amount_step", "min_amount", "price_tick"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        if not (0 <= self.maker_fee < 0.1 and 0 <= self.taker_fee < 0.1):
            raise ValueError(f"{self.symbol}: fees must be in [0, 0.1)")
        if not 0 <= self.spread < 0.1:
            raise ValueError(f"{self.symbol}: spread must be in [0, 0.1)")
        if not self.mark_half_life_s >= 0:
            raise ValueError(f"{self.symbol}: mark_half_life_s must be >= 0")

    @property
    def base(self) -> str:
        return self.symbol.partition("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.partition("/")[2]

    @property
    def market_id(self) -> str:
        """Binance's id of the pair: ``BTCUSDT``."""
        return self.base + self.quote

    def round_amount(self, amount: float) -> float:
        """``amount`` rounded down to the amount step (with a little float tolerance)."""
        steps = math.floor(amount / self.amount_step + 1e-9)
        return round(steps * self.amount_step, 12)

    def price_market(self) -> PaperMarket:
        """The terms the price walk and the fill pricing read (spread, slippage, mark)."""
        return PaperMarket(
            symbol=f"{self.symbol}:{self.quote}",
            tiers=(Tier(0.0, math.inf, 0.0, 0.0),),
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
            spread=self.spread,
            slippage=self.slippage,
            funding_rate=0.0,
            amount_step=self.amount_step,
            min_amount=self.min_amount,
            price_tick=self.price_tick,
            mark_half_life_s=self.mark_half_life_s,
        )


@dataclass(frozen=True, slots=True)
class MarginRules:
    """Binance Cross Margin Classic's rules, as the paper venue applies them.

    Levels are margin levels: total asset value / (total liabilities + outstanding interest),
    valued in the quote asset at each asset's margin price (the smoothed last price).
    """

    quote: str = "USDT"
    interest_per_hour: Mapping[str, float] = field(default_factory=dict)
    """Hourly interest rate per borrowed asset (a fraction: 0.00001 is 0.001% an hour)."""
    liquidation_level: float = BINANCE_LIQUIDATION_LEVEL
    margin_call_level: float = BINANCE_MARGIN_CALL_LEVEL
    liquidation_stop_level: float = BINANCE_LIQUIDATION_STOP_LEVEL
    borrow_limit_level: float = BINANCE_BORROW_LIMIT_LEVEL
    liquidation_fee_rate: float = BINANCE_LIQUIDATION_FEE_RATE
    bad_debt_paid_by: BadDebtPayer = "user"

    def __post_init__(self) -> None:
        if not 1.0 < self.liquidation_level < self.margin_call_level:
            raise ValueError("liquidation_level must be above 1 and below margin_call_level")
        if self.liquidation_stop_level <= self.liquidation_level:
            raise ValueError("liquidation_stop_level must be above liquidation_level")
        if self.borrow_limit_level <= self.liquidation_level:
            raise ValueError("borrow_limit_level must be above liquidation_level")
        if not 0 <= self.liquidation_fee_rate < 0.5:
            raise ValueError("liquidation_fee_rate must be in [0, 0.5)")
        for asset, rate in self.interest_per_hour.items():
            if not (math.isfinite(rate) and 0 <= rate < 0.1):
                raise ValueError(f"interest_per_hour.{asset} must be in [0, 0.1)")

    def hourly_rate(self, asset: str) -> float:
        return self.interest_per_hour.get(asset, 0.0)
