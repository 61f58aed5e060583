"""The paper venue's engine: liquidation, shortfall, orders, funding and margin, as on a venue.

Price paths are hand-built tick series (``Bars`` with ``bar_ms == 0``) so every test knows the
exact price of every tick. Most markets here have no spread, no slippage and a mark equal to the
last price (``mark_half_life_s=0``), so a fill lands exactly on the tick's price; the tests that
need a realistic fill or a lagging mark say so.

Liquidation is checked against the risk core: the engine must liquidate a position on the first
tick whose mark crosses the liquidation price ``riskguard.risk.assess_account`` gives for the
position as it stands, on every venue profile, isolated and cross, long and short.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.domain import MarginMode, Side, Tier
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.risk import (
    PROFILES,
    MarginBasis,
    assess_account,
    get_profile,
    schedule_for,
    tiers_from_max_leverage,
    with_cumulative_amounts,
)

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_006_400_000
"""First tick of every path: a multiple of 8 h (and of a minute), so funding times are round."""
STEP_MS = 1_000
ENTRY = 100_000.0
ACCOUNT = "acct"
FLAT_TIERS = (Tier(0.0, math.inf, 0.005),)
NO_SLIPPAGE = SlippageModel(base=0.0, per_million=0.0, speed_factor=0.0)
STEP_TIERS = with_cumulative_amounts(
    [
        Tier(0.0, 95_000.0, 0.004, max_leverage=50.0),
        Tier(95_000.0, 105_000.0, 0.005, max_leverage=25.0),
        Tier(105_000.0, math.inf, 0.01, max_leverage=20.0),
    ]
)
"""Brackets around a 1 BTC position at 100,000: entry in the middle bracket, a long's
liquidation price in the lower one, a short's in the upper one."""
CROSSING = 1e-7
"""How far (as a fraction of price) the ticks either side of a liquidation price lie from it."""


def tick_time(index: int, step_ms: int = STEP_MS) -> int:
    """Time of tick ``index`` of a path built by :func:`tick_bars`."""
    return T0 + index * step_ms


def tick_bars(prices: Sequence[float], step_ms: int = STEP_MS) -> Bars:
    """A tick series: ``prices[i]`` at ``tick_time(i)``."""
    times = tuple(tick_time(i, step_ms) for i in range(len(prices)))
    values = tuple(float(p) for p in prices)
    return Bars(SYMBOL, times, values, values, values, values, 0)


def exact_market(tiers: tuple[Tier, ...] = FLAT_TIERS, **terms: Any) -> PaperMarket:
    """A market whose taker fills land on the last price and whose mark is the last price."""
    values: dict[str, Any] = {
        "spread": 0.0,
        "slippage": NO_SLIPPAGE,
        "mark_half_life_s": 0.0,
        "funding_rate": 0.0,
    }
    values.update(terms)
    return PaperMarket(SYMBOL, tiers, **values)


def make_venue(
    prices: Sequence[float],
    market: PaperMarket | None = None,
    *,
    profile: str = "binance",
    deposit: float = 50_000.0,
    hedge_mode: bool = False,
    step_ms: int = STEP_MS,
) -> PaperVenue:
    """A venue on ``prices`` with one funded account, ``ACCOUNT``; the first tick is played."""
    market = market or exact_market()
    venue = PaperVenue(get_profile(profile), [market], {SYMBOL: tick_bars(prices, step_ms)})
    venue.add_account(ACCOUNT, deposit, hedge_mode=hedge_mode)
    return venue


def open_position(
    venue: PaperVenue,
    mode: MarginMode,
    side: Side,
    *,
    amount: float = 1.0,
    leverage: float = 10.0,
    account: str = ACCOUNT,
) -> None:
    """Set the margin mode and leverage, then open ``amount`` on ``side`` with a market order."""
    if mode is not venue.margin_mode_of(venue.account(account), SYMBOL):
        venue.set_margin_mode(account, SYMBOL, mode)
    venue.set_leverage(account, SYMBOL, leverage)
    venue.create_order(
        account, SYMBOL, "market", "buy" if side is Side.LONG else "sell", amount, None
    )


