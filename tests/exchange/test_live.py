"""LiveExchange: retried reads, writes sent once, clock resync, mark price and tiers in size.

A hand-written fake client stands in for ccxt (it records every call and raises ccxt's own
exception classes on demand); sleeps are recorded instead of waited and the jitter comes from a
seeded ``random.Random``, so every delay is known. Where ccxt's own behaviour matters (OKX tiers
bounded in contracts, the constructor's options, ``repr`` with real keys) a real
``ccxt.async_support`` client is used, never touching the network, and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest
from structlog.testing import capture_logs

from riskguard.exchange.live import (
    LEVERAGE_MAX_AGE_S,
    TIER_BOUNDS_IN_CONTRACTS,
    LiveExchange,
    RetryPolicy,
    contract_tiers_as_size,
)

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SEED = 7

CLIENT_METHODS = frozenset(
    {
        "load_markets",
        "fetch_balance",
        "fetch_positions",
        "fetch_open_orders",
        "fetch_order",
        "fetch_mark_price",
        "fetch_ticker",
        "fetch_leverage_tiers",
        "fetch_market_leverage_tiers",
        "fetch_my_trades",
        "fetch_funding_rate",
        "fetch_ohlcv",
        "fetch_leverages",
        "load_time_difference",
        "create_order",
        "cancel_order",
        "add_margin",
        "reduce_margin",
        "set_leverage",
        "set_margin_mode",
        "close",
    }
)


class FakeClient:
    """The part of a ccxt async exchange LiveExchange uses.

    Every method in ``CLIENT_METHODS`` records ``(name, args)`` in ``calls``, raises the next
    exception queued with :meth:`fail` for that name, else returns ``answers[name]`` (a value,
    or a function of the arguments).
    """

    def __init__(self, exchange_id: str = "binanceusdm", **has: Any) -> None:
        self.id = exchange_id
        self.has: dict[str, Any] = {"fetchTime": True, "fetchMarkPrice": True, **has}
        self.options: dict[str, Any] = {"maxRetriesOnFailure": 3}
        self.enableRateLimit = False
        self.markets: dict[str, Any] | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: dict[str, Any] = {"load_time_difference": 42}
        self._failures: dict[str, list[BaseException]] = {}

    def fail(self, method: str, *errors: BaseException) -> None:
        """Make the next calls of ``method`` raise ``errors``, one per call."""
        self._failures.setdefault(method, []).extend(errors)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of every call of ``method``."""
        return [args for name, args in self.calls if name == method]

    def milliseconds(self) -> float:
        return 1_700_000_000_123.0

    def set_markets(self, markets: dict[str, Any]) -> None:
        self.calls.append(("set_markets", (markets,)))
        self.markets = markets

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name not in CLIENT_METHODS:
            raise AttributeError(name)

        async def method(*args: Any) -> Any:
            self.calls.append((name, args))
            queued = self._failures.get(name)
            if queued:
                raise queued.pop(0)
            answer = self.answers.get(name)
            return answer(*args) if callable(answer) else answer

        return method


class Sleeps:
    """An injected ``sleep`` that records its delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def live(client: Any, **kwargs: Any) -> tuple[LiveExchange, Sleeps]:
    sleeps = Sleeps()
    return LiveExchange(client, sleep=sleeps, rng=random.Random(SEED), **kwargs), sleeps


def jitter(*caps: float) -> list[float]:
    """The delays LiveExchange draws with ``SEED`` for successive caps (uniform in cap/2..cap)."""
    rng = random.Random(SEED)
    return [rng.uniform(cap / 2, cap) for cap in caps]


def okx_btc_swap_market(client: Any) -> dict[str, Any]:
    """OKX's BTC-USDT-SWAP as ccxt parses it from ``/api/v5/public/instruments`` (ctVal 0.01)."""
    market: dict[str, Any] = client.parse_market(
        {
            "instId": "BTC-USDT-SWAP",
            "instType": "SWAP",
            "instFamily": "BTC-USDT",
            "uly": "BTC-USDT",
            "ctType": "linear",
            "ctVal": "0.01",
            "ctValCcy": "BTC",
            "ctMult": "1",
            "settleCcy": "USDT",
            "lever": "100",
            "lotSz": "0.01",
            "minSz": "0.01",
            "tickSz": "0.1",
            "state": "live",
            "listTime": "1611916828000",
            "expTime": "",
        }
    )
    return market


