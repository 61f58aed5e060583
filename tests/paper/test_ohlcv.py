"""The paper venue's fetch_ohlcv: only bars that have ended, the history before a replayed window,
and timeframes as ccxt names them."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config
from riskguard.paper.feeds import Bars
from riskguard.paper.ohlcv import completed_rows, timeframe_ms

BTC = "BTC/USDT:USDT"
MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _setup(start: str | None = None) -> PaperSetup:
    document: dict[str, Any] = {
        "venue": "binance",
        "markets": [
            {
                "symbol": BTC,
                "maintenance_margin_rate": 0.005,
                "feed": {
                    "gbm": {
                        "start_price": 50_000,
                        "start": "2024-01-01T00:00:00Z",
                        "daily_volatility_pct": 3,
                        "bars": 180,
                        "seed": 3,
                    }
                },
            }
        ],
        "accounts": [{"id": "main", "balance": 1_000}],
    }
    if start:
        document["start"] = start
    return build_paper(parse_paper_config(document))


def _fetch(setup: PaperSetup, *args: Any) -> list[list[float]]:
    client = setup.client("main", label="test")
    return asyncio.run(client.fetch_ohlcv(BTC, *args))


def test_only_bars_that_have_ended_are_served() -> None:
    setup = _setup()
    setup.clock.advance_to(T0 + 10 * MINUTE + 30_000)  # type: ignore[union-attr]

    rows = _fetch(setup, "1m")

    assert [int(r[0]) for r in rows] == [T0 + i * MINUTE for i in range(10)]
    # What they say is what the venue played: the last bar's close is the price at its end.
    feed = setup.venue._symbols[BTC].bars
    assert rows[-1][1:5] == [feed.opens[9], feed.highs[9], feed.lows[9], feed.closes[9]]
    assert all(r[3] <= min(r[1], r[4]) and max(r[1], r[4]) <= r[2] for r in rows)


def test_the_history_before_a_replayed_window_is_served_never_played() -> None:
    setup = _setup(start="2024-01-01T02:00:00Z")

    rows = _fetch(setup, "1m", None, 30)

    assert setup.venue.now_ms == T0 + 120 * MINUTE
    assert [int(r[0]) for r in rows] == [T0 + i * MINUTE for i in range(90, 120)]
    assert len(_fetch(setup, "1m", T0, 1000)) == 120


def test_bars_are_aggregated_to_a_coarser_timeframe_and_a_finer_one_is_refused() -> None:
    setup = _setup()
    setup.clock.advance_to(T0 + 31 * MINUTE)  # type: ignore[union-attr]
    ones = _fetch(setup, "1m")
    fives = _fetch(setup, "5m")

    assert len(fives) == 6
    first = ones[:5]
    assert fives[0][1:5] == [
        first[0][1],
        max(r[2] for r in first),
        min(r[3] for r in first),
        first[-1][4],
    ]
    with pytest.raises(ccxt.BadRequest, match="has bars of 60 s"):
        _fetch(setup, "30s")
    with pytest.raises(ccxt.BadRequest, match="unknown timeframe"):
        _fetch(setup, "1q")


def test_a_tick_series_becomes_minute_bars() -> None:
    ticks = Bars(
        BTC,
        times_ms=(0, 20_000, 40_000, 60_000, 70_000, 130_000),
        opens=(10.0, 12.0, 9.0, 11.0, 11.5, 13.0),
        highs=(10.0, 12.0, 9.0, 11.0, 11.5, 13.0),
        lows=(10.0, 12.0, 9.0, 11.0, 11.5, 13.0),
        closes=(10.0, 12.0, 9.0, 11.0, 11.5, 13.0),
        bar_ms=0,
    )

    rows = completed_rows((ticks,), timeframe_ms("1m"), 125_000, None, None)

    assert rows == [[0, 10.0, 12.0, 9.0, 9.0, 0.0], [60_000, 11.0, 11.5, 11.0, 11.5, 0.0]]