def liquidation_price_now(venue: PaperVenue, account: str = ACCOUNT) -> float:
    """The risk core's liquidation price for the account's one position, as it stands now."""
    (figures,) = assess_account(venue.snapshot(account), venue.profile).positions
    assert figures.liquidation_price is not None
    return figures.liquidation_price


def crossing_path(lp: float, side: Side) -> list[float]:
    """Entry, halfway, just short of ``lp``, just past it, and further past: ticks 0 to 4."""
    s = side.sign
    before = lp * (1 + s * CROSSING)
    after = lp * (1 - s * CROSSING)
    return [ENTRY, (ENTRY + before) / 2, before, after, after * (1 - s * 0.01)]


def venue_crossing_liquidation(
    profile: str, mode: MarginMode, side: Side, market: PaperMarket, deposit: float = 12_000.0
) -> tuple[PaperVenue, float]:
    """A venue holding a 10x position whose path steps through its liquidation price at tick 3.

    A probe venue finds the liquidation price after entry (fees and margin included); the real
    venue replays the same entry on a path through that price. Returns the venue and the price.
    """
    probe = make_venue([ENTRY], market, profile=profile, deposit=deposit)
    open_position(probe, mode, side)
    lp = liquidation_price_now(probe)
    venue = make_venue(crossing_path(lp, side), market, profile=profile, deposit=deposit)
    open_position(venue, mode, side)
    return venue, lp


def run(coro: Any) -> Any:
    """Run one async scenario to completion."""
    return asyncio.run(coro)


# --- liquidation happens exactly where the risk core says -------------------------------------


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("mode", list(MarginMode))
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_liquidation_happens_on_first_tick_past_risk_core_liquidation_price(
    profile: str, mode: MarginMode, side: Side
) -> None:
    # Arrange: a 10x position, and a path stepping through its liquidation price at tick 3.
    venue, lp_at_entry = venue_crossing_liquidation(profile, mode, side, exact_market())

    # Act: play up to the tick just short of the liquidation price.
    venue.advance_to(tick_time(2))
    lp_before = liquidation_price_now(venue)

    # Assert: the mark is on the safe side and nothing happened.
    assert side.sign * (venue.mark_price(SYMBOL) - lp_before) > 0
    assert venue.liquidations == []
    assert (SYMBOL, side) in venue.accounts[ACCOUNT].positions

    # Act: the first tick past it.
    venue.advance_to(tick_time(3))

    # Assert: liquidated on that tick, at the figure the risk core gave.
    (record,) = venue.liquidations
    assert record.time_ms == tick_time(3)
    assert (record.side, record.margin_mode) == (side.value, mode.value)
    assert side.sign * (record.mark_price - lp_before) < 0
    assert record.liquidation_price == pytest.approx(lp_before, rel=1e-12)
    assert lp_before == pytest.approx(lp_at_entry, rel=1e-12)
    assert venue.accounts[ACCOUNT].positions == {}


TIER_CASES = [
    (profile, mode)
    for profile in sorted(PROFILES)
    for mode in MarginMode
    # Bybit (isolated) and BitMEX charge a position on its entry value: its tier never moves with
    # the mark.
    if PROFILES[profile].basis(mode is MarginMode.ISOLATED) is MarginBasis.MARK
]


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize(("profile", "mode"), TIER_CASES)
def test_tiered_liquidation_uses_the_bracket_at_the_liquidation_price(
    profile: str, mode: MarginMode, side: Side
) -> None:
    # Arrange: entry in the middle bracket; the liquidation price lies in another one.
    venue, lp = venue_crossing_liquidation(profile, mode, side, exact_market(STEP_TIERS))
    pos = venue.accounts[ACCOUNT].positions[(SYMBOL, side)]
    schedule = schedule_for(venue.domain_position(pos), venue.profile)
    assert schedule.index_at(pos.entry_price) == 1
    assert schedule.index_at(lp) == (0 if side is Side.LONG else 2)

    # Act
    venue.advance_to(tick_time(2))
    untouched = list(venue.liquidations)
    venue.advance_to(tick_time(3))

    # Assert
    assert untouched == []
    (record,) = venue.liquidations
    assert record.time_ms == tick_time(3)
    assert record.liquidation_price == pytest.approx(lp, rel=1e-12)


