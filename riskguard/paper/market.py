"""A paper market: contract terms, fees, spread, slippage and funding of one symbol."""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskguard.domain import Tier


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """How far a taker fill lands from the touch, as a fraction of price.

    ``impact = base + per_million * notional / 1e6 + speed_factor * |log move over the last bar|``:
    bigger orders and faster markets fill worse, which is what makes a crash expensive.
    """

    base: float = 0.0002
    per_million: float = 0.0005
    speed_factor: float = 0.5

    def __post_init__(self) -> None:
        for name in ("base", "per_million", "speed_factor"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"slippage {name} must be >= 0")

    def impact(self, notional: float, speed: float) -> float:
        """Fraction of price lost to impact for ``notional`` when the market moved ``speed``."""
        return self.base + self.per_million * notional / 1e6 + self.speed_factor * speed


@dataclass(frozen=True, slots=True)
class PaperMarket:
    """Terms of one linear perpetual on the paper venue. Amounts are in contracts."""

    symbol: str
    tiers: tuple[Tier, ...]
    contract_size: float = 1.0
    maker_fee: float = 0.0002
    taker_fee: float = 0.0005
    spread: float = 0.0001
    slippage: SlippageModel = SlippageModel()
    funding_rate: float = 0.0001
    funding_interval_ms: int = 8 * 3600 * 1000
    amount_step: float = 0.001
    min_amount: float = 0.001
    price_tick: float = 0.01
    max_leverage: float = 125.0
    mark_half_life_s: float = 5.0
    price_band: float | None = None
    """A taker market order fills only at prices within this fraction of the mark (Binance's
    market order price cap and floor: a buy at most ``mark * (1 + band)``, a sell at least
    ``mark * (1 - band)``), the rest expires; None: no band. The configuration gives each
    market its venue's default (:mod:`~riskguard.paper.venue_rules`)."""

    def __post_init__(self) -> None:
        base, _, rest = self.symbol.partition("/")
        quote, _, settle = rest.partition(":")
        if not (base and quote and settle):
            raise ValueError(f"symbol must look like BASE/QUOTE:SETTLE, got {self.symbol!r}")
        if not self.tiers:
            raise ValueError(f"{self.symbol}: at least one maintenance tier is needed")
        for name in ("contract_size", "amount_step", "min_amount", "price_tick", "max_leverage"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        if not (0 <= self.maker_fee < 0.1 and 0 <= self.taker_fee < 0.1):
            raise ValueError(f"{self.symbol}: fees must be in [0, 0.1)")
        if not 0 <= self.spread < 0.1:
            raise ValueError(f"{self.symbol}: spread must be in [0, 0.1)")
        if self.funding_interval_ms <= 0 or not math.isfinite(self.funding_rate):
            raise ValueError(f"{self.symbol}: funding interval must be positive")
        if not self.mark_half_life_s >= 0:
            raise ValueError(f"{self.symbol}: mark_half_life_s must be >= 0")
        if self.price_band is not None and not 0 < self.price_band < 1:
            raise ValueError(f"{self.symbol}: price_band must be in (0, 1)")

    @property
    def base(self) -> str:
        return self.symbol.partition("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.partition("/")[2].partition(":")[0]

    @property
    def settle(self) -> str:
        return self.symbol.partition(":")[2]

    def round_amount(self, contracts: float) -> float:
        """Contracts rounded down to the amount step (with a little float tolerance)."""
        steps = math.floor(contracts / self.amount_step + 1e-9)
        return round(steps * self.amount_step, 12)
