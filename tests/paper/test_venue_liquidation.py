"""Each venue's liquidation engine, as ``docs/venue_rules.md`` records it (issue 14, step 2).

- Hyperliquid: a market close for the full size while the equity is at least 2/3 of the
  maintenance margin; below that, a backstop liquidation: the liquidator vault takes the position
  and all its collateral (the whole cross wallet for cross) and any loss past bankruptcy, so the
  account ends at exactly 0, never below and never above.
- OKX: a position in its 3rd tier or higher is first reduced by two tiers and frozen for 60 s of
  venue time; the 1st and 2nd tiers, and a position below its lowest tier's threshold, are
  liquidated in full, the fund paying any loss past bankruptcy.
- Binance, Bybit, Gate, generic: a full liquidation; the insurance fund pays past bankruptcy.

Paths are tick series; markets have no spread, no slippage, and a mark equal to the last price,
so every close lands exactly on the tick's price.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from riskguard.domain import MarginMode, Side, Tier, TierUnit
from riskguard.paper.engine import PaperVenue
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.paper.venue_rules import rules_for
from riskguard.risk import get_profile, tiers_from_max_leverage

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_006_400_000
STEP_MS = 1_000
ACCOUNT = "acct"
ENTRY = 100_000.0
HL_TIERS = tiers_from_max_leverage([(0.0, 40.0)])
"""Hyperliquid at 40x max leverage: maintenance margin 1.25% of the mark value."""
OKX_TIERS = (
    Tier(0.0, 1.0, 0.004, unit=TierUnit.SIZE),
    Tier(1.0, 2.0, 0.006, unit=TierUnit.SIZE),
    Tier(2.0, 3.0, 0.01, unit=TierUnit.SIZE),
    Tier(3.0, math.inf, 0.015, unit=TierUnit.SIZE),
)
"""OKX-style position tiers by size (BTC): 1 BTC a tier, no maintenance amounts."""


def tick_time(index: int) -> int:
    return T0 + index * STEP_MS


def tick_bars(prices: Sequence[float]) -> Bars:
    times = tuple(tick_time(i) for i in range(len(prices)))
    values = tuple(float(p) for p in prices)
    return Bars(SYMBOL, times, values, values, values, values, 0)


def exact_market(tiers: tuple[Tier, ...], **terms: Any) -> PaperMarket:
    """Fills land on the last price, the mark is the last price, no funding, no trading fees."""
    values: dict[str, Any] = {
        "spread": 0.0,
        "slippage": SlippageModel(0.0, 0.0, 0.0),
        "mark_half_life_s": 0.0,
        "funding_rate": 0.0,
        "taker_fee": 0.0,
        "maker_fee": 0.0,
    }
    values.update(terms)
    return PaperMarket(SYMBOL, tiers, **values)


def venue_with_long(
    profile: str,
    prices: Sequence[float],
    tiers: tuple[Tier, ...],
    *,
    mode: MarginMode,
    size: float = 1.0,
    deposit: float = 50_000.0,
    taker_fee: float = 0.0,
) -> PaperVenue:
    """A venue on ``prices`` whose account holds a 10x long of ``size`` BTC opened at tick 0.

    ``taker_fee`` is the market's (OKX counts it in the liquidation threshold)."""
    venue = PaperVenue(
        get_profile(profile),
        [exact_market(tiers, taker_fee=taker_fee)],
        {SYMBOL: tick_bars(prices)},
    )
    venue.add_account(ACCOUNT, deposit)
    if mode is MarginMode.ISOLATED:
        venue.set_margin_mode(ACCOUNT, SYMBOL, mode)
    venue.set_leverage(ACCOUNT, SYMBOL, 10.0)
    venue.create_order(ACCOUNT, SYMBOL, "market", "buy", size, None)
    return venue


# --- Hyperliquid: market liquidation, and the backstop below 2/3 of maintenance ----------------
#
# A 10x isolated long of 1 BTC at 100,000 holds 10,000 of margin; at 40x max leverage its
# maintenance margin is 1.25% of the mark value. Liquidation below 91,139.24 (equity <= MM);
# backstop below 90,756.30 (equity < 2/3 MM).