OKX_BTC_POSITION_TIERS = {
    # /api/v5/public/position-tiers for BTC-USDT-SWAP: minSz and maxSz count contracts.
    "code": "0",
    "msg": "",
    "data": [
        {"instId": "BTC-USDT-SWAP", "tier": "1", "minSz": "0", "maxSz": "2000", "mmr": "0.004",
         "imr": "0.01", "maxLever": "100", "instFamily": "BTC-USDT", "uly": "BTC-USDT"},
        {"instId": "BTC-USDT-SWAP", "tier": "2", "minSz": "2000", "maxSz": "4000", "mmr": "0.006",
         "imr": "0.0133", "maxLever": "75", "instFamily": "BTC-USDT", "uly": "BTC-USDT"},
    ],
}  # fmt: skip


# ---------------------------------------------------------------------- construction, identity


def test_constructor_forces_rate_limiter_on_and_ccxt_retries_off() -> None:
    client = FakeClient()

    LiveExchange(client)

    assert client.enableRateLimit is True
    assert client.options["maxRetriesOnFailure"] == 0


def test_constructor_overrides_a_real_ccxt_client_configured_otherwise() -> None:
    async def scenario() -> tuple[bool, Any]:
        client = ccxt.binanceusdm({"enableRateLimit": False, "options": {"maxRetriesOnFailure": 5}})
        try:
            LiveExchange(client)
            return client.enableRateLimit, client.options["maxRetriesOnFailure"]
        finally:
            await client.close()

    assert asyncio.run(scenario()) == (True, 0)


def test_repr_names_the_exchange_and_never_shows_the_keys() -> None:
    async def scenario() -> tuple[str, str]:
        client = ccxt.binanceusdm({"apiKey": "KEY-abcdef123456", "secret": "SECRET-987654zyx"})
        try:
            exchange = LiveExchange(client)
            return repr(exchange), str(exchange)
        finally:
            await client.close()

    shown, text = asyncio.run(scenario())

    assert shown == "LiveExchange(binanceusdm)"
    for secret in ("KEY-abcdef123456", "SECRET-987654zyx"):
        assert secret not in shown
        assert secret not in text


def test_identity_properties_come_from_the_client() -> None:
    client = FakeClient("bybit", fetchLeverageTiers=True)
    exchange, _ = live(client)

    assert exchange.id == "bybit"
    assert exchange.has["fetchLeverageTiers"] is True
    assert exchange.milliseconds() == 1_700_000_000_123


def test_has_is_a_copy_that_cannot_change_the_client_flags() -> None:
    client = FakeClient()
    exchange, _ = live(client)

    flags = exchange.has
    flags["fetchMarkPrice"] = False  # type: ignore[index]

    assert client.has["fetchMarkPrice"] is True


def test_markets_are_empty_before_load_markets() -> None:
    exchange, _ = live(FakeClient())

    assert exchange.markets == {}


def test_adopt_markets_hands_markets_to_the_client_without_a_request() -> None:
    client = FakeClient()
    exchange, _ = live(client)
    markets = {BTC: {"symbol": BTC, "contractSize": 1.0}}

    exchange.adopt_markets(markets)

    assert client.calls == [("set_markets", (markets,))]
    assert exchange.markets == markets


def test_adopt_markets_on_a_real_okx_client_makes_load_markets_answer_without_a_request() -> None:
    async def scenario() -> tuple[list[str], list[str], float]:
        source = ccxt.okx()
        target = ccxt.okx()
        try:
            market = okx_btc_swap_market(source)
            exchange = LiveExchange(target)
            exchange.adopt_markets({BTC: market})
            loaded = await exchange.load_markets()  # network is off: cached markets only
            return list(exchange.markets), list(loaded), target.market(BTC)["contractSize"]
        finally:
            await source.close()
            await target.close()

    markets, loaded, contract_size = asyncio.run(scenario())

    assert markets == [BTC]
    assert loaded == [BTC]
    assert contract_size == 0.01


def test_close_closes_the_client_session() -> None:
    client = FakeClient()
    exchange, _ = live(client)

    asyncio.run(exchange.close())

    assert client.called("close") == [()]


# ---------------------------------------------------------------------- reads: forwarding