@pytest.mark.parametrize(
    ("profile", "side", "tiers", "entry", "leverage", "expected"),
    [
        # RISK_MATH.md worked numbers: 1 BTC, isolated, margin = entry notional / leverage.
        ("binance", Side.LONG, (Tier(0.0, math.inf, 0.005, 50.0),), ENTRY, 10.0, 90_402.01),
        ("binance", Side.SHORT, (Tier(0.0, math.inf, 0.005, 50.0),), ENTRY, 10.0, 109_502.49),
        ("bybit", Side.LONG, FLAT_TIERS, 20_000.0, 50.0, 19_700.0),
        ("bybit", Side.SHORT, FLAT_TIERS, 20_000.0, 50.0, 20_300.0),
        ("okx", Side.LONG, (Tier(0.0, math.inf, 0.004),), ENTRY, 10.0, 90_406.83),
        ("gate", Side.SHORT, (Tier(0.0, math.inf, 0.004),), ENTRY, 10.0, 109_507.22),
        ("hyperliquid", Side.LONG, tiers_from_max_leverage([(0.0, 40.0)]), ENTRY, 10.0, 91_139.24),
        (
            "hyperliquid",
            Side.SHORT,
            tiers_from_max_leverage([(0.0, 40.0)]),
            ENTRY,
            10.0,
            108_641.98,
        ),
    ],
)
def test_isolated_liquidation_matches_worked_example(
    profile: str,
    side: Side,
    tiers: tuple[Tier, ...],
    entry: float,
    leverage: float,
    expected: float,
) -> None:
    # Arrange: ticks 1e-5 either side of the documented liquidation price.
    s = side.sign
    path = [entry, expected * (1 + s * 1e-5), expected * (1 - s * 1e-5)]
    venue = make_venue(path, exact_market(tiers), profile=profile)
    open_position(venue, MarginMode.ISOLATED, side, leverage=leverage)

    # Act
    venue.advance_to(tick_time(1))
    before = list(venue.liquidations)
    venue.advance_to(tick_time(2))

    # Assert
    assert before == []
    (record,) = venue.liquidations
    assert record.time_ms == tick_time(2)
    assert record.liquidation_price == pytest.approx(expected, abs=0.01)


def test_liquidation_waits_for_the_lagging_mark_not_the_last_price() -> None:
    # Arrange: an isolated long; the last price drops 1% past its liquidation price and stays,
    # while the mark (half-life 5 s) follows it down over several ticks.
    market = exact_market(mark_half_life_s=5.0)
    probe = make_venue([ENTRY], market)
    open_position(probe, MarginMode.ISOLATED, Side.LONG)
    lp = liquidation_price_now(probe)
    path = [ENTRY] + [lp * 0.99] * 20
    venue = make_venue(path, market)
    open_position(venue, MarginMode.ISOLATED, Side.LONG)

    # Act: play tick by tick, noting the mark before each liquidation check.
    marks_seen: list[float] = []
    for i in range(1, len(path)):
        venue.advance_to(tick_time(i))
        if venue.liquidations:
            break
        marks_seen.append(venue.mark_price(SYMBOL))

    # Assert: ticks with the last price past the liquidation price but the mark above it did
    # not liquidate; the first tick whose mark crossed did.
    (record,) = venue.liquidations
    assert len(marks_seen) >= 2
    assert all(mark > lp for mark in marks_seen)
    assert record.mark_price <= lp
    assert record.time_ms == tick_time(len(marks_seen) + 1)
    assert record.liquidation_price == pytest.approx(lp, rel=1e-12)


# --- shortfall: only a gap past the bankruptcy price leaves one ----------------------------------


def realistic_market() -> PaperMarket:
    """Default spread, slippage and fees; the mark equals the last price."""
    return PaperMarket(SYMBOL, (Tier(0.0, math.inf, 0.005, 50.0),), mark_half_life_s=0.0)