def test_hyperliquid_isolated_liquidation_above_two_thirds_of_maintenance_is_a_market_close() -> (
    None
):
    # Arrange: the mark falls to 90,900: equity 900, maintenance 1,136.25, 2/3 of it 757.50
    venue = venue_with_long("hyperliquid", [ENTRY, 90_900.0], HL_TIERS, mode=MarginMode.ISOLATED)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet

    # Act
    venue.advance_to(tick_time(1))

    # Assert: closed on the book; the account keeps its equity less the liquidation fee
    (record,) = venue.liquidations
    assert (record.kind, record.size, record.fill_price) == ("market", 1.0, 90_900.0)
    assert record.fee == pytest.approx(0.005 * 90_900.0)
    assert acc.wallet == pytest.approx(wallet_before + 900.0 - record.fee)
    assert acc.positions == {}


def test_hyperliquid_isolated_backstop_takes_all_the_margin_left_so_the_position_ends_at_zero() -> (
    None
):
    # Arrange: the mark falls to 90,500: equity 500, below 2/3 of maintenance (754.17)
    venue = venue_with_long("hyperliquid", [ENTRY, 90_500.0], HL_TIERS, mode=MarginMode.ISOLATED)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet  # the cross wallet, without the isolated margin
    fund_before = venue.ledger.insurance_fund

    # Act
    venue.advance_to(tick_time(1))

    # Assert: the liquidator vault kept the 500 left (more than the 452.50 fee a market close
    # would charge); the cross wallet is untouched, so the position's equity ended at exactly 0.
    (record,) = venue.liquidations
    assert (record.kind, record.size, record.shortfall) == ("backstop", 1.0, 0.0)
    assert record.fee == pytest.approx(500.0)
    assert acc.wallet == pytest.approx(wallet_before, abs=1e-9)
    assert acc.positions == {}
    assert venue.ledger.insurance_fund == pytest.approx(fund_before + 500.0)


def test_hyperliquid_isolated_gap_past_bankruptcy_is_taken_by_the_vault_not_the_account() -> None:
    # Arrange: the price gaps to 80,000, 10,000 past the bankruptcy price (90,000)
    venue = venue_with_long("hyperliquid", [ENTRY, 80_000.0], HL_TIERS, mode=MarginMode.ISOLATED)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet

    # Act
    venue.advance_to(tick_time(1))

    # Assert
    (record,) = venue.liquidations
    assert record.kind == "backstop"
    assert record.shortfall == pytest.approx(10_000.0)
    assert record.shortfall_paid_by == "liquidator_vault"
    assert record.fee == 0.0
    assert acc.wallet == pytest.approx(wallet_before, abs=1e-9)
    assert venue.total_equity() == pytest.approx(wallet_before, abs=1e-9)


# A 10x cross long of 1 BTC at 100,000 on a 12,000 wallet: liquidation below 89,113.92,
# backstop below 88,739.50.


def test_hyperliquid_cross_backstop_takes_the_whole_cross_wallet() -> None:
    # Arrange: the mark falls to 88,500: equity 500, maintenance 1,106.25, 2/3 of it 737.50
    venue = venue_with_long(
        "hyperliquid", [ENTRY, 88_500.0], HL_TIERS, mode=MarginMode.CROSS, deposit=12_000.0
    )

    # Act
    venue.advance_to(tick_time(1))

    # Assert: the maintenance margin is not returned: the wallet ends at exactly 0
    (record,) = venue.liquidations
    assert (record.kind, record.margin_mode) == ("backstop", "cross")
    assert record.fee == pytest.approx(500.0)
    assert venue.accounts[ACCOUNT].wallet == pytest.approx(0.0, abs=1e-9)
    assert venue.total_equity() == pytest.approx(0.0, abs=1e-9)


def test_hyperliquid_cross_gap_past_bankruptcy_leaves_the_wallet_at_zero_not_below() -> None:
    # Arrange: a gap to 80,000: 8,000 past the cross account's bankruptcy price (88,000)
    venue = venue_with_long(
        "hyperliquid", [ENTRY, 80_000.0], HL_TIERS, mode=MarginMode.CROSS, deposit=12_000.0
    )

    # Act
    venue.advance_to(tick_time(1))

    # Assert
    (record,) = venue.liquidations
    assert (record.kind, record.shortfall_paid_by) == ("backstop", "liquidator_vault")
    assert record.shortfall == pytest.approx(8_000.0)
    assert venue.accounts[ACCOUNT].wallet == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("profile", ["binance", "bybit", "gate", "generic"])
