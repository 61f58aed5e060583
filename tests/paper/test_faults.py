"""Fault injection on the paper client: reproducible from its seed, and faithful to a real venue.

A fault decision (latency, error, partial fill, accepted-then-timed-out) must repeat exactly for
the same seed and call sequence, and the client must behave like a venue under it: an error
before the venue leaves no order, a timeout after the venue took the order leaves a filled
order that ``fetch_order`` finds by its client id, latency on a virtual clock lets the market
move while the order is in flight, and a stale-mark window freezes the mark the client sees.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.clock import VirtualClock
from riskguard.domain import Tier
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import (
    Decision,
    FaultConfig,
    FaultInjector,
    Latency,
    LatencyKind,
    MethodFaults,
    StaleMark,
)
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.risk import get_profile

SYMBOL = "BTC/USDT:USDT"
T0 = 1_700_006_400_000
STEP_MS = 1_000
ACCOUNT = "acct"

EVERYTHING = MethodFaults(
    latency=Latency(LatencyKind.LOGNORMAL, ms=200.0, sigma=0.8),
    timeout=0.1,
    unavailable=0.1,
    rate_limit=0.1,
    reject=0.1,
    partial_fill=0.3,
    accepted_timeout=0.1,
)
"""Every fault at once, each often enough that 60 calls show several of each."""

CALLS: list[tuple[str, bool]] = [
    ("create_order", True),
    ("fetch_positions", False),
    ("fetch_balance", False),
    ("cancel_order", False),
] * 15
"""A call sequence: (method, is_order)."""


def decision_key(d: Decision) -> tuple[Any, ...]:
    """Everything a decision decides, comparable across injectors."""
    error = None if d.error is None else (type(d.error), str(d.error))
    return (d.latency_s, error, d.accepted_then_timeout, d.fill_fraction)


def decide_all(seed: int, calls: list[tuple[str, bool]], account: str = ACCOUNT) -> list[Any]:
    """The decisions a fresh injector with ``seed`` makes for ``calls``."""
    injector = FaultInjector(FaultConfig(seed=seed, methods={"*": EVERYTHING}), account)
    return [decision_key(injector.decide(m, is_order=o)) for m, o in calls]


def tick_bars(prices: list[float]) -> Bars:
    times = tuple(T0 + i * STEP_MS for i in range(len(prices)))
    values = tuple(prices)
    return Bars(SYMBOL, times, values, values, values, values, 0)


def exact_market() -> PaperMarket:
    """Fills on the last price, mark equal to the last price."""
    return PaperMarket(
        SYMBOL,
        (Tier(0.0, math.inf, 0.005),),
        spread=0.0,
        slippage=SlippageModel(base=0.0, per_million=0.0, speed_factor=0.0),
        mark_half_life_s=0.0,
        funding_rate=0.0,
    )


def paper_client(
    prices: list[float], faults: FaultConfig | None = None
) -> tuple[PaperVenue, PaperExchange, VirtualClock]:
    """A funded account on ``prices`` with a client on a virtual clock that drives the venue."""
    venue = PaperVenue(get_profile("binance"), [exact_market()], {SYMBOL: tick_bars(prices)})
    venue.add_account(ACCOUNT, 1_000_000.0)
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return venue, PaperExchange(venue, ACCOUNT, clock=clock, faults=faults), clock


def order_faults(**fields: Any) -> FaultConfig:
    """Faults on create_order only."""
    return FaultConfig(seed=7, methods={"create_order": MethodFaults(**fields)})


# --- reproducibility ---------------------------------------------------------------------------


def test_same_seed_and_calls_give_the_same_decisions() -> None:
    # Act
    first = decide_all(42, CALLS)
    second = decide_all(42, CALLS)

    # Assert: identical, and the sequence really exercised every kind of fault.
    assert first == second
    errors = {key[1][0] for key in first if key[1] is not None}
    assert errors == {
        ccxt.RequestTimeout,
        ccxt.ExchangeNotAvailable,
        ccxt.RateLimitExceeded,
        ccxt.InvalidOrder,
    }
    assert any(key[2] for key in first)  # accepted then timed out
    assert any(key[3] < 1.0 for key in first)  # partial fill
    assert len({key[0] for key in first}) > 1  # latencies vary


def test_different_seed_gives_different_decisions() -> None:
    assert decide_all(42, CALLS) != decide_all(43, CALLS)


def test_each_method_draws_from_its_own_stream_whatever_else_is_called() -> None:
    # Arrange: the same create_order calls, alone and interleaved with other calls.
    alone = [("create_order", True)] * 20
    mixed = [
        call for pair in zip(alone, [("fetch_balance", False)] * 20, strict=True) for call in pair
    ]

    # Act
    orders_alone = decide_all(5, alone)
    orders_mixed = decide_all(5, mixed)[0::2]

    # Assert
    assert orders_alone == orders_mixed


def test_saved_random_state_restores_the_same_future_decisions() -> None:
    # Arrange: an injector part-way through a sequence, and a fresh one given its saved state.
    config = FaultConfig(seed=3, methods={"*": EVERYTHING})
    original = FaultInjector(config, ACCOUNT)
    for method, is_order in CALLS[:20]:
        original.decide(method, is_order=is_order)
    restored = FaultInjector(config, ACCOUNT)
    restored.restore(original.state())

    # Act
    rest = CALLS[20:]
    expected = [decision_key(original.decide(m, is_order=o)) for m, o in rest]
    actual = [decision_key(restored.decide(m, is_order=o)) for m, o in rest]

    # Assert
    assert actual == expected


def test_client_session_replays_identically_from_its_seed() -> None:
    async def session(seed: int) -> list[Any]:
        """Outcomes of a fixed call script under every fault: results and exceptions."""
        config = FaultConfig(seed=seed, methods={"*": EVERYTHING})
        venue, ex, clock = paper_client([100_000.0 + 10 * i for i in range(100)], config)
        log: list[Any] = []
        for i in range(30):
            try:
                order = await ex.create_order(
                    SYMBOL,
                    "market",
                    "buy" if i % 2 else "sell",
                    0.01,
                    None,
                    {"clientOrderId": f"c{i}"},
                )
                log.append(("order", order["status"], order["filled"], order["average"]))
            except ccxt.BaseError as exc:
                log.append(("error", type(exc).__name__))
            try:
                log.append(("balance", (await ex.fetch_balance())["total"]["USDT"]))
            except ccxt.BaseError as exc:
                log.append(("error", type(exc).__name__))
        log.append(("time", clock.now_ms(), venue.now_ms))
        return log

    # Act
    first = asyncio.run(session(11))
    again = asyncio.run(session(11))
    other = asyncio.run(session(12))

    # Assert
    assert first == again
    assert first != other


# --- faults as a venue shows them ----------------------------------------------------------------


def test_order_accepted_then_timed_out_exists_filled_on_the_venue() -> None:
    async def scenario() -> None:
        # Arrange: every create_order reaches the venue, then the reply is lost.
        venue, ex, _ = paper_client([100_000.0] * 5, order_faults(accepted_timeout=1.0))

        # Act / Assert: the caller sees a timeout...
        with pytest.raises(ccxt.RequestTimeout):
            await ex.create_order(SYMBOL, "market", "buy", 1.0, None, {"clientOrderId": "lost"})

        # ...yet the order is on the venue, filled, and the position exists.
        order = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "lost"})
        assert order["status"] == "closed"
        assert order["filled"] == pytest.approx(1.0)
        (pos,) = await ex.fetch_positions()
        assert (pos["side"], pos["contracts"]) == ("long", 1.0)
        # A blind retry with the same client id is refused instead of doubling the position.
        with pytest.raises(ccxt.DuplicateOrderId):
            await ex.create_order(SYMBOL, "market", "buy", 1.0, None, {"clientOrderId": "lost"})
        assert len(venue.accounts[ACCOUNT].orders) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("rate_limit", ccxt.RateLimitExceeded),
        ("unavailable", ccxt.ExchangeNotAvailable),
        ("timeout", ccxt.RequestTimeout),
        ("reject", ccxt.InvalidOrder),
    ],
)
def test_order_fault_before_the_venue_raises_its_ccxt_class_and_leaves_no_order(
    fault: str, error: type[Exception]
) -> None:
    async def scenario() -> None:
        # Arrange
        venue, ex, _ = paper_client([100_000.0] * 5, order_faults(**{fault: 1.0}))

        # Act
        with pytest.raises(error) as caught:
            await ex.create_order(SYMBOL, "market", "buy", 1.0, None, {"clientOrderId": "x"})

        # Assert: the exact class (RequestTimeout is not a subclass of the others), no order.
        assert type(caught.value) is error
        assert venue.accounts[ACCOUNT].orders == {}
        with pytest.raises(ccxt.OrderNotFound):
            await ex.fetch_order(None, SYMBOL, {"clientOrderId": "x"})
        assert await ex.fetch_positions() == []

    asyncio.run(scenario())


def test_read_method_faults_raise_but_order_only_faults_do_not_apply_to_reads() -> None:
    async def scenario() -> None:
        # Arrange: positions are rate limited; balance has only order faults configured.
        config = FaultConfig(
            methods={
                "fetch_positions": MethodFaults(rate_limit=1.0),
                "fetch_balance": MethodFaults(reject=1.0, partial_fill=1.0, accepted_timeout=1.0),
            }
        )
        _, ex, _ = paper_client([100_000.0] * 5, config)

        # Act / Assert
        with pytest.raises(ccxt.RateLimitExceeded):
            await ex.fetch_positions()
        balance = await ex.fetch_balance()
        assert balance["total"]["USDT"] == pytest.approx(1_000_000.0)

    asyncio.run(scenario())


def test_latency_lets_the_market_move_while_the_order_is_in_flight() -> None:
    async def scenario() -> None:
        # Arrange: 2 s round trip; the price moves from 100,000 to 101,000 one second in.
        venue, ex, clock = paper_client(
            [100_000.0, 101_000.0, 101_000.0, 101_000.0],
            order_faults(latency=Latency(LatencyKind.FIXED, ms=2_000.0)),
        )

        # Act
        order = await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Assert: the venue saw the order a second later and filled it at the later price.
        assert order["timestamp"] == T0 + 1_000
        assert order["average"] == 101_000.0
        assert clock.now_ms() == T0 + 2_000
        assert venue.now_ms == T0 + 2_000

    asyncio.run(scenario())


def test_latency_draws_follow_the_configured_distribution() -> None:
    # Arrange
    uniform = FaultInjector(
        FaultConfig(
            seed=1,
            methods={
                "*": MethodFaults(latency=Latency(LatencyKind.UNIFORM, low_ms=100, high_ms=300))
            },
        ),
        ACCOUNT,
    )
    fixed = FaultInjector(
        FaultConfig(methods={"*": MethodFaults(latency=Latency(LatencyKind.FIXED, ms=250))}),
        ACCOUNT,
    )

    # Act
    uniform_s = [uniform.decide("fetch_ticker").latency_s for _ in range(200)]
    fixed_s = {fixed.decide("fetch_ticker").latency_s for _ in range(20)}

    # Assert
    assert all(0.1 <= s <= 0.3 for s in uniform_s)
    assert max(uniform_s) - min(uniform_s) > 0.15
    assert fixed_s == {0.25}


def test_stale_mark_window_freezes_the_client_mark_while_the_venue_mark_moves() -> None:
    async def scenario() -> None:
        # Arrange: the price rises 1,000 a second; the client's mark is stale from 1 s to 4 s.
        prices = [100_000.0 + 1_000.0 * i for i in range(7)]
        window = StaleMark(SYMBOL, from_ms=T0 + 1_000, duration_ms=3_000)
        venue, ex, clock = paper_client(prices, FaultConfig(stale_marks=(window,)))
        await ex.create_order(SYMBOL, "market", "buy", 1.0)

        # Act
        before = (await ex.fetch_ticker(SYMBOL))["markPrice"]
        clock.advance_to(T0 + 1_000)
        frozen_at = (await ex.fetch_mark_price(SYMBOL))["markPrice"]
        clock.advance_to(T0 + 3_000)
        ticker_late = await ex.fetch_ticker(SYMBOL)
        (pos_late,) = await ex.fetch_positions()
        venue_late = venue.mark_price(SYMBOL)
        clock.advance_to(T0 + 4_000)
        after = (await ex.fetch_ticker(SYMBOL))["markPrice"]

        # Assert
        assert before == 100_000.0
        assert frozen_at == 101_000.0
        assert ticker_late["markPrice"] == 101_000.0
        assert ticker_late["last"] == 103_000.0
        assert pos_late["markPrice"] == 101_000.0
        assert venue_late == 103_000.0
        assert after == 104_000.0

    asyncio.run(scenario())


def test_partial_fill_fills_a_fraction_of_a_market_order_and_reports_the_rest() -> None:
    async def scenario() -> None:
        # Arrange: every order fills between 20% and 80%.
        _, ex, _ = paper_client(
            [100_000.0] * 5,
            order_faults(partial_fill=1.0, partial_fill_min=0.2, partial_fill_max=0.8),
        )

        # Act
        orders = [await ex.create_order(SYMBOL, "market", "buy", 1.0) for _ in range(10)]

        # Assert: each filled a fraction (to the amount step), the rest expired and is reported.
        fractions = [o["filled"] / o["amount"] for o in orders]
        assert all(0.2 - 0.001 <= f <= 0.8 for f in fractions)
        assert len(set(fractions)) > 1
        assert all(o["status"] == "expired" for o in orders)
        assert all(o["remaining"] == pytest.approx(o["amount"] - o["filled"]) for o in orders)
        (pos,) = await ex.fetch_positions()
        assert pos["contracts"] == pytest.approx(sum(o["filled"] for o in orders))

    asyncio.run(scenario())


def test_partly_filled_limit_order_rests_its_remainder_until_it_fills() -> None:
    async def scenario() -> None:
        # Arrange: exactly half of a marketable buy limit fills at once.
        venue, ex, clock = paper_client(
            [100_000.0, 100_400.0, 100_400.0],
            order_faults(partial_fill=1.0, partial_fill_min=0.5, partial_fill_max=0.5),
        )

        # Act
        order = await ex.create_order(SYMBOL, "limit", "buy", 1.0, 100_500.0)
        (resting,) = await ex.fetch_open_orders(SYMBOL)
        clock.advance_to(T0 + 1_000)
        done = await ex.fetch_order(order["id"], SYMBOL)

        # Assert: half filled as taker, the other half rested and filled at the limit as maker.
        assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.5, 0.5)
        assert resting["id"] == order["id"]
        assert (done["status"], done["filled"]) == ("closed", 1.0)
        assert [t["takerOrMaker"] for t in await ex.fetch_my_trades(SYMBOL)] == ["taker", "maker"]
        (pos,) = await ex.fetch_positions()
        assert pos["contracts"] == pytest.approx(1.0)
        assert venue.now_ms == T0 + 1_000

    asyncio.run(scenario())