def test_isolated_gap_past_bankruptcy_records_shortfall_paid_by_insurance_not_cross_wallet() -> (
    None
):
    # Arrange: 10x isolated long on a 50,000 account; the price gaps 20% in one tick.
    venue = make_venue([ENTRY, ENTRY, 80_000.0], realistic_market())
    open_position(venue, MarginMode.ISOLATED, Side.LONG)
    acc = venue.accounts[ACCOUNT]
    venue.advance_to(tick_time(1))
    wallet_before = acc.wallet
    fund_before = venue.ledger.insurance_fund

    # Act
    venue.advance_to(tick_time(2))

    # Assert
    (record,) = venue.liquidations
    assert record.bankruptcy_price is not None
    assert record.fill_price < record.bankruptcy_price
    assert record.shortfall > 0
    assert record.fee == 0.0
    assert venue.ledger.insurance_fund == pytest.approx(fund_before - record.shortfall, rel=1e-12)
    assert venue.ledger.shortfall_covered == pytest.approx(record.shortfall, rel=1e-12)
    assert acc.wallet == pytest.approx(wallet_before, rel=1e-12)
    assert acc.positions == {}


def test_cross_gap_past_bankruptcy_records_shortfall_and_leaves_wallet_at_zero() -> None:
    # Arrange: 10x cross long on a 12,000 account; the price gaps 20% in one tick.
    venue = make_venue([ENTRY, ENTRY, 80_000.0], realistic_market(), deposit=12_000.0)
    open_position(venue, MarginMode.CROSS, Side.LONG)
    fund_before = venue.ledger.insurance_fund

    # Act
    venue.advance_to(tick_time(2))

    # Assert
    (record,) = venue.liquidations
    assert record.shortfall > 0
    assert venue.ledger.insurance_fund == pytest.approx(fund_before - record.shortfall, rel=1e-12)
    assert venue.accounts[ACCOUNT].wallet == pytest.approx(0.0, abs=1e-6)
    assert venue.total_equity() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("mode", list(MarginMode))
def test_slow_move_through_liquidation_leaves_no_shortfall(mode: MarginMode) -> None:
    # Arrange: a 10x long; the price falls 0.02% a tick, well past the liquidation price.
    path = [ENTRY * (1 - 0.0002) ** i for i in range(700)]
    venue = make_venue(path, realistic_market(), deposit=12_000.0)
    open_position(venue, mode, Side.LONG)
    fund_before = venue.ledger.insurance_fund

    # Act
    venue.advance_to(venue.end_ms)

    # Assert: closed above the bankruptcy price; the venue kept a fee and paid nothing.
    (record,) = venue.liquidations
    assert record.bankruptcy_price is not None
    assert record.fill_price > record.bankruptcy_price
    assert record.shortfall == 0.0
    assert record.fee > 0
    assert venue.ledger.shortfall_covered == 0.0
    assert venue.ledger.insurance_fund == pytest.approx(fund_before + record.fee, rel=1e-12)


# --- orders ------------------------------------------------------------------------------------


def test_reduce_only_order_with_no_position_is_rejected_and_opens_nothing() -> None:
    async def scenario() -> None:
        # Arrange
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)

        # Act / Assert
        with pytest.raises(ccxt.InvalidOrder):
            await ex.create_order(SYMBOL, "market", "sell", 1.0, None, {"reduceOnly": True})
        assert await ex.fetch_positions() == []
        assert venue.accounts[ACCOUNT].orders == {}

    run(scenario())


def test_reduce_only_order_on_the_side_that_would_add_is_rejected() -> None:
    async def scenario() -> None:
        # Arrange: a long of 1
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Act / Assert: a reduce-only buy would add to the long.
        with pytest.raises(ccxt.InvalidOrder):
            await ex.create_order(SYMBOL, "market", "buy", 1.0, None, {"reduceOnly": True})
        (pos,) = await ex.fetch_positions()
        assert (pos["side"], pos["contracts"]) == ("long", 1.0)

    run(scenario())


