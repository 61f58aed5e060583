"""The paper venue fills only at prices that traded, in the order a venue would (issue 14).

A taker fill (market order, triggered stop, liquidation) lands inside what its bar trades from
the tick it happens on to the bar's end, however large the spread, the impact and the market's
speed; on a tick series that is the tick's own price. On a tick, a triggered stop fills before
the liquidation check, so a stop that one bar takes past the liquidation and bankruptcy prices
closes its position first, and the account, not the insurance fund, pays what it lost past
bankruptcy. A stop watches the mark, or the last price when its ``workingType`` (or ccxt's
``triggerPriceType``, Bybit's ``triggerBy``) says so.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import MarginMode, Side, Tier
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.feeds import Bars
from riskguard.paper.fill_pricing import unbounded_taker_price
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.paper.price_path import Intrabar, SymbolState
from riskguard.paper.records import TriggerSource
from riskguard.paper.state import restore_state, venue_state
from riskguard.risk import PROFILES, assess_account, get_profile

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_006_400_000
"""Open of the first bar: a multiple of 8 h, so funding times are round."""
MINUTE_MS = 60_000
FLAT_TIERS = (Tier(0.0, math.inf, 0.005, max_leverage=100.0),)
STEEP = SlippageModel(base=0.01, per_million=0.0, speed_factor=2.0)
"""Impact far beyond any bar's range in a crash: 1% plus twice the |log move| since the close."""


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def klines(rows: list[tuple[float, float, float, float]]) -> Bars:
    """One-minute bars from ``(open, high, low, close)`` rows, the first opening at ``T0``."""
    return Bars(
        SYMBOL,
        tuple(T0 + i * MINUTE_MS for i in range(len(rows))),
        tuple(r[0] for r in rows),
        tuple(r[1] for r in rows),
        tuple(r[2] for r in rows),
        tuple(r[3] for r in rows),
        MINUTE_MS,
    )


def ticks(prices: list[float], step_ms: int = 1_000) -> Bars:
    """A tick series: ``prices[i]`` at ``T0 + i * step_ms``."""
    times = tuple(T0 + i * step_ms for i in range(len(prices)))
    values = tuple(prices)
    return Bars(SYMBOL, times, values, values, values, values, 0)


def market(**terms: Any) -> PaperMarket:
    values: dict[str, Any] = {"mark_half_life_s": 0.0, "funding_rate": 0.0, "max_leverage": 100.0}
    values.update(terms)
    return PaperMarket(SYMBOL, FLAT_TIERS, **values)


def state_of(venue: PaperVenue) -> SymbolState:
    return venue._symbols[SYMBOL]


# --- the remaining range of a bar ---------------------------------------------------------------


def test_remaining_range_is_what_the_bar_still_trades_from_the_current_tick() -> None:
    # Arrange: a bar 100 -> 90 -> 110 -> 105 (low first)
    venue = PaperVenue(
        get_profile("binance"),
        [market()],
        {SYMBOL: klines([(100.0, 110.0, 90.0, 105.0)])},
        intrabar=Intrabar.LOW_FIRST,
    )
    st_ = state_of(venue)
    seen = [st_.remaining_range()]

    # Act
    for offset in (15_000, 30_000, 45_000):
        venue.advance_to(T0 + offset)
        seen.append(st_.remaining_range())

    # Assert
    assert seen == [(90.0, 110.0), (90.0, 110.0), (105.0, 110.0), (105.0, 105.0)]


def test_remaining_range_before_the_first_tick_is_the_last_price_alone() -> None:
    # Arrange: a symbol that has not ticked yet
    st_ = SymbolState(market=market(), bars=klines([(100.0, 110.0, 90.0, 105.0)]))

    # Act / Assert
    assert st_.remaining_range() == (st_.last, st_.last)


# --- every fill inside its bar's traded range (property) -----------------------------------------


