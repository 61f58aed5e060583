"""The fake Binance USDⓈ-M server itself: signing, error codes, hooks and its two ways to run.

The exchange contract suite (``tests/contract``, harness ``binanceusdm-fake``) checks that a real
ccxt client trades correctly against the fake; these tests pin what the fake promises besides:
that it rejects what Binance rejects, answers with Binance's codes, and that its test hooks
(request log, held requests, injected failures) behave as documented.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from riskguard.exchange.live import LiveExchange
from tests.contract.harness import BinanceUsdmFakeHarness
from tests.fakes.binance_faults import PartialFill, StaleAnswer, Timeout
from tests.fakes.binance_usdm import (
    service_unavailable,
    timestamp_outside_recv_window,
    too_many_requests,
)

SYMBOL = "BTC/USDT:USDT"


def run(test: Callable[[BinanceUsdmFakeHarness], Awaitable[None]]) -> None:
    """Run ``test`` against a started harness (server and ccxt client) in a fresh loop."""

    async def main() -> None:
        harness = BinanceUsdmFakeHarness()
        try:
            await harness.start()
            await harness.client.load_markets()
            await test(harness)
        finally:
            await harness.aclose()

    asyncio.run(main())


async def raw_get(url: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body text of an unsigned GET, bypassing ccxt."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, dict(response.headers), await response.text()


async def other_client(h: BinanceUsdmFakeHarness, **credentials: str) -> Any:
    client = await h.second_client()
    for key, value in credentials.items():
        setattr(client, key, value)
    await client.load_markets()
    return client


def test_wrong_secret_is_refused_with_binance_signature_error_and_places_nothing() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        forger = await other_client(h, secret="not-the-secret")

        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await forger.create_order(SYMBOL, "market", "buy", 0.01, None)

        assert h.venue.account("guard").orders == {}

    run(body)


def test_unknown_api_key_is_refused_with_code_2015() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        stranger = await other_client(h, apiKey="someone-else")

        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await stranger.fetch_balance()

    run(body)


def test_request_signed_outside_the_recv_window_raises_invalid_nonce() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        h.server.clock_skew_ms = 60_000  # the exchange's clock runs a minute ahead of ours

        with pytest.raises(ccxt.InvalidNonce):
            await h.ccxt_client.fetch_positions()

    run(body)


def test_live_adapter_resyncs_its_clock_after_invalid_nonce_and_the_read_succeeds() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        h.server.clock_skew_ms = 60_000  # the exchange's clock runs a minute ahead of ours
        assert isinstance(h.client, LiveExchange)

        rows = await h.client.fetch_positions()

        assert isinstance(rows, list)
        assert h.client.resyncs == 1
        assert abs(h.ccxt_client.options["timeDifference"] + 60_000) < 5_000
        paths = [r.path for r in h.server.requests]
        assert paths.count("/fapi/v1/time") == 1

    run(body)


def test_request_log_keeps_params_and_drops_the_signature() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        await h.client.set_leverage(7, SYMBOL)

        logged = h.server.requests[-1]
        assert (logged.method, logged.path) == ("POST", "/fapi/v1/leverage")
        assert logged.params["leverage"] == "7"
        assert logged.params["symbol"] == "BTCUSDT"
        assert "timestamp" in logged.params
        assert "signature" not in logged.params

    run(body)


def test_error_codes_map_as_on_fapi_binance_com_only_with_the_client_patch() -> None:
    # -2019 is in ccxt's linear-only table: the patched client sees InsufficientFunds, an
    # unpatched one pointed at the same local URL gets a bare ExchangeError.
    async def body(h: BinanceUsdmFakeHarness) -> None:
        unpatched = ccxt.binanceusdm(
            {"apiKey": h.server.api_key, "secret": h.server.secret, "timeout_on_exit": 0}
        )
        unpatched.urls["api"] = dict(h.ccxt_client.urls["api"])
        try:
            unpatched.markets = h.ccxt_client.markets
            unpatched.markets_by_id = h.ccxt_client.markets_by_id
            unpatched.symbols = h.ccxt_client.symbols
            too_big = 10.0  # 1,000,000 USDT at 20x on a 10,000 USDT account

            with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
                await h.client.create_order(SYMBOL, "market", "buy", too_big, None)
            with pytest.raises(ccxt.ExchangeError, match="-2019") as plain:
                await unpatched.create_order(SYMBOL, "market", "buy", too_big, None)
            assert not isinstance(plain.value, ccxt.InsufficientFunds)
        finally:
            await unpatched.close()

    run(body)


def test_plain_order_endpoint_refuses_stop_market_as_binance_does_since_algo_orders() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        with pytest.raises(ccxt.ExchangeError, match="-4120"):
            await h.ccxt_client.fapiPrivatePostOrder(
                {
                    "symbol": "BTCUSDT",
                    "side": "SELL",
                    "type": "STOP_MARKET",
                    "quantity": "0.01",
                    "stopPrice": "90000",
                }
            )

    run(body)


@pytest.mark.parametrize(
    ("params", "source", "working"),
    [
        ({}, "last", "CONTRACT_PRICE"),  # Binance's default: the contract (last) price
        ({"workingType": "CONTRACT_PRICE"}, "last", "CONTRACT_PRICE"),
        ({"workingType": "MARK_PRICE"}, "mark", "MARK_PRICE"),
    ],
)
def test_a_stop_watches_the_price_its_working_type_names(
    params: dict[str, str], source: str, working: str
) -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.1, 10, "cross")

        placed = await h.client.create_order(
            SYMBOL,
            "market",
            "sell",
            0.1,
            None,
            {"stopLossPrice": 90_000, "reduceOnly": True, **params},
        )

        (order,) = h.venue.open_orders("guard", SYMBOL, trigger=True)
        assert order.trigger_source == source
        assert placed["info"]["workingType"] == working

    run(body)


def test_an_unknown_working_type_is_refused_like_binance() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.1, 10, "cross")

        with pytest.raises(ccxt.BadRequest, match="workingType"):
            await h.client.create_order(
                SYMBOL,
                "market",
                "sell",
                0.1,
                None,
                {"stopLossPrice": 90_000, "reduceOnly": True, "workingType": "INDEX_PRICE"},
            )

        assert h.venue.open_orders("guard", SYMBOL, trigger=True) == []

    run(body)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        pytest.param(service_unavailable(), ccxt.ExchangeNotAvailable, id="503"),
        pytest.param(timestamp_outside_recv_window(), ccxt.InvalidNonce, id="1021"),
        pytest.param(too_many_requests(), ccxt.DDoSProtection, id="429"),
    ],
)
def test_injected_failure_answers_the_next_request_only_and_spares_the_venue(
    error: Any, raised: type[Exception]
) -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        h.server.fail_next("/fapi/v1/order", error, method="POST")

        with pytest.raises(raised):
            await h.client.create_order(SYMBOL, "market", "buy", 0.01, None)
        assert h.venue.account("guard").orders == {}

        order = await h.client.create_order(SYMBOL, "market", "buy", 0.01, None)
        assert order["status"] == "closed"

    run(body)


def test_injected_429_carries_retry_after() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        h.server.fail_next("/fapi/v1/time", too_many_requests(retry_after_s=3))

        status, headers, answer = await raw_get(h.server.base_url + "/fapi/v1/time")

        assert status == 429
        assert headers["Retry-After"] == "3"
        assert json.loads(answer)["code"] == -1003

    run(body)


def test_held_order_is_on_the_venue_while_the_client_times_out_and_is_found_by_client_id() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        hold = h.server.hold_next("/fapi/v1/order")
        h.ccxt_client.timeout = 300  # ms: the ccxt client under the LiveExchange wrapper

        with pytest.raises(ccxt.RequestTimeout):
            await h.client.create_order(
                SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "rgheld1"}
            )

        applied = await hold.wait_applied()
        assert applied.params["newClientOrderId"] == "rgheld1"
        h.ccxt_client.timeout = 10_000
        found = await h.client.fetch_order(None, SYMBOL, {"clientOrderId": "rgheld1"})
        assert found["status"] == "closed"
        assert found["filled"] == pytest.approx(0.01)
        hold.release()

    run(body)


def test_unknown_path_answers_404() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        status, _, _ = await raw_get(h.server.base_url + "/api/v3/account")

        assert status == 404

    run(body)


def test_server_in_its_own_thread_serves_a_client_in_another_loop() -> None:
    harness = BinanceUsdmFakeHarness()
    harness.server.start_in_thread()
    try:

        async def main() -> tuple[float, float]:
            client = await harness.second_client()
            try:
                await client.load_markets()
                order = await client.create_order(SYMBOL, "market", "buy", 0.01, None)
                mark = (await client.fetch_mark_price(SYMBOL))["markPrice"]
                return float(order["filled"]), float(mark)
            finally:
                await client.close()

        filled, mark = asyncio.run(main())

        assert filled == pytest.approx(0.01)
        assert mark == pytest.approx(harness.server.call(lambda: harness.venue.mark_price(SYMBOL)))
    finally:
        harness.server.stop_thread()


def test_fractional_leverage_is_refused_with_1100_as_binance_wants_an_integer() -> None:
    # ccxt forwards set_leverage(5.0) as "leverage=5.0"; Binance's INT parameters take digits only.
    async def body(h: BinanceUsdmFakeHarness) -> None:
        with pytest.raises(ccxt.BadRequest, match="-1100"):
            await h.client.set_leverage(5.0, SYMBOL)

        await h.client.set_leverage(5, SYMBOL)
        assert h.venue.leverage_of(h.venue.account("guard"), SYMBOL) == 5

    run(body)


def test_threaded_server_stops_promptly_with_a_request_still_held() -> None:
    # A client killed mid-request leaves its request held; stopping the server releases it.
    harness = BinanceUsdmFakeHarness()
    harness.server.start_in_thread()
    hold = harness.server.hold_next(
        lambda method, path, _: (method, path) == ("POST", "/fapi/v1/order")
    )
    try:

        async def main() -> None:
            client = await harness.second_client()
            client.timeout = 300  # ms
            try:
                await client.load_markets()
                with pytest.raises(ccxt.RequestTimeout):
                    await client.create_order(SYMBOL, "market", "buy", 0.01, None)
            finally:
                await client.close()

        asyncio.run(main())
        assert hold.applied.is_set()
    finally:
        started = time.monotonic()
        harness.server.stop_thread()
    # aiohttp waits up to 60 s for a handler still running; a released hold ends at once.
    # The bound is a liveness check, far from both, not a speed requirement.
    assert hold.released.is_set()
    assert time.monotonic() - started < 30.0
    assert len(harness.venue.account("guard").trades) == 1


def test_ccxt_reads_the_klines_of_the_bars_that_have_ended() -> None:
    async def body(h: BinanceUsdmFakeHarness) -> None:
        h.clock.advance_to(h.venue.now_ms + 10 * 60_000)
        now = h.venue.now_ms
        rows = await h.client.fetch_ohlcv(SYMBOL, "1m", now - 10 * 60_000, 5)

        assert 1 <= len(rows) <= 5  # the harness feed is a sparse tick series
        assert all(r[0] + 60_000 <= now for r in rows)
        assert all(r[3] <= min(r[1], r[4]) <= max(r[1], r[4]) <= r[2] for r in rows)
        [asked] = [r for r in h.server.requests if r.path == "/fapi/v1/klines"]
        assert (asked.params["interval"], asked.params["limit"]) == ("1m", "5")
        with pytest.raises(ccxt.BadRequest):
            await h.client.fetch_ohlcv(SYMBOL, "2m")

    run(body)


# ------------------------------------------------------------------ the fault plan


class _Plan:
    """A fault plan that answers every request matching ``path`` (and ``method``) with ``fault``."""

    def __init__(self, path: str, fault: Any, method: str | None = None) -> None:
        self.path, self.fault, self.method = path, fault, method

    def decide(self, request: Any) -> Any:
        if request.path == self.path and self.method in (None, request.method):
            return self.fault
        return None


def test_a_timeout_after_apply_leaves_the_order_on_the_venue_and_says_so() -> None:
    async def test(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.01, 5, "cross")
        h.server.faults = _Plan("/fapi/v1/order", Timeout(applied=True, hang_s=1.0), "POST")
        h.ccxt_client.timeout = 200
        with pytest.raises(ccxt.RequestTimeout):
            await h.ccxt_client.create_order(
                SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True}
            )
        h.server.faults = None

        assert [f.kind for f in h.server.faults_applied] == ["timeout_after_apply"]
        assert h.venue.account("guard").positions == {}  # applied although nobody heard

    run(test)


def test_a_timeout_before_apply_never_reaches_the_venue() -> None:
    async def test(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.01, 5, "cross")
        h.server.faults = _Plan("/fapi/v1/order", Timeout(applied=False, hang_s=1.0), "POST")
        h.ccxt_client.timeout = 200
        with pytest.raises(ccxt.RequestTimeout):
            await h.ccxt_client.create_order(
                SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True}
            )

        assert [f.kind for f in h.server.faults_applied] == ["timeout_before_apply"]
        (position,) = h.venue.account("guard").positions.values()
        assert position.size == pytest.approx(0.01)

    run(test)


def test_a_partial_fill_fills_part_of_a_market_order_and_expires_the_rest() -> None:
    async def test(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.01, 5, "cross")
        h.server.faults = _Plan("/fapi/v1/order", PartialFill(0.5), "POST")

        order = await h.client.create_order(
            SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True}
        )

        assert (order["status"], order["filled"]) == ("expired", pytest.approx(0.005))
        assert [f.kind for f in h.server.faults_applied] == ["partial_fill"]

    run(test)


def test_a_stale_answer_repeats_what_the_read_said_before_the_price_moved() -> None:
    async def test(h: BinanceUsdmFakeHarness) -> None:
        before = await h.client.fetch_mark_price(SYMBOL)
        time.sleep(0.05)
        await h.set_price(90_000.0)
        h.server.faults = _Plan("/fapi/v1/premiumIndex", StaleAnswer(0.01))

        stale = await h.client.fetch_mark_price(SYMBOL)
        h.server.faults = None
        fresh = await h.client.fetch_mark_price(SYMBOL)

        assert stale["markPrice"] == before["markPrice"] != fresh["markPrice"]
        assert [f.kind for f in h.server.faults_applied] == ["stale_answer"]

    run(test)


def test_a_client_id_sent_again_is_refused_and_recorded_with_its_first_fate() -> None:
    async def test(h: BinanceUsdmFakeHarness) -> None:
        await h.open_position("long", 0.02, 5, "cross")
        params = {"reduceOnly": True, "clientOrderId": "rgdup"}
        await h.client.create_order(SYMBOL, "market", "sell", 0.01, None, params)

        with pytest.raises(ccxt.InvalidOrder):
            await h.client.create_order(SYMBOL, "market", "sell", 0.01, None, params)

        [dup] = h.server.duplicate_sends
        assert (dup.client_id, dup.status, dup.filled) == ("rgdup", "closed", pytest.approx(0.01))

    run(test)
