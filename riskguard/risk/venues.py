"""Venue margin profiles: how each venue turns a position into a liquidation threshold.

One profile per venue, as data. Every profile expresses the same condition,

    equity(P) <= maintenance_margin(P) + closing_fee(P)      ->  liquidation

and differs only in what the maintenance margin is charged on, whether the taker fee to close is
part of the threshold, and where the rate comes from. Sources: RISK_MATH.md and the venues' docs.

- binance: USDⓈ-M linear. MM = notional at mark x tier rate - cum; the tier is chosen by the
  notional at the price being evaluated, so at liquidation it is the notional at the liquidation
  price. No fee term. Isolated and cross, one-way and hedge mode.
- bybit: USDT linear. Isolated: IM and MM from the position value at entry (Bybit's formula,
  tier by entry value). Cross (unified account): account MM against account margin balance, MM on
  the mark value.
- okx, gate: linear. Liquidation threshold includes the taker fee to close; MM on the mark value.
  OKX position tiers are counted in contracts: give them as size tiers (base units).
- hyperliquid: MM = position value at mark / (2 x max leverage), or its margin table as tiers.
- mexc: USDT-M linear. Isolated MM on the position value at the average open price (MEXC's
  worked example); liquidation when margin + uPnL reaches MM plus the fee to close; tiers from the
  contract's risk limit, bounded in contracts. Cross assumed on the mark (fair price) value.
  Labelled approximate: MEXC publishes neither the cross basis nor the liquidation fee.
- kucoin (ccxt kucoinfutures): USDT-M linear. Isolated MM on the value at the average entry price
  (KuCoin's formula); cross risk rate on the mark value plus the expected closing fee, so the
  taker fee is in the threshold for both (isolated: a taker fee nearer the entry than KuCoin's own
  formula, which its recorded rows also lie nearer to).
- deribit: standard margin, one cross account per currency. MM on the mark value at a rate that
  grows with the position's size (base + slope x size in coin: not a tier table, so the rate is
  taken as given for the current size); liquidation is incremental, not all at once. Approximate.
- phemex: USDT-M. Isolated: liquidation where IM + uPnL falls to MM charged on the open (entry)
  value, IM = open value / leverage, as Bybit; checked on a recorded isolated position. Cross:
  MM on the mark value (not checked on a recorded price).
- bitget: USDT-M linear (classic account). MM = mark value x tier rate - offset, plus the taker
  fee to close (Bitget's estimated liquidation price); tiers from its position-tier endpoint.
- bingx: USDT-M perpetual. MM = notional x tier rate - maintenance amount, plus the taker fee to
  close; tiers (with their amounts) from its maintMarginRatio endpoint. BingX also checks the last
  price before liquidating (dual price): the mark-only figure here is the earlier, safe one.
- generic: any other ccxt venue, from ccxt's maintenanceMarginPercentage with the Binance-style
  formula. Labelled approximate.
- krakenfutures: Kraken Futures (multi-collateral linear PF_ and inverse PI_). MM = value at mark
  x the margin level's rate, levels bounded in contracts / base units (give them as size tiers);
  no fee term (Kraken's EPP worked example). Approximate: cross margin netting of long and short
  legs of one underlying (max, not sum) and collateral haircuts are not modelled.
- bitmex: BitMEX. MM = position cost (entry value) x maintMarginReq, plus the taker fee to close;
  the risk limit the user chose fixes the rate (one tier). Approximate: BitMEX also adds the next
  funding payment to the maintenance margin, and charges the fee on the entry value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from riskguard.errors import InputError


class MarginBasis(StrEnum):
    """The price whose notional the maintenance margin is charged on."""

    MARK = "mark"
    ENTRY = "entry"


class ReduceMarginPolicy(StrEnum):
    """What happens to an isolated position's margin when part of it is closed.

    ``proportional``: the margin of the closed part is released to the wallet, so the remaining
    position keeps the same collateral per unit and the same liquidation price.
    ``retained``: the position keeps all its margin (the guard adds the released margin back).
    """

    PROPORTIONAL = "proportional"
    RETAINED = "retained"


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """How one venue computes maintenance margin and liquidation."""

    name: str
    isolated_basis: MarginBasis
    cross_basis: MarginBasis
    fee_in_threshold: bool
    mmr_from_max_leverage: bool
    approximate: bool
    reduce_margin_policy: ReduceMarginPolicy
    summary: str

    def basis(self, isolated: bool) -> MarginBasis:
        """The maintenance-margin basis for an isolated or a cross position."""
        return self.isolated_basis if isolated else self.cross_basis


BINANCE = VenueProfile(
    name="binance",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Binance USDⓈ-M linear: MM on mark notional, bracket by notional at liquidation",
)
BYBIT = VenueProfile(
    name="bybit",
    isolated_basis=MarginBasis.ENTRY,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Bybit USDT linear: isolated MM on entry value, cross (UTA) on mark value",
)
OKX = VenueProfile(
    name="okx",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="OKX linear swaps: MM on mark value plus taker fee to close; tiers by size",
)
GATE = VenueProfile(
    name="gate",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Gate USDT linear: MM on mark value plus taker fee to close",
)
HYPERLIQUID = VenueProfile(
    name="hyperliquid",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=True,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Hyperliquid: MM = mark value / (2 x max leverage)",
)
GENERIC = VenueProfile(
    name="generic",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=True,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Any ccxt venue from maintenanceMarginPercentage (approximate)",
)
BITGET = VenueProfile(
    name="bitget",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Bitget USDT-M linear: MM on mark value less tier offset, plus taker fee to close",
)
BINGX = VenueProfile(
    name="bingx",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="BingX USDT-M perpetual: MM on notional less maintenance amount, plus taker fee",
)

MEXC = VenueProfile(
    name="mexc",
    isolated_basis=MarginBasis.ENTRY,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=True,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="MEXC USDT-M: isolated MM on open value, cross on mark (assumed), plus fee to close",
)
KUCOIN = VenueProfile(
    name="kucoin",
    isolated_basis=MarginBasis.ENTRY,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="KuCoin Futures USDT-M: isolated MM on entry value, cross on mark, plus fee to close",
)

DERIBIT = VenueProfile(
    name="deribit",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=True,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Deribit standard margin: cross per currency, MM on mark value, size-dependent rate "
    "(approximate)",
)
PHEMEX = VenueProfile(
    name="phemex",
    isolated_basis=MarginBasis.ENTRY,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=False,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Phemex USDT-M: isolated MM on the open (entry) value, cross on mark value",
)

KRAKENFUTURES = VenueProfile(
    name="krakenfutures",
    isolated_basis=MarginBasis.MARK,
    cross_basis=MarginBasis.MARK,
    fee_in_threshold=False,
    mmr_from_max_leverage=False,
    approximate=True,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="Kraken Futures: MM on mark value, levels by size; netting and haircuts not modelled",
)
BITMEX = VenueProfile(
    name="bitmex",
    isolated_basis=MarginBasis.ENTRY,
    cross_basis=MarginBasis.ENTRY,
    fee_in_threshold=True,
    mmr_from_max_leverage=False,
    approximate=True,
    reduce_margin_policy=ReduceMarginPolicy.PROPORTIONAL,
    summary="BitMEX: MM on position cost plus taker fee to close; funding term not modelled",
)

PROFILES: dict[str, VenueProfile] = {
    p.name: p
    for p in (
        BINANCE,
        BYBIT,
        OKX,
        GATE,
        HYPERLIQUID,
        MEXC,
        KUCOIN,
        DERIBIT,
        PHEMEX,
        BITGET,
        BINGX,
        KRAKENFUTURES,
        BITMEX,
        GENERIC,
    )
}

# ccxt exchange ids that share a profile with the venue they belong to.
_ALIASES: dict[str, str] = {
    "binanceusdm": "binance",
    "gateio": "gate",
    "okxus": "okx",
    "myokx": "okx",
    "kucoinfutures": "kucoin",
}


def get_profile(name: str) -> VenueProfile:
    """Look a profile up by venue name or ccxt exchange id; unknown names are an InputError.

    Use ``generic`` explicitly for venues without an exact profile.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    try:
        return PROFILES[key]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise InputError(
            f"venue: unknown venue {name!r}; known: {known} (use 'generic' for other ccxt venues)"
        ) from None