def test_other_venues_close_in_full_and_the_account_keeps_what_is_left_after_the_fee(
    profile: str,
) -> None:
    # Arrange: the hyperliquid backstop case (1.25% maintenance; equity 500 at 90,500)
    tiers = (Tier(0.0, math.inf, 0.0125),)
    venue = venue_with_long(profile, [ENTRY, 90_500.0], tiers, mode=MarginMode.ISOLATED)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet

    # Act
    venue.advance_to(tick_time(1))

    # Assert: a market close; the account keeps 500 less the 452.50 fee
    (record,) = venue.liquidations
    assert (record.kind, record.size, record.shortfall) == ("market", 1.0, 0.0)
    assert record.fee == pytest.approx(452.5)
    assert acc.wallet == pytest.approx(wallet_before + 47.5)


@pytest.mark.parametrize("profile", ["binance", "bybit", "gate", "generic", "okx"])
def test_other_venues_gap_past_bankruptcy_is_paid_by_the_insurance_fund(profile: str) -> None:
    # Arrange
    tiers = (Tier(0.0, math.inf, 0.0125),)
    venue = venue_with_long(profile, [ENTRY, 80_000.0], tiers, mode=MarginMode.ISOLATED)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet
    fund_before = venue.ledger.insurance_fund

    # Act
    venue.advance_to(tick_time(1))

    # Assert
    (record,) = venue.liquidations
    assert (record.kind, record.shortfall_paid_by) == ("market", "insurance_fund")
    assert record.shortfall == pytest.approx(10_000.0)
    assert venue.ledger.insurance_fund == pytest.approx(fund_before - 10_000.0)
    assert acc.wallet == pytest.approx(wallet_before)


# --- OKX: partial liquidation from the 3rd tier ---------------------------------------------------
#
# A 10x isolated long of 2.5 BTC at 100,000 (25,000 of margin) sits in the 3rd tier (1%); OKX's
# threshold adds the 0.05% taker fee: liquidation below 90,955.03 (equity 2,250 at 90,900
# against 2,386.13). At the lowest tier's rates (0.4% + 0.05%) the threshold would be 1,022.63.

OKX_PATH = [ENTRY, ENTRY, 90_900.0] + [90_000.0] * 70
PARTIAL_MS = tick_time(2)


def okx_venue(prices: Sequence[float], size: float = 2.5) -> PaperVenue:
    return venue_with_long(
        "okx", prices, OKX_TIERS, mode=MarginMode.ISOLATED, size=size, taker_fee=0.0005
    )


def test_okx_third_tier_liquidation_first_reduces_the_position_by_two_tiers() -> None:
    # Arrange
    venue = okx_venue(OKX_PATH)
    acc = venue.accounts[ACCOUNT]
    wallet_before = acc.wallet

    # Act
    venue.advance_to(PARTIAL_MS)

    # Assert: 1.501 BTC closed at 90,900; 0.999 BTC (the largest step in the 1st tier) is left
    # with its share of the margin, frozen for 60 s.
    (record,) = venue.liquidations
    assert (record.kind, record.time_ms) == ("partial", PARTIAL_MS)
    assert record.size == pytest.approx(1.501)
    assert record.fill_price == 90_900.0
    pos = acc.positions[(SYMBOL, Side.LONG)]
    assert pos.size == pytest.approx(0.999)
    assert pos.isolated_margin == pytest.approx(25_000.0 * 0.999 / 2.5)
    assert pos.frozen_until_ms == PARTIAL_MS + 60_000
    closed_left = 25_000.0 * 1.501 / 2.5 - 1.501 * 9_100.0
    assert record.fee == pytest.approx(0.005 * 1.501 * 90_900.0)
    assert acc.wallet == pytest.approx(wallet_before + closed_left - record.fee)


def test_okx_partial_leaves_the_rest_frozen_until_the_recheck_then_liquidates_it_in_full() -> None:
    # Arrange: after the partial at 90,900 the price stays at 90,000, below the threshold of
    # the 0.999 BTC left (90,407)
    venue = okx_venue(OKX_PATH)
    acc = venue.accounts[ACCOUNT]
    venue.advance_to(PARTIAL_MS)

    # Act: a minute of venue time, less one tick
    venue.advance_to(PARTIAL_MS + 59_000)
    during = list(venue.liquidations)
    held = acc.positions[(SYMBOL, Side.LONG)].size

    # Act: the re-check
    venue.advance_to(PARTIAL_MS + 60_000)

    # Assert: untouched while frozen, then closed in full: it is in the 1st tier now
    assert [r.kind for r in during] == ["partial"]
    assert held == pytest.approx(0.999)
    (_, full) = venue.liquidations
    assert (full.kind, full.time_ms) == ("market", PARTIAL_MS + 60_000)
    assert full.size == pytest.approx(0.999)
    assert acc.positions == {}


