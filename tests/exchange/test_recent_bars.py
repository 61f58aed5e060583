"""Recent one-minute bars: fetched per exchange and symbol, refreshed on a schedule, never a
forming bar, and a failed fetch keeps the bars fetched before and says why."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.exchange.recent_bars import RecentBars, parse_ohlcv

NEAR = "NEAR/USDT:USDT"
MINUTE = 60_000
NOW = 1_000 * MINUTE + 30_000  # half a minute into bar 1000


def rows(first: int, last: int) -> list[list[float]]:
    return [[i * MINUTE, 5.0, 5.1, 4.9, 5.0, 10.0] for i in range(first, last + 1)]


class FakePort:
    """Answers fetch_ohlcv from ``bars``; ``fail`` makes the next calls raise it."""

    def __init__(self) -> None:
        self.has: dict[str, Any] = {"fetchOHLCV": True}
        self.calls: list[tuple[str, str, int | None, int | None]] = []
        self.fail: Exception | None = None
        self.last_bar = 1000
        """The bar forming now (the history grows as the test moves time)."""

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int | None, limit: int | None
    ) -> list[list[float]]:
        self.calls.append((symbol, timeframe, since, limit))
        if self.fail is not None:
            raise self.fail
        first = self.last_bar - (limit or 1) + 1
        if since is not None:  # as venues answer: the first `limit` bars from `since`
            first = since // MINUTE
        return rows(first, min(self.last_bar, first + (limit or 1) - 1))


def test_the_bar_still_forming_is_dropped() -> None:
    bars = parse_ohlcv(NEAR, rows(990, 1000), NOW)

    assert [b.time_ms // MINUTE for b in bars] == list(range(990, 1000))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([5 * MINUTE, 5.0, 4.0, 4.9, 5.0], "high and low do not bound the bar"),
        ([5 * MINUTE, 5.0, 5.1, 0.0, 5.0], "has a price that is not positive"),
        ([5 * MINUTE, None, 5.1, 4.9, 5.0], "is not numeric"),
        ([5 * MINUTE, 5.0], "must have time, open, high, low, close"),
    ],
)
def test_a_row_that_is_not_a_bar_refuses_the_answer(row: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ohlcv(NEAR, [*rows(1, 4), row], NOW)


def test_rows_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="is not after the one before it"):
        parse_ohlcv(NEAR, [*rows(5, 6), *rows(3, 3)], NOW)


def test_bars_are_fetched_once_per_refresh_interval() -> None:
    port = FakePort()
    recent = RecentBars(lookback_bars=120, refresh_s=300)

    async def go() -> None:
        await recent.ensure(port, [NEAR], NOW)
        await recent.ensure(port, [NEAR], NOW + 299_000)
        assert len(port.calls) == 1
        port.last_bar = 1005  # five minutes later
        await recent.ensure(port, [NEAR], NOW + 300_000)
        assert len(port.calls) == 2

    asyncio.run(go())
    symbol, timeframe, since, limit = port.calls[0]
    assert (symbol, timeframe, limit) == (NEAR, "1m", 121)
    assert since == NOW - 121 * MINUTE
    # The refresh asks only for the bars after those it has (bar 999 was the last ended one).
    _, _, since, limit = port.calls[1]
    assert since == 1000 * MINUTE
    assert limit is not None
    assert limit <= 7
    fetched = recent.bars(NEAR)
    assert fetched is not None
    assert fetched.fetched_ms == NOW + 300_000
    # At the second fetch bars 1000 to 1004 have ended; the lookback keeps the last 120.
    assert len(fetched.bars) == 120
    assert fetched.bars[-1].time_ms == 1004 * MINUTE
    assert [b.time_ms // MINUTE for b in fetched.bars] == list(range(885, 1005))


def test_a_failed_fetch_keeps_the_bars_before_and_says_why() -> None:
    port = FakePort()
    recent = RecentBars(lookback_bars=60, refresh_s=60)

    async def go() -> None:
        await recent.ensure(port, [NEAR], NOW)
        port.fail = ccxt.RequestTimeout("binanceusdm GET /fapi/v1/klines timed out")
        await recent.ensure(port, [NEAR], NOW + 60_000)

    asyncio.run(go())
    fetched = recent.bars(NEAR)
    assert fetched is not None
    assert fetched.fetched_ms == NOW
    assert recent.problems[NEAR].startswith("fetch_ohlcv failed: ")
    assert "timed out" in recent.problems[NEAR]


def test_a_venue_without_ohlcv_is_not_asked() -> None:
    port = FakePort()
    port.has = {"fetchOHLCV": False}
    recent = RecentBars(lookback_bars=60, refresh_s=60)

    asyncio.run(recent.ensure(port, [NEAR], NOW))

    assert port.calls == []
    assert recent.bars(NEAR) is None
    assert recent.problems[NEAR] == "fetch_ohlcv failed: the venue has no fetchOHLCV"


def test_a_lookback_of_zero_fetches_nothing() -> None:
    port = FakePort()

    asyncio.run(RecentBars(lookback_bars=0, refresh_s=60).ensure(port, [NEAR], NOW))

    assert port.calls == []


def test_symbols_are_due_when_never_asked_or_asked_a_refresh_interval_ago() -> None:
    recent = RecentBars(lookback_bars=60, refresh_s=300)
    port = FakePort()
    assert recent.due([NEAR, "BTC/USDT:USDT", NEAR], NOW) == ["BTC/USDT:USDT", NEAR]

    asyncio.run(recent.ensure(port, [NEAR], NOW))

    assert recent.due([NEAR], NOW + 299_999) == []
    assert recent.due([NEAR], NOW + 300_000) == [NEAR]
    assert RecentBars(lookback_bars=0, refresh_s=300).due([NEAR], NOW) == []