def test_reduce_only_order_larger_than_position_closes_it_without_flipping() -> None:
    async def scenario() -> None:
        # Arrange
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Act
        order = await ex.create_order(SYMBOL, "market", "sell", 3.0, None, {"reduceOnly": True})

        # Assert
        assert order["filled"] == pytest.approx(1.0)
        assert order["status"] == "closed"
        assert await ex.fetch_positions() == []

    run(scenario())


def test_duplicate_client_order_id_raises_duplicate_order_id() -> None:
    async def scenario() -> None:
        # Arrange
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "c1"})

        # Act / Assert
        with pytest.raises(ccxt.DuplicateOrderId):
            await ex.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "c1"})
        assert len(venue.accounts[ACCOUNT].orders) == 1
        (pos,) = await ex.fetch_positions()
        assert pos["contracts"] == pytest.approx(0.1)

    run(scenario())


def test_stop_loss_triggers_on_the_mark_and_is_listed_only_as_a_trigger_order() -> None:
    async def scenario() -> None:
        # Arrange: a long with a stop at 95,000; the last price drops to 94,000 at once while
        # the mark (half-life 5 s) takes several ticks to get there.
        market = exact_market(mark_half_life_s=5.0)
        venue = make_venue([ENTRY] + [94_000.0] * 20, market)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.create_order(SYMBOL, "market", "buy", 1.0)
        stop = await ex.create_order(
            SYMBOL, "market", "sell", 1.0, None, {"stopLossPrice": 95_000.0, "reduceOnly": True}
        )

        # Assert: listed with trigger=True only.
        assert await ex.fetch_open_orders(SYMBOL) == []
        (listed,) = await ex.fetch_open_orders(SYMBOL, None, None, {"trigger": True})
        assert listed["id"] == stop["id"]
        assert listed["stopLossPrice"] == 95_000.0

        # Act: the first tick puts the last price under the stop, not the mark.
        venue.advance_to(tick_time(1))
        assert venue.last_price(SYMBOL) < 95_000.0 < venue.mark_price(SYMBOL)
        assert (await ex.fetch_order(stop["id"], SYMBOL))["status"] == "open"

        # Act: play until the mark reaches the stop.
        i = 1
        while venue.mark_price(SYMBOL) > 95_000.0:
            i += 1
            venue.advance_to(tick_time(i))

        # Assert: fired on that tick, closing the long.
        fired = await ex.fetch_order(stop["id"], SYMBOL)
        assert fired["status"] == "closed"
        assert fired["lastTradeTimestamp"] == tick_time(i)
        assert fired["filled"] == pytest.approx(1.0)
        assert await ex.fetch_positions() == []
        assert await ex.fetch_open_orders(SYMBOL, None, None, {"trigger": True}) == []

    run(scenario())


def test_limit_order_rests_until_crossed_then_fills_at_its_price_as_maker() -> None:
    async def scenario() -> None:
        # Arrange
        market = exact_market()
        venue = make_venue([ENTRY, 99_500.0, 98_900.0], market)
        ex = PaperExchange(venue, ACCOUNT)

        # Act: a buy limit under the market rests.
        order = await ex.create_order(SYMBOL, "limit", "buy", 0.5, 99_000.0)
        (resting,) = await ex.fetch_open_orders(SYMBOL)
        venue.advance_to(tick_time(1))
        still = await ex.fetch_order(order["id"], SYMBOL)
        venue.advance_to(tick_time(2))
        filled = await ex.fetch_order(order["id"], SYMBOL)
        (trade,) = await ex.fetch_my_trades(SYMBOL)

        # Assert
        assert resting["id"] == order["id"]
        assert still["status"] == "open"
        assert filled["status"] == "closed"
        assert filled["average"] == 99_000.0
        assert trade["takerOrMaker"] == "maker"
        assert trade["fee"]["rate"] == market.maker_fee
        assert trade["fee"]["cost"] == pytest.approx(0.5 * 99_000.0 * market.maker_fee)
        assert await ex.fetch_open_orders(SYMBOL) == []

    run(scenario())


