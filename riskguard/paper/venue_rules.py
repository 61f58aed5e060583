"""What each venue's liquidation engine and order matching do differently, as data.

One :class:`VenueRules` per venue profile name (:mod:`riskguard.risk.venues`), looked up with
:func:`rules_for`. The paper venue reads it in one place for liquidation
(:mod:`~riskguard.paper.liquidation`) and the configuration reads the default market-order price
band from it (:mod:`~riskguard.paper.config`); nothing else in the paper venue asks which venue
it is. The research behind each figure is in ``docs/venue_rules.md``.

- **binance**: full liquidation, the insurance fund pays a loss past bankruptcy; a taker market
  order (a triggered stop-market too, never a liquidation) fills only within 5% of the mark
  (the Market Order Price Cap/Floor ratio of BTCUSDT), the rest expires.
- **hyperliquid**: a market liquidation for the full size; when the equity is below 2/3 of the
  maintenance margin at the check, a backstop liquidation instead: the liquidator vault takes
  the position and all its collateral (the whole cross wallet for cross), and any loss past
  bankruptcy (ADL in reality: there is no insurance fund), so the user ends at exactly 0.
- **okx**: a position in its 3rd maintenance tier or above (index 2) is first reduced by two
  tiers, frozen, and re-checked after 60 s of venue time; tiers 1 to 2 are liquidated in full.
- **mexc**, **kucoin**: the same here. Both publish a tier-lowering partial liquidation (MEXC above
  the first risk tier; KuCoin for cross positions above 600,000 USDT) without the figures to model
  it, so the paper venue closes the full size.
- **bitget**, **bingx**: the same defaults (BingX says a liquidation may first reduce the position,
  but publishes no tier rule for it, so the paper venue closes the full size).
- **bybit**, **gate**, **generic**, **bitmex**: full liquidation, the insurance fund pays past
  bankruptcy (BitMEX: then ADL; its partial liquidation down the risk limits is not modelled).
- **krakenfutures**: full liquidation; past bankruptcy Kraken's Equity Protection Process
  assigns the position to other traders and then unwinds it, with no insurance fund: ``adl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LiquidationKind = Literal["market", "backstop", "partial"]
"""How a liquidation closed its positions: a market close of the full size, a backstop takeover
by the venue's liquidator vault, or a partial close that left the rest open."""

LossPayer = Literal["insurance_fund", "liquidator_vault", "adl"]
"""Who takes a liquidation's loss past the bankruptcy price (never the user)."""


@dataclass(frozen=True, slots=True)
class VenueRules:
    """How one venue's liquidation engine closes positions and how far its market orders fill."""

    name: str
    """The venue profile's name (:attr:`riskguard.risk.venues.VenueProfile.name`)."""
    backstop_fraction: float | None = None
    """Equity below this fraction of the maintenance requirement at the liquidation check means
    a backstop liquidation (Hyperliquid: 2/3); None: the venue has none."""
    partial_from_tier: int | None = None
    """Tier index (0 is the first tier) from which a liquidation is first partial (OKX: 2, the
    3rd tier); None: every liquidation closes the full size."""
    partial_tiers_down: int = 2
    """How many tiers a partial liquidation takes the position down (OKX: two)."""
    recheck_delay_s: float = 60.0
    """After a partial liquidation, the position (cross: the account's cross positions) is frozen
    for this long of venue time before the liquidation check looks at it again."""
    default_price_band_pct: float | None = None
    """A taker market order fills only within this percentage of the mark (Binance's market
    order price cap and floor); the rest expires. A market's own setting replaces it."""
    shortfall_payer: LossPayer = "insurance_fund"
    """Who pays a market or full liquidation's loss past bankruptcy."""

    def __post_init__(self) -> None:
        if self.backstop_fraction is not None and not 0 < self.backstop_fraction < 1:
            raise ValueError(f"{self.name}: backstop_fraction must be in (0, 1)")
        if self.partial_from_tier is not None and self.partial_from_tier < 1:
            raise ValueError(f"{self.name}: partial_from_tier must be >= 1")
        if self.partial_tiers_down < 1:
            raise ValueError(f"{self.name}: partial_tiers_down must be >= 1")
        if not self.recheck_delay_s >= 0:
            raise ValueError(f"{self.name}: recheck_delay_s must be >= 0")
        if self.default_price_band_pct is not None and not 0 < self.default_price_band_pct < 100:
            raise ValueError(f"{self.name}: default_price_band_pct must be in (0, 100)")

    @property
    def recheck_delay_ms(self) -> int:
        return round(self.recheck_delay_s * 1000)


BINANCE_RULES = VenueRules(name="binance", default_price_band_pct=5.0)
HYPERLIQUID_RULES = VenueRules(
    name="hyperliquid", backstop_fraction=2.0 / 3.0, shortfall_payer="adl"
)
OKX_RULES = VenueRules(name="okx", partial_from_tier=2, partial_tiers_down=2, recheck_delay_s=60.0)

RULES: dict[str, VenueRules] = {
    r.name: r
    for r in (
        BINANCE_RULES,
        HYPERLIQUID_RULES,
        OKX_RULES,
        VenueRules(name="bybit"),
        VenueRules(name="gate"),
        VenueRules(name="mexc"),
        VenueRules(name="kucoin"),
        VenueRules(name="bitget"),
        VenueRules(name="bingx"),
        VenueRules(name="generic"),
        VenueRules(name="bitmex"),
        VenueRules(name="krakenfutures", shortfall_payer="adl"),
    )
}


def rules_for(profile_name: str) -> VenueRules:
    """The rules of the venue profile named ``profile_name``; full liquidation, the insurance
    fund paying past bankruptcy and no price band for a profile without rules of its own
    (bybit, gate, mexc, kucoin, bitget, bingx, bitmex, generic)."""
    rules = RULES.get(profile_name)
    return rules if rules is not None else VenueRules(name=profile_name)