@dataclass(frozen=True)
class Step:
    """At ``at_ms`` after the start: a market order, or a stop-market on the open position."""

    at_ms: int
    kind: str  # "market" or "stop"
    side: str  # of a market order; a stop closes whatever position is open
    fraction: float  # market: of the largest size the leverage allows; stop: distance from last
    source: TriggerSource


@st.composite
def crash_bars(draw: st.DrawFn) -> Bars:
    """Random valid klines (or a tick series) with gaps between bars and moves up to ±35%."""
    count = draw(st.integers(min_value=2, max_value=8))
    tick_series = draw(st.booleans())
    move = st.floats(min_value=-0.35, max_value=0.35)
    wick = st.floats(min_value=0.0, max_value=0.3)
    price = 100.0
    rows = []
    for _ in range(count):
        open_ = price * math.exp(draw(st.floats(min_value=-0.1, max_value=0.1)))
        close = open_ * math.exp(draw(move))
        if tick_series:
            rows.append((close, close, close, close))
        else:
            high = max(open_, close) * math.exp(draw(wick))
            low = min(open_, close) * math.exp(-draw(wick))
            rows.append((open_, high, low, close))
        price = close
    if tick_series:
        return ticks([r[3] for r in rows], step_ms=MINUTE_MS // 4)
    return klines(rows)


@st.composite
def steps(draw: st.DrawFn, span_ms: int) -> list[Step]:
    drawn = draw(
        st.lists(
            st.builds(
                Step,
                at_ms=st.integers(min_value=1, max_value=span_ms),
                kind=st.sampled_from(["market", "stop", "stop"]),
                side=st.sampled_from(["buy", "sell"]),
                fraction=st.floats(min_value=0.001, max_value=0.5),
                source=st.sampled_from(["mark", "last"]),
            ),
            max_size=8,
        )
    )
    return sorted(drawn, key=lambda s: s.at_ms)


@dataclass
class Checked:
    """How many trades and liquidation records have been checked so far."""

    trades: int = 0
    liquidations: int = 0


def check_new_fills(venue: PaperVenue, bars: Bars, seen: Checked) -> None:
    """Every fill since the last check lies in its bar's [low, high] and in the remaining range.

    Fills happen at the current time: either on the tick just played or on an order placed now,
    so the venue's current tick is the one they happened on.
    """
    st_ = state_of(venue)
    rest = st_.ticks[st_.tick - 1 :]
    acc = venue.accounts["a"]
    fills = [(t.timestamp, t.side, t.price) for t in acc.trades[seen.trades :]]
    for trade in acc.trades[seen.trades :]:
        assert not trade.maker  # only taker fills here: market orders, stops, liquidations
    fills.extend(
        (record.time_ms, "sell" if record.side == "long" else "buy", record.fill_price)
        for record in venue.liquidations[seen.liquidations :]
    )
    for time_ms, side, price in fills:
        i = bars.index_at(time_ms)
        assert time_ms == venue.now_ms
        assert bars.lows[i] <= price <= bars.highs[i], (time_ms, side, price)
        assert min(rest) <= price <= max(rest), (time_ms, side, price, rest)
        # never better than the last price for the taker
        assert (price >= st_.last) if side == "buy" else (price <= st_.last)
    seen.trades = len(acc.trades)
    seen.liquidations = len(venue.liquidations)


def play_until(venue: PaperVenue, t_ms: int, bars: Bars, seen: Checked) -> None:
    """Advance tick by tick to ``t_ms``, checking the fills of every tick."""
    st_ = state_of(venue)
    while (nt := st_.next_tick_time()) is not None and nt <= t_ms:
        venue.advance_to(nt)
        check_new_fills(venue, bars, seen)
    venue.advance_to(t_ms)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_fill_and_liquidation_lies_within_what_its_bar_traded_from_its_tick(
    data: st.DataObject,
) -> None:
    # Arrange: random bars, walk, venue terms up to large slippage, and a random position
    bars = data.draw(crash_bars(), label="bars")
    span_ms = bars.times_ms[-1] + max(bars.bar_ms, 1) - 1 - T0
    profile = data.draw(st.sampled_from(sorted(PROFILES)), label="profile")
    intrabar = data.draw(st.sampled_from(Intrabar), label="intrabar")
    slippage = SlippageModel(
        base=data.draw(st.floats(0.0, 0.2), label="base"),
        per_million=data.draw(st.floats(0.0, 50.0), label="per_million"),
        speed_factor=data.draw(st.floats(0.0, 20.0), label="speed_factor"),
    )
    terms = market(
        spread=data.draw(st.floats(0.0, 0.09), label="spread"),
        slippage=slippage,
        mark_half_life_s=data.draw(st.sampled_from([0.0, 5.0, 30.0]), label="half_life"),
    )
    venue = PaperVenue(get_profile(profile), [terms], {SYMBOL: bars}, intrabar=intrabar)
    venue.add_account("a", 10_000.0)
    mode = data.draw(st.sampled_from(MarginMode), label="mode")
    leverage = data.draw(st.sampled_from([1.0, 5.0, 20.0, 50.0]), label="leverage")
    if mode is MarginMode.ISOLATED:
        venue.set_margin_mode("a", SYMBOL, mode)
    venue.set_leverage("a", SYMBOL, leverage)
    seen = Checked()
    side = data.draw(st.sampled_from(["buy", "sell"]), label="opening side")
    opening = data.draw(st.floats(0.05, 0.9), label="opening fraction")
    try:
        amount = opening * leverage * 10_000.0 / venue.last_price(SYMBOL)
        venue.create_order("a", SYMBOL, "market", side, amount, None)
    except ccxt.BaseError:
        pass
    check_new_fills(venue, bars, seen)
    plan = data.draw(steps(span_ms), label="steps")

    # Act / Assert: every tick's and every order's fills are checked as they happen
    for step in plan:
        play_until(venue, T0 + step.at_ms, bars, seen)
        last = venue.last_price(SYMBOL)
        try:
            if step.kind == "market":
                amount = step.fraction * leverage * 10_000.0 / last
                venue.create_order("a", SYMBOL, "market", step.side, amount, None)
            else:
                positions = list(venue.accounts["a"].positions.values())
                for position in positions:  # one at most: a one-way account, one symbol
                    long = position.side is Side.LONG
                    distance = step.fraction / 5
                    venue.create_order(
                        "a",
                        SYMBOL,
                        "market",
                        "sell" if long else "buy",
                        position.size,
                        None,
                        reduce_only=True,
                        trigger_price=last * (1 - distance if long else 1 + distance),
                        stop_loss=True,
                        trigger_source=step.source,
                    )
        except ccxt.BaseError:
            pass
        check_new_fills(venue, bars, seen)
    play_until(venue, bars.end_ms, bars, seen)


# --- one bar through the stop, the liquidation and the bankruptcy price --------------------------

CRASH = [
    (100_000.0, 100_000.0, 100_000.0, 100_000.0),  # the positions open here, at 100,000
    (100_000.0, 100_000.0, 80_000.0, 85_000.0),  # ticks 100,000, 100,000, 80,000, 85,000
]
"""The second bar crosses a long's stop (95,000), liquidation (about 90,500) and bankruptcy
(90,000) prices between two ticks: from 100,000 at 15 s to 80,000 at 30 s."""
LOW_TICK_MS = T0 + MINUTE_MS + 30_000


def test_one_bar_through_stop_liquidation_and_bankruptcy_fills_the_stop_first_at_a_cost() -> None:
    # Arrange: two 10x isolated longs of 1 BTC at 100,000; one has a stop-market at 95,000.
    venue = PaperVenue(
        get_profile("binance"),
        [market(spread=0.002, slippage=STEEP)],
        {SYMBOL: klines(CRASH)},
    )
    for account in ("stopped", "bare"):
        venue.add_account(account, 50_000.0)
        venue.set_margin_mode(account, SYMBOL, MarginMode.ISOLATED)
        venue.set_leverage(account, SYMBOL, 10.0)
        venue.create_order(account, SYMBOL, "market", "buy", 1.0, None)
    stop = venue.create_order(
        "stopped",
        SYMBOL,
        "market",
        "sell",
        1.0,
        None,
        reduce_only=True,
        trigger_price=95_000.0,
        stop_loss=True,
    )
    stopped, bare = venue.accounts["stopped"], venue.accounts["bare"]
    (figures,) = assess_account(venue.snapshot("stopped"), venue.profile).positions
    bankruptcy = figures.bankruptcy_price
    assert bankruptcy == pytest.approx(90_000.0, rel=1e-3)
    assert figures.liquidation_price is not None
    assert figures.liquidation_price > 85_000.0
    venue.advance_to(LOW_TICK_MS - 1)
    wallets = {a.id: a.wallet for a in (stopped, bare)}
    margin = stopped.positions[(SYMBOL, Side.LONG)].isolated_margin
    fund = venue.ledger.insurance_fund

    # Act: the tick at 80,000
    venue.advance_to(LOW_TICK_MS)

    # Assert: the stop fired and filled at the bar's low, not at touch plus impact ...
    (_, stop_fill) = stopped.trades
    assert stop.status == "closed"
    assert (stop_fill.order_id, stop_fill.timestamp, stop_fill.price) == (
        stop.id,
        LOW_TICK_MS,
        80_000.0,
    )
    assert unbounded_taker_price(state_of(venue), "sell", 1.0) < 50_000.0
    # ... before the liquidation check, which found only the position without a stop.
    (record,) = venue.liquidations
    assert (record.account, record.time_ms, record.fill_price) == ("bare", LOW_TICK_MS, 80_000.0)
    assert stopped.positions == {}
    assert bare.positions == {}
    # The stopped account pays the whole loss: 20,000 of PnL against 10,000 of margin, so its
    # wallet falls by the 10,000 past bankruptcy (and the stop's taker fee).
    assert margin == pytest.approx(10_000.0)
    assert stop_fill.realized_pnl == pytest.approx(-20_000.0)
    assert stopped.wallet == pytest.approx(wallets["stopped"] + margin - 20_000.0 - stop_fill.fee)
    assert wallets["stopped"] - stopped.wallet == pytest.approx(
        (bankruptcy - 80_000.0) + stop_fill.fee, rel=1e-3
    )
    # The liquidated account loses its margin only; the insurance fund pays the rest.
    assert record.shortfall == pytest.approx(10_000.0)
    assert record.fee == 0.0
    assert bare.wallet == pytest.approx(wallets["bare"])
    assert venue.ledger.insurance_fund == pytest.approx(fund - 10_000.0)
    assert venue.ledger.shortfall_covered == pytest.approx(10_000.0)


# --- which price a stop watches -----------------------------------------------------------------

LAGGING = market(mark_half_life_s=5.0)
"""The mark follows the last price with a 5 s half-life, so it lags a drop by a few ticks."""
DROP = [100_000.0] + [94_000.0] * 20
"""A tick series: the last price drops under a 95,000 stop at once (1 s ticks)."""


@pytest.mark.parametrize(
    ("params", "source"),
    [
        ({}, "mark"),
        ({"workingType": "MARK_PRICE"}, "mark"),
        ({"workingType": "CONTRACT_PRICE"}, "last"),
        ({"triggerPriceType": "mark"}, "mark"),
        ({"triggerPriceType": "last"}, "last"),
        ({"triggerBy": "MarkPrice"}, "mark"),
        ({"triggerBy": "LastPrice"}, "last"),
        ({"triggerBy": "last", "workingType": "CONTRACT_PRICE"}, "last"),
    ],
    ids=str,
)
def test_stop_triggers_on_the_last_price_only_when_its_params_say_so(
    params: dict[str, Any], source: str
) -> None:
    async def scenario() -> None:
        # Arrange: a long of 1 BTC at 100,000 with a stop at 95,000
        venue = PaperVenue(get_profile("binance"), [LAGGING], {SYMBOL: ticks(DROP)})
        venue.add_account("a", 50_000.0)
        ex = PaperExchange(venue, "a")
        await ex.create_order(SYMBOL, "market", "buy", 1.0)
        stop = await ex.create_order(
            SYMBOL,
            "market",
            "sell",
            1.0,
            None,
            {"stopLossPrice": 95_000.0, "reduceOnly": True, **params},
        )
        expected_working_type = "CONTRACT_PRICE" if source == "last" else "MARK_PRICE"
        assert stop["info"]["workingType"] == expected_working_type

        # Act: the first tick takes the last price under the stop; the mark lags above it
        venue.advance_to(T0 + 1_000)
        assert venue.last_price(SYMBOL) < 95_000.0 < venue.mark_price(SYMBOL)
        first = await ex.fetch_order(stop["id"], SYMBOL)

        # ... then play until the mark reaches it too
        t = T0 + 1_000
        while venue.mark_price(SYMBOL) > 95_000.0:
            t += 1_000
            venue.advance_to(t)
        later = await ex.fetch_order(stop["id"], SYMBOL)

        # Assert
        if source == "last":
            assert first["status"] == "closed"
            assert first["lastTradeTimestamp"] == T0 + 1_000
        else:
            assert first["status"] == "open"
            assert later["status"] == "closed"
            assert later["lastTradeTimestamp"] == t
        assert later["average"] == 94_000.0  # a tick series fills at the tick's price

    run(scenario())


def test_a_last_price_stop_already_crossed_by_the_last_price_is_refused_a_mark_stop_is_not() -> (
    None
):
    async def scenario() -> None:
        # Arrange: one tick into the drop, last 94,000 and the mark still above 95,000
        venue = PaperVenue(get_profile("binance"), [LAGGING], {SYMBOL: ticks(DROP)})
        venue.add_account("a", 50_000.0)
        ex = PaperExchange(venue, "a")
        await ex.create_order(SYMBOL, "market", "buy", 1.0)
        venue.advance_to(T0 + 1_000)
        assert venue.mark_price(SYMBOL) > 95_000.0
        params = {"stopLossPrice": 95_000.0, "reduceOnly": True}

        # Act / Assert
        with pytest.raises(ccxt.InvalidOrder, match=r"would trigger immediately \(last 94000"):
            await ex.create_order(
                SYMBOL, "market", "sell", 1.0, None, {**params, "workingType": "CONTRACT_PRICE"}
            )
        mark_stop = await ex.create_order(
            SYMBOL, "market", "sell", 1.0, None, {**params, "workingType": "MARK_PRICE"}
        )
        assert mark_stop["status"] == "open"

    run(scenario())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"workingType": "INDEX_PRICE"}, "workingType 'INDEX_PRICE' is not valid"),
        ({"workingType": "mark"}, "workingType 'mark' is not valid"),
        ({"triggerPriceType": "index"}, "triggerPriceType 'index' is not valid"),
        ({"triggerBy": "IndexPrice"}, "triggerBy 'IndexPrice' is not valid"),
        (
            {"workingType": "MARK_PRICE", "triggerPriceType": "last"},
            "the trigger price params disagree",
        ),
    ],
)
def test_an_unknown_or_contradictory_trigger_price_type_is_a_bad_request(
    params: dict[str, Any], message: str
) -> None:
    async def scenario() -> None:
        # Arrange
        venue = PaperVenue(get_profile("binance"), [LAGGING], {SYMBOL: ticks(DROP)})
        venue.add_account("a", 50_000.0)
        ex = PaperExchange(venue, "a")
        await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Act / Assert
        with pytest.raises(ccxt.BadRequest, match=message):
            await ex.create_order(
                SYMBOL,
                "market",
                "sell",
                1.0,
                None,
                {"stopLossPrice": 95_000.0, "reduceOnly": True, **params},
            )
        assert venue.open_orders("a", SYMBOL, trigger=True) == []

    run(scenario())