def test_resting_limit_orders_hold_margin_so_together_they_cannot_overdraw_the_account() -> None:
    async def scenario() -> None:
        # Arrange: 10,000 at 10x; one resting buy for 0.9 BTC at 99,000 holds 8,910.
        venue = make_venue([ENTRY, ENTRY, 98_000.0], deposit=10_000.0)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.set_leverage(10, SYMBOL)
        await ex.create_order(SYMBOL, "limit", "buy", 0.9, 99_000.0)
        free = (await ex.fetch_balance())["free"]["USDT"]

        # Act / Assert: a second one does not fit in what is left.
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order(SYMBOL, "limit", "buy", 0.9, 99_000.0)
        venue.advance_to(tick_time(2))

        # Assert: only the first filled.
        assert free == pytest.approx(10_000.0 - 0.9 * 99_000.0 / 10, rel=1e-12)
        (pos,) = await ex.fetch_positions()
        assert pos["contracts"] == pytest.approx(0.9)

    run(scenario())


def test_hedge_mode_keeps_long_and_short_legs_apart() -> None:
    async def scenario() -> None:
        # Arrange
        venue = make_venue([ENTRY] * 3, hedge_mode=True)
        ex = PaperExchange(venue, ACCOUNT)

        # Act: open both legs, then close the long only.
        await ex.create_order(SYMBOL, "market", "buy", 1.0, None, {"positionSide": "LONG"})
        await ex.create_order(SYMBOL, "market", "sell", 0.4, None, {"positionSide": "SHORT"})
        both = {p["side"]: p["contracts"] for p in await ex.fetch_positions()}
        await ex.create_order(
            SYMBOL, "market", "sell", 1.0, None, {"positionSide": "LONG", "reduceOnly": True}
        )
        after = {p["side"]: p["contracts"] for p in await ex.fetch_positions()}

        # Assert
        assert both == pytest.approx({"long": 1.0, "short": 0.4})
        assert after == pytest.approx({"short": 0.4})

    run(scenario())


def test_hedge_mode_close_order_larger_than_its_leg_closes_only_that_leg() -> None:
    # Arrange: a long leg of 1 and a short leg of 0.4.
    venue = make_venue([ENTRY] * 3, hedge_mode=True)
    venue.create_order(ACCOUNT, SYMBOL, "market", "buy", 1.0, None, position_side=Side.LONG)
    venue.create_order(ACCOUNT, SYMBOL, "market", "sell", 0.4, None, position_side=Side.SHORT)
    fees_before = venue.ledger.fees

    # Act: SELL on the LONG leg for 3 (no reduceOnly flag).
    order = venue.create_order(
        ACCOUNT, SYMBOL, "market", "sell", 3.0, None, position_side=Side.LONG
    )

    # Assert: the trade reports and pays for what was closed, and the short leg is untouched.
    acc = venue.accounts[ACCOUNT]
    assert order.filled == pytest.approx(1.0)
    assert acc.trades[-1].amount == pytest.approx(1.0)
    assert venue.ledger.fees - fees_before == pytest.approx(1.0 * ENTRY * 0.0005)
    assert set(acc.positions) == {(SYMBOL, Side.SHORT)}
    assert acc.positions[(SYMBOL, Side.SHORT)].size == pytest.approx(0.4)
    with pytest.raises(ccxt.InvalidOrder):
        venue.create_order(ACCOUNT, SYMBOL, "market", "sell", 1.0, None, position_side=Side.LONG)


# --- funding -----------------------------------------------------------------------------------


