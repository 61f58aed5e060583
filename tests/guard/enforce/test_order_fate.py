"""Every order's fate is known before anything else is sent: real ccxt against the fake Binance
server over HTTP, with answers that never arrive and lookups that fail (issue 15, D1 to D3)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from riskguard.clock import to_datetime
from riskguard.domain import AccountSnapshot, Side
from riskguard.exchange.ccxt_account import snapshot_from_ccxt, tiers_from_ccxt
from riskguard.exchange.live import LiveExchange, RetryPolicy
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import Action, ActionKind, Level
from tests.contract.harness import BinanceUsdmFakeHarness
from tests.fakes.binance_usdm import InjectedError, service_unavailable

Body = Callable[[BinanceUsdmFakeHarness, LiveExchange], Awaitable[None]]


def run(body: Body) -> None:
    """``body`` against a started fake, with a client that does not retry its reads (each
    lookup is one request) and times out after 300 ms."""

    async def main() -> None:
        harness = BinanceUsdmFakeHarness()
        try:
            await harness.start()
            await harness.client.load_markets()
            port = LiveExchange(harness.ccxt_client, retry=RetryPolicy(attempts=1))
            await body(harness, port)
        finally:
            await harness.aclose()

    asyncio.run(main())


async def snapshot(h: BinanceUsdmFakeHarness) -> AccountSnapshot:
    client = h.client
    raw = await client.fetch_leverage_tiers([h.symbol])
    return snapshot_from_ccxt(
        account="guard",
        venue="binance",
        balance=await client.fetch_balance(),
        positions=await client.fetch_positions([h.symbol]),
        markets=client.markets,
        tiers={s: tiers_from_ccxt(rows) for s, rows in raw.items()},
        taken_at=to_datetime(h.venue.now_ms),
    )


def executor(
    h: BinanceUsdmFakeHarness, port: LiveExchange
) -> tuple[Executor, MemoryJournal, list[tuple[Level, str]]]:
    journal = MemoryJournal()
    alerts: list[tuple[Level, str]] = []
    return (
        Executor(
            port,
            account="guard",
            exchange_id="binanceusdm",
            journal=journal,
            clock=h.clock,
            alert=lambda level, message, _payload: alerts.append((level, message)),
            config=ExecutorConfig(prefix="rg", amount_steps={h.symbol: 0.001}),
        ),
        journal,
        alerts,
    )


def action(h: BinanceUsdmFakeHarness, kind: ActionKind, **fields: Any) -> Action:
    return Action(
        kind=kind,
        account="guard",
        symbol=h.symbol,
        side=Side.LONG,
        rule="test",
        level=Level.ACT,
        reason="test",
        **fields,
    )


def trigger_orders(h: BinanceUsdmFakeHarness) -> list[Any]:
    return list(h.venue.open_orders("guard", h.symbol, trigger=True))


def reduce_orders(h: BinanceUsdmFakeHarness) -> list[Any]:
    orders = h.venue.account("guard").orders.values()
    return [o for o in orders if o.reduce_only and o.trigger_price is None]


def test_d1_a_stop_accepted_while_the_client_timed_out_is_found_where_stops_live() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        await h.open_position("long", 0.1, 10, "cross")
        run_executor, journal, alerts = executor(h, port)
        hold = h.server.hold_next("/fapi/v1/algoOrder")
        h.ccxt_client.timeout = 300
        try:
            stop = action(h, ActionKind.PLACE_STOP, stop_price=90_000.0, target_size=0.1)
            (outcome,) = await run_executor.execute("p1", [(stop, [])], await snapshot(h))
        finally:
            hold.release()
        assert outcome.status == "sent"
        assert len(trigger_orders(h)) == 1, "the stop must not be placed twice"
        assert [e.kind for e in journal.entries()][-1] == "order_found"
        assert not [a for a in alerts if a[0] is Level.CRITICAL]

    run(body)


def test_d2_a_lookup_that_fails_is_not_a_no_and_the_order_is_not_sent_again() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        await h.open_position("long", 0.1, 10, "cross")
        run_executor, journal, alerts = executor(h, port)
        hold = h.server.hold_next("/fapi/v1/order")
        h.server.fail_next("/fapi/v1/order", service_unavailable(), times=10, method="GET")
        h.ccxt_client.timeout = 300
        try:
            reduce = action(h, ActionKind.REDUCE, size_before=0.1, target_size=0.05)
            (outcome,) = await run_executor.execute("p1", [(reduce, [0.05])], await snapshot(h))
        finally:
            hold.release()
        assert outcome.status == "unknown"
        assert len(reduce_orders(h)) == 1, "a filled order was sent again"
        (position,) = list(h.venue.account("guard").positions.values())
        assert position.size == pytest.approx(0.05)
        assert "order_unknown" in [e.kind for e in journal.entries()]
        assert any("unknown" in message for _, message in alerts)

    run(body)


def test_d3_no_half_size_retry_after_an_unknown_outcome() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        await h.open_position("long", 0.1, 10, "cross")
        run_executor, journal, alerts = executor(h, port)
        hold = h.server.hold_next("/fapi/v1/order")
        h.server.fail_next("/fapi/v1/order", service_unavailable(), times=10, method="GET")
        h.ccxt_client.timeout = 300
        try:
            reduce = action(h, ActionKind.REDUCE, size_before=0.1, target_size=0.04)
            await run_executor.execute("p1", [(reduce, [0.06])], await snapshot(h))
        finally:
            hold.release()
        intents = journal.entries("order_intent")
        assert [e.payload.get("retry") for e in intents] == [None]
        assert not any("half size" in message for _, message in alerts)
        assert sum(o.filled for o in reduce_orders(h)) == pytest.approx(0.06)

    run(body)


def test_a_definite_rejection_still_gets_one_try_at_half_size() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        await h.open_position("long", 0.1, 10, "cross")
        run_executor, journal, alerts = executor(h, port)
        # Binance's -2022 "ReduceOnly Order is rejected." (ccxt: InvalidOrder): a definite no.
        refused = InjectedError(400, '{"code": -2022, "msg": "ReduceOnly Order is rejected."}')
        h.server.fail_next("/fapi/v1/order", refused, method="POST")
        reduce = action(h, ActionKind.REDUCE, size_before=0.1, target_size=0.0)

        (outcome,) = await run_executor.execute("p1", [(reduce, [0.1])], await snapshot(h))

        intents = journal.entries("order_intent")
        assert [e.payload.get("retry") for e in intents] == [None, "half"]
        assert outcome.status == "sent"
        assert sum(o.filled for o in reduce_orders(h)) == pytest.approx(0.05)
        # Told once, as a fact: the half-size order was sent; no failure alert.
        [(level, message)] = alerts
        assert level is Level.ACT
        assert "order sent (status closed, filled 0.05" in message

    run(body)