def test_the_venue_refuses_a_trigger_source_it_does_not_model() -> None:
    # Arrange
    venue = PaperVenue(get_profile("binance"), [LAGGING], {SYMBOL: ticks(DROP)})
    venue.add_account("a", 50_000.0)
    index: Any = "index"

    # Act / Assert
    with pytest.raises(ccxt.InvalidOrder, match="trigger source must be mark or last"):
        venue.create_order(
            "a", SYMBOL, "market", "buy", 1.0, None, trigger_price=120_000.0, trigger_source=index
        )


def test_a_last_price_stop_keeps_its_source_through_save_and_restore() -> None:
    # Arrange: a last-price stop on a saved and restored venue
    def fresh() -> PaperVenue:
        venue = PaperVenue(get_profile("binance"), [LAGGING], {SYMBOL: ticks(DROP)})
        venue.add_account("a", 50_000.0)
        return venue

    original = fresh()
    original.create_order("a", SYMBOL, "market", "buy", 1.0, None)
    original.create_order(
        "a",
        SYMBOL,
        "market",
        "sell",
        1.0,
        None,
        reduce_only=True,
        trigger_price=95_000.0,
        stop_loss=True,
        trigger_source="last",
    )
    restored = fresh()
    restore_state(restored, json.loads(json.dumps(venue_state(original))))

    # Act
    restored.advance_to(T0 + 1_000)

    # Assert: fired on the last price while the mark was still above the stop
    assert restored.mark_price(SYMBOL) > 95_000.0
    assert restored.accounts["a"].positions == {}