def test_positive_funding_is_paid_by_longs_to_shorts_at_its_interval() -> None:
    # Arrange: funding every minute at +0.01%; a long and a short of 2 BTC each.
    market = exact_market(funding_rate=0.0001, funding_interval_ms=60_000)
    venue = make_venue([ENTRY, ENTRY, ENTRY, ENTRY, ENTRY], market, step_ms=30_000)
    venue.add_account("short", 50_000.0)
    venue.create_order(ACCOUNT, SYMBOL, "market", "buy", 2.0, None)
    venue.create_order("short", SYMBOL, "market", "sell", 2.0, None)
    long_acc, short_acc = venue.accounts[ACCOUNT], venue.accounts["short"]
    long_0, short_0 = long_acc.wallet, short_acc.wallet

    # Act
    venue.advance_to(tick_time(1, 30_000))  # 30 s: before the interval
    long_30s, short_30s = long_acc.wallet, short_acc.wallet
    venue.advance_to(tick_time(2, 30_000))  # 60 s: funding time
    long_60s, short_60s = long_acc.wallet, short_acc.wallet
    venue.advance_to(tick_time(4, 30_000))  # 120 s: the next one

    # Assert
    payment = 2.0 * ENTRY * 0.0001
    assert (long_30s, short_30s) == (long_0, short_0)
    assert long_60s == pytest.approx(long_0 - payment, rel=1e-12)
    assert short_60s == pytest.approx(short_0 + payment, rel=1e-12)
    assert long_acc.wallet == pytest.approx(long_0 - 2 * payment, rel=1e-12)
    assert short_acc.wallet == pytest.approx(short_0 + 2 * payment, rel=1e-12)
    assert venue.ledger.funding == pytest.approx(0.0, abs=1e-9)
    assert venue.next_funding_ms(SYMBOL) == T0 + 180_000


# --- margin ------------------------------------------------------------------------------------


def test_isolated_partial_close_releases_margin_proportionally_and_keeps_liquidation_price() -> (
    None
):
    # Arrange: 2 BTC isolated at 10x: 20,000 of margin.
    venue = make_venue([ENTRY] * 3)
    open_position(venue, MarginMode.ISOLATED, Side.LONG, amount=2.0)
    acc = venue.accounts[ACCOUNT]
    pos = acc.positions[(SYMBOL, Side.LONG)]
    lp_before = liquidation_price_now(venue)
    wallet_before = acc.wallet

    # Act: close a quarter.
    venue.create_order(ACCOUNT, SYMBOL, "market", "sell", 0.5, None, reduce_only=True)

    # Assert: a quarter of the margin came back (less the closing fee); the price stayed.
    fee = 0.5 * ENTRY * 0.0005
    assert pos.isolated_margin == pytest.approx(15_000.0, rel=1e-12)
    assert acc.wallet == pytest.approx(wallet_before + 5_000.0 - fee, rel=1e-12)
    assert liquidation_price_now(venue) == pytest.approx(lp_before, rel=1e-12)


def test_lowering_isolated_leverage_moves_margin_in_and_liquidation_price_away() -> None:
    # Arrange: 1 BTC isolated at 10x: 10,000 of margin.
    venue = make_venue([ENTRY] * 3)
    open_position(venue, MarginMode.ISOLATED, Side.LONG)
    acc = venue.accounts[ACCOUNT]
    pos = acc.positions[(SYMBOL, Side.LONG)]
    lp_before = liquidation_price_now(venue)
    wallet_before = acc.wallet

    # Act
    venue.set_leverage(ACCOUNT, SYMBOL, 5.0)

    # Assert: margin for 5x is 20,000, taken from the wallet.
    assert pos.isolated_margin == pytest.approx(20_000.0, rel=1e-12)
    assert acc.wallet == pytest.approx(wallet_before - 10_000.0, rel=1e-12)
    assert liquidation_price_now(venue) < lp_before - 9_000.0


def test_lowering_leverage_without_margin_for_both_hedge_legs_changes_nothing() -> None:
    # Arrange: isolated long and short legs of 1 BTC at 10x on a 35,000 account.
    venue = make_venue([ENTRY] * 3, hedge_mode=True, deposit=35_000.0)
    venue.set_margin_mode(ACCOUNT, SYMBOL, MarginMode.ISOLATED)
    venue.set_leverage(ACCOUNT, SYMBOL, 10.0)
    venue.create_order(ACCOUNT, SYMBOL, "market", "buy", 1.0, None, position_side=Side.LONG)
    venue.create_order(ACCOUNT, SYMBOL, "market", "sell", 1.0, None, position_side=Side.SHORT)
    acc = venue.accounts[ACCOUNT]
    before = (acc.wallet, {k: (p.isolated_margin, p.leverage) for k, p in acc.positions.items()})

    # Act: 5x needs 10,000 more per leg, 20,000 in all; under 15,000 is free.
    with pytest.raises(ccxt.InsufficientFunds):
        venue.set_leverage(ACCOUNT, SYMBOL, 5.0)

    # Assert
    after = (acc.wallet, {k: (p.isolated_margin, p.leverage) for k, p in acc.positions.items()})
    assert after == before


