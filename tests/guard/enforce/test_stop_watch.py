"""A stop of the guard's that fires, or vanishes, is told: real ccxt against the fake Binance
server, where a fired stop (an algo order) names the plain order it placed and carries no fill.

The chaos suite found it: stops that fired in a crash sold 28,825 and 12,934 units and nobody
was told, because the guard only ever told the orders it sent itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from riskguard.exchange.live import LiveExchange, RetryPolicy
from riskguard.guard.enforce.quirks import OrderQuirks, quirks_for
from riskguard.guard.enforce.stop_watch import WatchedStop, settle_stops
from riskguard.guard.rules.base import ActionKind, Level
from tests.contract.harness import BinanceUsdmFakeHarness
from tests.fakes.binance_usdm import service_unavailable
from tests.guard.enforce.test_order_fate import action, executor, snapshot

Told = list[tuple[str, Mapping[str, Any], Level, str, Mapping[str, Any]]]
Body = Callable[[BinanceUsdmFakeHarness, LiveExchange], Awaitable[None]]


def run(body: Body) -> None:
    async def main() -> None:
        harness = BinanceUsdmFakeHarness()
        try:
            await harness.start()
            await harness.client.load_markets()
            await body(harness, LiveExchange(harness.ccxt_client, retry=RetryPolicy(attempts=1)))
        finally:
            await harness.aclose()

    asyncio.run(main())


async def place_stop(
    h: BinanceUsdmFakeHarness, port: LiveExchange, watched: dict[str, WatchedStop]
) -> str:
    """A long of 0.1 BTC with the guard's stop at 90,000, watched as the executor watches."""
    await h.open_position("long", 0.1, 10, "cross")
    run_executor, _, _ = executor(h, port)
    run_executor.watched = watched
    stop = action(h, ActionKind.PLACE_STOP, stop_price=90_000.0, target_size=0.1)
    (outcome,) = await run_executor.execute("p1", [(stop, [])], await snapshot(h))
    assert outcome.status == "sent"
    (cid,) = outcome.client_ids
    assert cid in watched
    return cid


async def settle(
    h: BinanceUsdmFakeHarness,
    port: LiveExchange,
    watched: dict[str, WatchedStop],
    *,
    listed: bool = True,
    quirks: OrderQuirks | None = None,
) -> Told:
    """``listed=False``: the open-orders list lagged and shows no stop at all."""
    told: Told = []
    rows = await h.client.fetch_open_orders(h.symbol, None, None, {"trigger": True})
    open_ids = {r["clientOrderId"] for r in rows} if listed else set()
    await settle_stops(
        port,
        quirks or quirks_for("binanceusdm"),
        watched,
        open_ids,
        "guard",
        lambda *fact: told.append(fact),
        lambda *_a, **_k: None,
    )
    return told


def test_a_stop_that_fires_is_told_with_what_it_filled() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        watched: dict[str, WatchedStop] = {}
        cid = await place_stop(h, port, watched)
        await h.set_price(85_000.0)

        [(kind, payload, level, message, alert)] = await settle(h, port, watched)

        assert kind == "order_found"
        assert payload["after"] == "fired"
        assert payload["filled"] == pytest.approx(0.1)  # from the order the algo order placed
        assert level is Level.ACT
        assert cid in message
        assert "fired" in message
        assert alert["figures"]["filled"] == pytest.approx(0.1)
        assert watched == {}

    run(body)


def test_a_stop_cancelled_by_someone_else_is_told_once() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        watched: dict[str, WatchedStop] = {}
        cid = await place_stop(h, port, watched)
        await h.client.cancel_order(watched[cid].order_id, h.symbol, {"trigger": True})

        [(kind, payload, level, message, _)] = await settle(h, port, watched)
        again = await settle(h, port, watched)

        assert (kind, payload["after"], level) == ("order_found", "gone", Level.WARN)
        assert "not by the guard" in message
        assert again == []

    run(body)


def test_without_the_placed_order_a_fired_stop_says_its_fill_is_unknown() -> None:
    # Binance's algo order carries no executed quantity: only the plain order it placed does.
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        watched: dict[str, WatchedStop] = {}
        await place_stop(h, port, watched)
        await h.set_price(85_000.0)
        blind = replace(quirks_for("binanceusdm"), fired_order_id_field=None)

        [(_, payload, level, message, _)] = await settle(h, port, watched, quirks=blind)

        assert (payload["after"], level) == ("gone", Level.WARN)
        assert "does not say how much it filled" in message

    run(body)


def test_a_fired_stop_whose_placed_order_cannot_be_read_is_told_when_it_can() -> None:
    # Found by make chaos in CI: the stop fired, the read of the order it placed failed (503),
    # and the guard told "the venue does not say how much it filled" and forgot the stop.
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        watched: dict[str, WatchedStop] = {}
        cid = await place_stop(h, port, watched)
        await h.set_price(85_000.0)
        h.server.fail_next("/fapi/v1/order", service_unavailable(), method="GET")

        first = await settle(h, port, watched)
        second = await settle(h, port, watched)

        assert first == []
        assert cid not in watched
        [(_, payload, level, _, _)] = second
        assert (payload["after"], payload["filled"], level) == (
            "fired",
            pytest.approx(0.1),
            Level.ACT,
        )

    run(body)


def test_an_open_stop_is_left_alone_and_a_failed_lookup_is_tried_again() -> None:
    async def body(h: BinanceUsdmFakeHarness, port: LiveExchange) -> None:
        watched: dict[str, WatchedStop] = {}
        cid = await place_stop(h, port, watched)
        assert await settle(h, port, watched, listed=False) == []  # looked up: still open
        assert cid in watched
        await h.set_price(85_000.0)
        h.server.fail_next("/fapi/v1/algoOrder", service_unavailable(), method="GET")

        failed_lookup = await settle(h, port, watched)
        later = await settle(h, port, watched)

        assert failed_lookup == []
        assert cid not in watched  # told by the second settle
        assert [payload["after"] for _, payload, *_ in later] == ["fired"]

    run(body)