READS = [
    ("load_markets", (), "load_markets", (False, {})),
    ("load_markets", (True, {"type": "swap"}), "load_markets", (True, {"type": "swap"})),
    ("fetch_balance", (), "fetch_balance", ({},)),
    ("fetch_positions", ([BTC],), "fetch_positions", ([BTC], {})),
    ("fetch_open_orders", (BTC, None, None, {"trigger": True}), "fetch_open_orders",
     (BTC, None, None, {"trigger": True})),
    ("fetch_order", ("42", BTC), "fetch_order", ("42", BTC, {})),
    ("fetch_ticker", (BTC,), "fetch_ticker", (BTC, {})),
    ("fetch_my_trades", (BTC, 1_700_000_000_000, 50), "fetch_my_trades",
     (BTC, 1_700_000_000_000, 50, {})),
    ("fetch_funding_rate", (ETH,), "fetch_funding_rate", (ETH, {})),
    ("fetch_ohlcv", (ETH, "1m", 1_700_000_000_000, 1440), "fetch_ohlcv",
     (ETH, "1m", 1_700_000_000_000, 1440, {})),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args", "client_method", "sent"), READS)
def test_read_forwards_its_arguments_and_returns_the_client_answer(
    method: str, args: tuple[Any, ...], client_method: str, sent: tuple[Any, ...]
) -> None:
    client = FakeClient()
    client.answers[client_method] = {"answer": client_method}
    exchange, _ = live(client)

    result = asyncio.run(getattr(exchange, method)(*args))

    assert result == {"answer": client_method}
    assert client.calls == [(client_method, sent)]


@pytest.mark.parametrize(("method", "args", "client_method", "sent"), READS)
def test_read_is_retried_after_a_network_error(
    method: str, args: tuple[Any, ...], client_method: str, sent: tuple[Any, ...]
) -> None:
    client = FakeClient()
    client.fail(client_method, ccxt.RequestTimeout("timed out"))
    exchange, sleeps = live(client)

    asyncio.run(getattr(exchange, method)(*args))

    assert client.called(client_method) == [sent, sent]
    assert len(sleeps.delays) == 1


# ---------------------------------------------------------------------- reads: retry policy


def test_read_retries_operation_failed_with_exponential_backoff_and_jitter() -> None:
    client = FakeClient()
    client.answers["fetch_balance"] = {"total": {"USDT": 1000.0}}
    client.fail("fetch_balance", ccxt.NetworkError("reset"), ccxt.ExchangeNotAvailable("502"))
    exchange, sleeps = live(client)

    balance = asyncio.run(exchange.fetch_balance())

    assert balance == {"total": {"USDT": 1000.0}}
    assert len(client.called("fetch_balance")) == 3
    assert sleeps.delays == jitter(0.25, 0.5)  # base 0.25 s, doubled, drawn in cap/2..cap


def test_read_gives_up_after_the_last_attempt_and_raises_the_last_error() -> None:
    client = FakeClient()
    last = ccxt.OnMaintenance("maintenance, third time")
    client.fail(
        "fetch_positions",
        ccxt.RequestTimeout("1"),
        ccxt.BadResponse("2"),
        last,
        ccxt.NetworkError(),
    )
    exchange, sleeps = live(client)

    with pytest.raises(ccxt.OnMaintenance) as raised:
        asyncio.run(exchange.fetch_positions())

    assert raised.value is last
    assert len(client.called("fetch_positions")) == 3
    assert len(sleeps.delays) == 2  # no pointless sleep after the last attempt


def test_read_attempts_follow_the_retry_policy() -> None:
    client = FakeClient()
    client.fail("fetch_balance", *(ccxt.NetworkError() for _ in range(5)))
    exchange, sleeps = live(client, retry=RetryPolicy(attempts=5))

    with pytest.raises(ccxt.NetworkError):
        asyncio.run(exchange.fetch_balance())

    assert len(client.called("fetch_balance")) == 5
    assert sleeps.delays == jitter(0.25, 0.5, 1.0, 2.0)


@pytest.mark.parametrize(
    "error",
    [
        ccxt.ExchangeError("bad"),
        ccxt.BadSymbol("no such market"),
        ccxt.AuthenticationError("invalid key"),
        ccxt.InsufficientFunds("not enough"),
        ccxt.OrderNotFound("unknown order"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_read_raises_an_exchange_error_at_once_without_retry(error: ccxt.BaseError) -> None:
    client = FakeClient()
    client.fail("fetch_order", error)
    exchange, sleeps = live(client)

    with pytest.raises(type(error)):
        asyncio.run(exchange.fetch_order("42", BTC))

    assert len(client.called("fetch_order")) == 1
    assert sleeps.delays == []


def test_read_lets_a_non_ccxt_exception_through_without_retry() -> None:
    client = FakeClient()
    client.fail("fetch_balance", TypeError("ccxt bug"))
    exchange, sleeps = live(client)

    with pytest.raises(TypeError):
        asyncio.run(exchange.fetch_balance())

    assert len(client.called("fetch_balance")) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("error", [ccxt.RateLimitExceeded, ccxt.DDoSProtection])
def test_read_after_a_rate_limit_waits_the_longer_rate_limit_delay(
    error: type[ccxt.BaseError],
) -> None:
    client = FakeClient()
    client.fail("fetch_ticker", error("429 too many requests"))
    exchange, sleeps = live(client)

    asyncio.run(exchange.fetch_ticker(BTC))

    assert sleeps.delays == jitter(2.0)  # rate_limit_delay_s 2 s instead of base 0.25 s
    assert 1.0 <= sleeps.delays[0] <= 2.0


def test_read_after_invalid_nonce_resyncs_the_clock_then_retries() -> None:
    client = FakeClient()
    client.fail("fetch_balance", ccxt.InvalidNonce("Timestamp for this request is outside"))
    exchange, sleeps = live(client)

    asyncio.run(exchange.fetch_balance())

    names = [name for name, _ in client.calls]
    assert names == ["fetch_balance", "load_time_difference", "fetch_balance"]
    assert exchange.resyncs == 1
    assert len(sleeps.delays) == 1


def test_read_retry_calls_on_retry_with_the_method_and_the_error() -> None:
    client = FakeClient()
    error = ccxt.RequestTimeout("timed out")
    client.fail("fetch_positions", error)
    seen: list[tuple[str, BaseException]] = []
    exchange, _ = live(client, on_retry=lambda method, exc: seen.append((method, exc)))

    asyncio.run(exchange.fetch_positions())

    assert seen == [("fetch_positions", error)]


def test_read_retry_logs_a_warning_without_the_request_url() -> None:
    client = FakeClient()
    client.fail(
        "fetch_balance",
        ccxt.RequestTimeout(
            "binanceusdm GET https://fapi.binance.com/fapi/v3/account?signature=abc123 timed out"
        ),
    )
    exchange, sleeps = live(client)

    with capture_logs() as logs:
        asyncio.run(exchange.fetch_balance())

    assert logs == [
        {
            "event": "exchange_retry",
            "log_level": "warning",
            "exchange": "binanceusdm",
            "method": "fetch_balance",
            "error": "RequestTimeout",
            "detail": "binanceusdm <url> timed out",
            "attempt": 1,
            "delay_s": round(sleeps.delays[0], 3),
        }
    ]


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(0, 0.125, 0.25), (1, 0.25, 0.5), (2, 0.5, 1.0), (4, 2.0, 4.0), (10, 2.0, 4.0)],
)
def test_retry_policy_delay_doubles_per_attempt_up_to_the_cap(
    attempt: int, low: float, high: float
) -> None:
    policy = RetryPolicy()  # base 0.25 s, max 4 s
    rng = random.Random(SEED)

    delays = [policy.delay(attempt, ccxt.NetworkError(), rng) for _ in range(200)]

    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1  # jittered, not a fixed pause


def test_retry_policy_rate_limit_delay_does_not_shorten_a_longer_backoff() -> None:
    policy = RetryPolicy(rate_limit_delay_s=2.0, max_delay_s=8.0)

    delay = policy.delay(4, ccxt.RateLimitExceeded(), random.Random(SEED))  # backoff cap 4 s

    assert 2.0 <= delay <= 4.0


# ---------------------------------------------------------------------- clock resync


def test_resync_time_measures_the_difference_and_logs_it() -> None:
    client = FakeClient()
    exchange, _ = live(client)

    with capture_logs() as logs:
        asyncio.run(exchange.resync_time())

    assert client.called("load_time_difference") == [()]
    assert exchange.resyncs == 1
    assert logs == [
        {
            "event": "time_resynced",
            "log_level": "info",
            "exchange": "binanceusdm",
            "difference_ms": 42,
        }
    ]


def test_resync_time_does_nothing_on_a_venue_without_fetch_time() -> None:
    client = FakeClient(fetchTime=False)
    exchange, _ = live(client)

    asyncio.run(exchange.resync_time())

    assert client.calls == []
    assert exchange.resyncs == 0


def test_resync_time_failure_is_logged_and_not_raised() -> None:
    client = FakeClient()
    client.fail("load_time_difference", ccxt.RequestTimeout("GET https://x.test/time timed out"))
    exchange, _ = live(client)

    with capture_logs() as logs:
        asyncio.run(exchange.resync_time())

    assert exchange.resyncs == 1
    assert logs == [
        {
            "event": "time_resync_failed",
            "log_level": "warning",
            "exchange": "binanceusdm",
            "error": "<url> timed out",
        }
    ]


def test_read_after_invalid_nonce_still_retries_when_the_resync_fails() -> None:
    client = FakeClient()
    client.fail("fetch_balance", ccxt.InvalidNonce("recvWindow"))
    client.fail("load_time_difference", ccxt.NetworkError("down"))
    client.answers["fetch_balance"] = {"ok": True}
    exchange, _ = live(client)

    assert asyncio.run(exchange.fetch_balance()) == {"ok": True}
    assert len(client.called("fetch_balance")) == 2


# ---------------------------------------------------------------------- writes

WRITES = [
    ("create_order", (BTC, "market", "sell", 0.5, None, {"reduceOnly": True}), "create_order",
     (BTC, "market", "sell", 0.5, None, {"reduceOnly": True})),
    ("cancel_order", ("42", BTC), "cancel_order", ("42", BTC, {})),
    ("add_margin", (BTC, 100.0), "add_margin", (BTC, 100.0, {})),
    ("reduce_margin", (BTC, 50.0), "reduce_margin", (BTC, 50.0, {})),
    ("set_leverage", (5, BTC), "set_leverage", (5, BTC, {})),
    ("set_margin_mode", ("isolated", BTC), "set_margin_mode", ("isolated", BTC, {})),
    ("create_market_order", (BTC, "sell", 0.5, {"reduceOnly": True}), "create_order",
     (BTC, "market", "sell", 0.5, None, {"reduceOnly": True})),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args", "client_method", "sent"), WRITES)
def test_write_forwards_its_arguments_and_returns_the_client_answer(
    method: str, args: tuple[Any, ...], client_method: str, sent: tuple[Any, ...]
) -> None:
    client = FakeClient()
    client.answers[client_method] = {"id": "1"}
    exchange, _ = live(client)

    result = asyncio.run(getattr(exchange, method)(*args))

    assert result == {"id": "1"}
    assert client.calls == [(client_method, sent)]


@pytest.mark.parametrize(("method", "args", "client_method", "sent"), WRITES)
def test_write_that_times_out_is_sent_once_and_the_error_raised(
    method: str, args: tuple[Any, ...], client_method: str, sent: tuple[Any, ...]
) -> None:
    client = FakeClient()
    client.fail(client_method, ccxt.RequestTimeout("may have reached the exchange"))
    exchange, sleeps = live(client)

    with pytest.raises(ccxt.RequestTimeout):
        asyncio.run(getattr(exchange, method)(*args))

    assert client.calls == [(client_method, sent)]
    assert sleeps.delays == []


def test_write_with_invalid_nonce_resyncs_the_clock_and_raises_without_resending() -> None:
    client = FakeClient()
    client.fail("create_order", ccxt.InvalidNonce("Timestamp outside recvWindow"))
    exchange, sleeps = live(client)

    with capture_logs() as logs, pytest.raises(ccxt.InvalidNonce):
        asyncio.run(exchange.create_order(BTC, "market", "sell", 0.5))

    assert [name for name, _ in client.calls] == ["create_order", "load_time_difference"]
    assert exchange.resyncs == 1
    assert sleeps.delays == []
    assert logs[0] == {
        "event": "time_skew",
        "log_level": "warning",
        "exchange": "binanceusdm",
        "method": "create_order",
    }


# ---------------------------------------------------------------------- mark price


def test_fetch_mark_price_uses_fetch_mark_price_where_the_venue_has_it() -> None:
    client = FakeClient(fetchMarkPrice=True)
    client.answers["fetch_mark_price"] = {"symbol": BTC, "markPrice": 100_000.0}
    exchange, _ = live(client)

    mark = asyncio.run(exchange.fetch_mark_price(BTC))

    assert mark == {"symbol": BTC, "markPrice": 100_000.0}
    assert client.calls == [("fetch_mark_price", (BTC, {}))]


@pytest.mark.parametrize("flag", [None, False])
def test_fetch_mark_price_falls_back_to_the_ticker_without_fetch_mark_price(flag: Any) -> None:
    client = FakeClient("bybit", fetchMarkPrice=flag)  # ccxt 4.5.90 bybit: None
    client.answers["fetch_ticker"] = {"symbol": BTC, "markPrice": 99_990.0, "last": 100_000.0}
    exchange, _ = live(client)

    mark = asyncio.run(exchange.fetch_mark_price(BTC, {"category": "linear"}))

    assert mark["markPrice"] == 99_990.0
    assert client.calls == [("fetch_ticker", (BTC, {"category": "linear"}))]


def test_fetch_mark_price_is_retried_like_any_read() -> None:
    client = FakeClient(fetchMarkPrice=True)
    client.fail("fetch_mark_price", ccxt.RequestTimeout())
    exchange, sleeps = live(client)

    asyncio.run(exchange.fetch_mark_price(BTC))

    assert len(client.called("fetch_mark_price")) == 2
    assert len(sleeps.delays) == 1


# ---------------------------------------------------------------------- leverage tiers

BINANCE_TIERS = [
    {"tier": 1, "minNotional": 0.0, "maxNotional": 50_000.0, "maintenanceMarginRate": 0.004,
     "maxLeverage": 125.0, "info": {"cum": "0"}},
]  # fmt: skip


def test_fetch_leverage_tiers_uses_one_bulk_call_where_the_venue_has_it() -> None:
    client = FakeClient(fetchLeverageTiers=True, fetchMarketLeverageTiers="emulated")
    client.answers["fetch_leverage_tiers"] = {BTC: BINANCE_TIERS, ETH: BINANCE_TIERS}
    exchange, _ = live(client)

    tiers = asyncio.run(exchange.fetch_leverage_tiers([BTC, ETH]))

    assert tiers == {BTC: BINANCE_TIERS, ETH: BINANCE_TIERS}  # notional bounds left as they are
    assert client.calls == [("fetch_leverage_tiers", ([BTC, ETH], {}))]


def test_fetch_leverage_tiers_bulk_without_symbols_asks_for_every_market() -> None:
    client = FakeClient(fetchLeverageTiers=True)
    client.answers["fetch_leverage_tiers"] = {}
    exchange, _ = live(client)

    asyncio.run(exchange.fetch_leverage_tiers())

    assert client.calls == [("fetch_leverage_tiers", (None, {}))]


def test_fetch_leverage_tiers_asks_per_symbol_without_a_bulk_call() -> None:
    client = FakeClient(fetchLeverageTiers=False, fetchMarketLeverageTiers=True)
    client.answers["fetch_market_leverage_tiers"] = lambda symbol, params: [
        {**BINANCE_TIERS[0], "symbol": symbol}
    ]
    exchange, _ = live(client)

    tiers = asyncio.run(exchange.fetch_leverage_tiers([BTC, ETH]))

    assert client.calls == [
        ("fetch_market_leverage_tiers", (BTC, {})),
        ("fetch_market_leverage_tiers", (ETH, {})),
    ]
    assert tiers[BTC][0]["symbol"] == BTC
    assert tiers[ETH][0]["symbol"] == ETH


def test_fetch_leverage_tiers_per_symbol_retries_only_the_symbol_that_failed() -> None:
    client = FakeClient(fetchLeverageTiers=False, fetchMarketLeverageTiers=True)
    client.answers["fetch_market_leverage_tiers"] = BINANCE_TIERS
    client.fail("fetch_market_leverage_tiers", ccxt.RequestTimeout())
    exchange, _ = live(client)

    asyncio.run(exchange.fetch_leverage_tiers([BTC, ETH]))

    symbols = [args[0] for args in client.called("fetch_market_leverage_tiers")]
    assert symbols == [BTC, BTC, ETH]


def test_fetch_leverage_tiers_per_symbol_without_symbols_asks_nothing() -> None:
    client = FakeClient(fetchLeverageTiers=False, fetchMarketLeverageTiers=True)
    exchange, _ = live(client)

    assert asyncio.run(exchange.fetch_leverage_tiers()) == {}
    assert client.calls == []


def test_fetch_leverage_tiers_on_a_venue_without_tier_calls_is_empty() -> None:
    client = FakeClient(fetchLeverageTiers=False, fetchMarketLeverageTiers=False)
    exchange, _ = live(client)

    assert asyncio.run(exchange.fetch_leverage_tiers([BTC])) == {}
    assert client.calls == []


def test_okx_mexc_and_kraken_futures_are_the_venues_whose_tiers_count_contracts() -> None:
    # MEXC: ccxt builds its tiers from the contract detail's volumes (test_recorded_mexc.py).
    assert frozenset({"okx", "mexc", "krakenfutures"}) == TIER_BOUNDS_IN_CONTRACTS


def test_fetch_leverage_tiers_on_okx_turns_contract_bounds_into_base_units() -> None:
    client = FakeClient("okx", fetchLeverageTiers=False, fetchMarketLeverageTiers=True)
    client.markets = {BTC: {"contractSize": 0.01}, ETH: {"contractSize": 0.1}}
    client.answers["fetch_market_leverage_tiers"] = [
        {"tier": 1, "minNotional": 0.0, "maxNotional": 2000.0, "maintenanceMarginRate": 0.004},
        {"tier": 2, "minNotional": 2000.0, "maxNotional": 4000.0, "maintenanceMarginRate": 0.006},
    ]
    exchange, _ = live(client)

    tiers = asyncio.run(exchange.fetch_leverage_tiers([BTC, ETH]))

    assert [(r["minNotional"], r["maxNotional"], r["unit"]) for r in tiers[BTC]] == [
        (0.0, 20.0, "size"),  # 2000 contracts of 0.01 BTC = 20 BTC
        (20.0, 40.0, "size"),
    ]
    assert [r["maxNotional"] for r in tiers[ETH]] == [200.0, 400.0]  # 0.1 ETH per contract


def test_fetch_leverage_tiers_through_real_ccxt_okx_gives_size_tiers_in_btc() -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        client = ccxt.okx()
        sent: list[Any] = []

        async def position_tiers(params: Any = None, context: Any = None) -> Any:
            sent.append(params)
            return OKX_BTC_POSITION_TIERS

        client.publicGetPublicPositionTiers = position_tiers  # the one request, answered here
        try:
            client.set_markets([okx_btc_swap_market(client)])
            tiers = await LiveExchange(client).fetch_leverage_tiers([BTC])
            return tiers, sent
        finally:
            await client.close()

    tiers, sent = asyncio.run(scenario())

    assert sent == [{"instType": "SWAP", "tdMode": "cross", "instFamily": "BTC-USDT"}]
    rows = tiers[BTC]
    assert [(r["minNotional"], r["maxNotional"]) for r in rows] == [(0.0, 20.0), (20.0, 40.0)]
    assert [r["maintenanceMarginRate"] for r in rows] == [0.004, 0.006]
    assert {r["unit"] for r in rows} == {"size"}


def test_fetch_market_leverage_tiers_on_okx_returns_one_symbols_size_tiers() -> None:
    client = FakeClient("okx", fetchLeverageTiers=False, fetchMarketLeverageTiers=True)
    client.markets = {BTC: {"contractSize": 0.01}}
    client.answers["fetch_market_leverage_tiers"] = [
        {"tier": 1, "minNotional": 0.0, "maxNotional": 2000.0, "maintenanceMarginRate": 0.004},
    ]
    exchange, _ = live(client)

    rows = asyncio.run(exchange.fetch_market_leverage_tiers(BTC, {"marginMode": "isolated"}))

    assert rows == [
        {"tier": 1, "minNotional": 0.0, "maxNotional": 20.0, "maintenanceMarginRate": 0.004,
         "unit": "size"},
    ]  # fmt: skip
    assert client.calls == [("fetch_market_leverage_tiers", (BTC, {"marginMode": "isolated"}))]


def test_fetch_market_leverage_tiers_through_a_bulk_venue_asks_for_that_symbol_only() -> None:
    client = FakeClient(fetchLeverageTiers=True)
    client.answers["fetch_leverage_tiers"] = {BTC: BINANCE_TIERS}
    exchange, _ = live(client)

    rows = asyncio.run(exchange.fetch_market_leverage_tiers(BTC))

    assert rows == BINANCE_TIERS
    assert client.calls == [("fetch_leverage_tiers", ([BTC], {}))]


def test_fetch_market_leverage_tiers_on_a_venue_without_tier_calls_is_empty() -> None:
    client = FakeClient(fetchLeverageTiers=False, fetchMarketLeverageTiers=False)
    exchange, _ = live(client)

    assert asyncio.run(exchange.fetch_market_leverage_tiers(BTC)) == []
    assert client.calls == []


def test_contract_tiers_as_size_keeps_open_bounds_and_leaves_the_input_unchanged() -> None:
    rows = [
        {"minNotional": 0, "maxNotional": "500", "maintenanceMarginRate": 0.01},
        {"minNotional": 500, "maxNotional": None, "maintenanceMarginRate": 0.02},
    ]

    converted = contract_tiers_as_size(rows, {"contractSize": 10})

    assert converted == [
        {"minNotional": 0.0, "maxNotional": 5000.0, "maintenanceMarginRate": 0.01, "unit": "size"},
        {"minNotional": 5000.0, "maxNotional": None, "maintenanceMarginRate": 0.02, "unit": "size"},
    ]
    assert rows[0] == {"minNotional": 0, "maxNotional": "500", "maintenanceMarginRate": 0.01}


@pytest.mark.parametrize("market", [{}, {"contractSize": None}], ids=["missing", "none"])
def test_contract_tiers_as_size_counts_one_unit_per_contract_without_a_contract_size(
    market: dict[str, Any],
) -> None:
    converted = contract_tiers_as_size([{"minNotional": 0.0, "maxNotional": 7.0}], market)

    assert converted == [{"minNotional": 0.0, "maxNotional": 7.0, "unit": "size"}]


# ---------------------------------------------------------------------- leverage filled in


def _v3_row(symbol: str = BTC, side: str = "long", leverage: Any = None) -> dict[str, Any]:
    """A position row as binanceusdm parses v3 positionRisk: no leverage."""
    return {"symbol": symbol, "side": side, "contracts": 0.5, "leverage": leverage}


def _leverage_entry(symbol: str, long: int | None, short: int | None) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "marginMode": "isolated",
        "longLeverage": long,
        "shortLeverage": short,
    }


class Ticks:
    """An injected monotonic clock moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _leverage_client(rows: list[dict[str, Any]]) -> FakeClient:
    client = FakeClient(fetchLeverages=True)
    client.answers["fetch_positions"] = lambda *_: [dict(r) for r in rows]
    client.answers["fetch_leverages"] = {
        BTC: _leverage_entry(BTC, 20, 20),
        ETH: _leverage_entry(ETH, 10, 3),
    }
    return client


def test_positions_without_leverage_get_the_leverage_setting_of_their_symbol_and_side() -> None:
    rows = [_v3_row(BTC, "long"), _v3_row(ETH, "long"), _v3_row(ETH, "short")]
    client = _leverage_client(rows)
    exchange, _ = live(client)

    result = asyncio.run(exchange.fetch_positions())

    assert [r["leverage"] for r in result] == [20, 10, 3]
    assert client.called("fetch_leverages") == [(None, {})]


def test_rows_that_carry_leverage_or_are_flat_cost_no_leverage_read() -> None:
    rows = [_v3_row(leverage=7), {"symbol": ETH, "side": None, "contracts": 0, "leverage": None}]
    client = _leverage_client(rows)
    exchange, _ = live(client)

    result = asyncio.run(exchange.fetch_positions())

    assert result[0]["leverage"] == 7
    assert result[1]["leverage"] is None
    assert client.called("fetch_leverages") == []


def test_a_venue_without_fetch_leverages_leaves_the_leverage_unknown() -> None:
    client = _leverage_client([_v3_row()])
    client.has["fetchLeverages"] = False
    exchange, _ = live(client)

    result = asyncio.run(exchange.fetch_positions())

    assert result[0]["leverage"] is None
    assert client.called("fetch_leverages") == []


def test_leverage_settings_are_read_again_only_after_a_minute() -> None:
    client = _leverage_client([_v3_row()])
    ticks = Ticks()
    exchange, _ = live(client, monotonic=ticks)

    asyncio.run(exchange.fetch_positions())
    ticks.now += LEVERAGE_MAX_AGE_S - 1
    client.answers["fetch_leverages"] = {BTC: _leverage_entry(BTC, 50, 50)}
    cached = asyncio.run(exchange.fetch_positions())
    ticks.now += 1
    fresh = asyncio.run(exchange.fetch_positions())

    assert cached[0]["leverage"] == 20
    assert fresh[0]["leverage"] == 50
    assert len(client.called("fetch_leverages")) == 2


@pytest.mark.parametrize("fails", [False, True], ids=["set", "set-failed"])
def test_setting_a_leverage_makes_the_next_positions_read_the_settings_again(fails: bool) -> None:
    client = _leverage_client([_v3_row()])
    exchange, _ = live(client, monotonic=Ticks())
    asyncio.run(exchange.fetch_positions())
    client.answers["fetch_leverages"] = {BTC: _leverage_entry(BTC, 5, 5)}
    if fails:  # the venue may have applied it before the answer was lost
        client.fail("set_leverage", ccxt.RequestTimeout("timed out"))

    with contextlib.suppress(ccxt.RequestTimeout):
        asyncio.run(exchange.set_leverage(5, BTC))
    result = asyncio.run(exchange.fetch_positions())

    assert result[0]["leverage"] == 5
    assert len(client.called("fetch_leverages")) == 2


def test_a_failed_leverage_read_keeps_the_positions_and_logs_a_warning() -> None:
    client = _leverage_client([_v3_row()])
    client.fail("fetch_leverages", ccxt.PermissionDenied('binanceusdm {"code":-2015}'))
    exchange, _ = live(client, monotonic=Ticks())

    with capture_logs() as logs:
        result = asyncio.run(exchange.fetch_positions())
    again = asyncio.run(exchange.fetch_positions())

    assert result[0]["leverage"] is None
    assert [e["event"] for e in logs] == ["leverage_unread"]
    assert logs[0]["error"] == 'binanceusdm {"code":-2015}'
    assert again[0]["leverage"] == 20  # not cached as unknown: the next read asks again


def test_a_symbol_the_settings_do_not_list_keeps_an_unknown_leverage() -> None:
    client = _leverage_client([_v3_row("SOL/USDT:USDT")])
    exchange, _ = live(client)

    result = asyncio.run(exchange.fetch_positions())

    assert result[0]["leverage"] is None