def test_add_and_reduce_margin_move_money_between_wallet_and_isolated_position() -> None:
    async def scenario() -> None:
        # Arrange
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.set_margin_mode("isolated", SYMBOL)
        await ex.set_leverage(10, SYMBOL)
        await ex.create_order(SYMBOL, "market", "buy", 1.0)
        lp_before = liquidation_price_now(venue)

        # Act
        added = await ex.add_margin(SYMBOL, 2_000.0)
        lp_added = liquidation_price_now(venue)
        reduced = await ex.reduce_margin(SYMBOL, 2_000.0)

        # Assert
        assert added["total"] == pytest.approx(12_000.0)
        assert lp_added < lp_before
        assert reduced["total"] == pytest.approx(10_000.0)
        assert liquidation_price_now(venue) == pytest.approx(lp_before, rel=1e-12)
        with pytest.raises(ccxt.BadRequest):
            await ex.reduce_margin(SYMBOL, 5_000.0)  # more than the initial margin allows

    run(scenario())


def test_set_margin_mode_with_an_open_position_is_rejected() -> None:
    async def scenario() -> None:
        # Arrange: a cross position.
        venue = make_venue([ENTRY] * 3)
        ex = PaperExchange(venue, ACCOUNT)
        await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Act
        with pytest.raises(ccxt.OperationRejected) as caught:
            await ex.set_margin_mode("isolated", SYMBOL)

        # Assert: refused because of the position, not because the mode was already set.
        assert not isinstance(caught.value, ccxt.MarginModeAlreadySet)
        (pos,) = await ex.fetch_positions()
        assert pos["marginMode"] == "cross"

    run(scenario())


def test_two_clients_on_one_account_see_the_same_state() -> None:
    async def scenario() -> None:
        # Arrange: a bot and a guard on one account.
        venue = make_venue([ENTRY] * 3)
        bot = PaperExchange(venue, ACCOUNT)
        guard = PaperExchange(venue, ACCOUNT)

        # Act
        order = await bot.create_order(SYMBOL, "market", "buy", 1.0, None, {"clientOrderId": "b"})
        seen = await guard.fetch_order(None, SYMBOL, {"clientOrderId": "b"})
        guard_positions = await guard.fetch_positions()
        await guard.create_order(SYMBOL, "market", "sell", 1.0, None, {"reduceOnly": True})

        # Assert
        assert seen["id"] == order["id"]
        assert [(p["side"], p["contracts"]) for p in guard_positions] == [("long", 1.0)]
        assert await bot.fetch_positions() == []
        assert await bot.fetch_balance() == await guard.fetch_balance()

    run(scenario())


def test_a_position_reduced_many_times_keeps_whole_steps_and_closes_to_nothing() -> None:
    """Float drift once left a one-step position as 0.9999998 of a step: no order could close
    it (an order rounds down to zero steps) and it sat open until the venue liquidated it."""
    market = exact_market(amount_step=1e-6, min_amount=1e-6)
    venue = make_venue([77.3] * 5, market, deposit=1_000_000.0)
    venue.advance_to(tick_time(0))
    open_position(venue, MarginMode.ISOLATED, Side.LONG, amount=1293.661234, leverage=20)
    for part in (1.541597, 2.213393, 1.75131, 0.983723, 3.48651, 10.898531, 1000.001):
        venue.create_order(ACCOUNT, SYMBOL, "market", "sell", part, None, reduce_only=True)
    (pos,) = venue.account(ACCOUNT).positions.values()
    steps = pos.size / 1e-6
    assert steps == round(steps)  # on the grid, not a hair below it
    venue.create_order(ACCOUNT, SYMBOL, "market", "sell", pos.size, None, reduce_only=True)
    assert venue.account(ACCOUNT).positions == {}