def test_okx_recheck_delay_is_the_venue_rule() -> None:
    # Arrange / Act / Assert: the rule the tests above rely on, as data
    rules = rules_for("okx")
    assert (rules.partial_from_tier, rules.partial_tiers_down) == (2, 2)
    assert rules.recheck_delay_ms == 60_000


@pytest.mark.parametrize(("size", "price"), [(0.5, 90_300.0), (1.5, 90_500.0)])
def test_okx_first_and_second_tier_positions_are_liquidated_in_full(
    size: float, price: float
) -> None:
    # Arrange: a fall just past the threshold of a 1st-tier (90,407) or 2nd-tier (90,589)
    # position, where the equity still covers the lowest tier's threshold
    venue = okx_venue([ENTRY, ENTRY, price], size=size)

    # Act
    venue.advance_to(tick_time(2))

    # Assert
    (record,) = venue.liquidations
    assert (record.kind, record.size) == ("market", size)
    assert venue.accounts[ACCOUNT].positions == {}


def test_okx_third_tier_position_below_its_lowest_tier_threshold_is_liquidated_in_full() -> None:
    # Arrange: a gap to 80,000: equity -25,000, below any tier's threshold
    venue = okx_venue([ENTRY, ENTRY, 80_000.0])

    # Act
    venue.advance_to(tick_time(2))

    # Assert
    (record,) = venue.liquidations
    assert (record.kind, record.size) == ("market", 2.5)
    assert record.shortfall == pytest.approx(25_000.0)
    assert record.shortfall_paid_by == "insurance_fund"


def test_okx_cross_partial_reduces_the_high_tier_position_and_freezes_the_account() -> None:
    # Arrange: a 10x cross long of 2.5 BTC on a 32,000 wallet (31,875 after the opening fee);
    # at 88,000 the equity is 1,875 against a threshold of 2.5 x 88,000 x 1.05% = 2,310, and
    # above the 990 it would be at the lowest tier's rates. Then the price falls to 86,000,
    # where the 0.999 BTC left is below its threshold (the equity is below zero).
    venue = venue_with_long(
        "okx",
        [ENTRY, ENTRY, 88_000.0] + [86_000.0] * 70,
        OKX_TIERS,
        mode=MarginMode.CROSS,
        size=2.5,
        deposit=32_000.0,
        taker_fee=0.0005,
    )
    acc = venue.accounts[ACCOUNT]

    # Act
    venue.advance_to(tick_time(2) + 59_000)
    during = list(venue.liquidations)
    held = acc.positions[(SYMBOL, Side.LONG)]
    held_size, frozen_until = held.size, held.frozen_until_ms
    venue.advance_to(tick_time(2) + 60_000)

    # Assert: one partial down to 0.999 BTC (in the 1st tier), the account left alone for a
    # minute, then the rest liquidated in full with the fund paying past bankruptcy
    (partial,) = during
    assert (partial.kind, partial.margin_mode) == ("partial", "cross")
    assert partial.size == pytest.approx(1.501)
    assert held_size == pytest.approx(0.999)
    assert frozen_until == tick_time(2) + 60_000
    (_, full) = venue.liquidations
    assert (full.kind, full.time_ms, full.size) == ("market", tick_time(2) + 60_000, 0.999)
    assert full.shortfall > 0
    assert acc.wallet == pytest.approx(0.0, abs=1e-9)


# --- the same slow fall on every venue ----------------------------------------------------------


@pytest.mark.parametrize("profile", ["binance", "bybit", "gate", "generic", "okx"])
def test_a_third_tier_position_is_partially_liquidated_only_on_okx(profile: str) -> None:
    # Arrange: 2.5 BTC in the 3rd size tier, the price falling 0.1% a second to 85,000
    path = [ENTRY * 0.999**i for i in range(int(math.log(0.85) / math.log(0.999)) + 1)]
    venue = venue_with_long(profile, path, OKX_TIERS, mode=MarginMode.ISOLATED, size=2.5)

    # Act
    venue.advance_to(tick_time(len(path) - 1))

    # Assert
    kinds = [r.kind for r in venue.liquidations]
    assert kinds[0] == ("partial" if profile == "okx" else "market")
    if profile != "okx":
        assert kinds == ["market"]
        assert venue.liquidations[0].size == 2.5