# --- tick series: a taker fills at the tick's price ----------------------------------------------


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_on_a_tick_series_a_market_order_fills_exactly_at_the_tick_price(side: str) -> None:
    async def scenario() -> None:
        # Arrange: a 9% spread and steep impact on a market that just moved 20%
        venue = PaperVenue(
            get_profile("binance"),
            [market(spread=0.09, slippage=STEEP)],
            {SYMBOL: ticks([100_000.0, 80_000.0, 80_000.0])},
        )
        venue.add_account("a", 50_000.0)
        venue.advance_to(T0 + 1_000)
        ex = PaperExchange(venue, "a")

        # Act
        order = await ex.create_order(SYMBOL, "market", side, 0.5)

        # Assert
        assert order["average"] == 80_000.0
        (trade,) = await ex.fetch_my_trades(SYMBOL)
        assert trade["price"] == 80_000.0

    run(scenario())


# --- inside a bar: spread and impact still count, up to the range --------------------------------


def test_inside_a_bar_spread_and_impact_apply_until_the_remaining_range_bounds_them() -> None:
    # Arrange: at the open of a bar that trades 99,000 to 101,000 (low first), a small impact
    # fits; a large one stops at the range's edge.
    bar = [(100_000.0, 101_000.0, 99_000.0, 100_500.0)]
    small = SlippageModel(base=0.001, per_million=0.0, speed_factor=0.0)
    venues = {
        name: PaperVenue(
            get_profile("binance"),
            [market(spread=0.0, slippage=slip)],
            {SYMBOL: klines(bar)},
            intrabar=Intrabar.LOW_FIRST,
        )
        for name, slip in (("small", small), ("steep", STEEP))
    }
    for venue in venues.values():
        venue.add_account("a", 50_000.0)

    # Act
    prices = {
        (name, side): venue.taker_fill_price(SYMBOL, side, 1.0)
        for name, venue in venues.items()
        for side in ("buy", "sell")
    }
    venues["steep"].advance_to(T0 + 30_000)  # at the high: only 100,500 to 101,000 is left
    late_sell = venues["steep"].taker_fill_price(SYMBOL, "sell", 1.0)

    # Assert
    assert prices[("small", "buy")] == pytest.approx(100_100.0)
    assert prices[("small", "sell")] == pytest.approx(99_900.0)
    assert prices[("steep", "buy")] == 101_000.0
    assert prices[("steep", "sell")] == 99_000.0
    assert late_sell == 100_500.0
