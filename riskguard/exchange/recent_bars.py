"""Recent one-minute bars per symbol, fetched with ``fetch_ohlcv`` and cached per exchange.

The guard learns each symbol's tail move from its own recent bars
(:mod:`riskguard.risk.tails`). Every account on an exchange trades the same symbols, so the bars
are fetched once per exchange and symbol, and again only after ``refresh_s``: a one-minute
history changes by one bar a minute, and a day of it costs one request on most venues.

Only completed bars are kept (a bar still forming would understate its own range and move under
the next fetch). A fetch that fails, or a venue without ``fetchOHLCV``, keeps the bars fetched
before, if any, and says why in :attr:`RecentBars.problems`: the guard then stresses with the
configured gaps alone, and says so. A row that is not a valid bar refuses the whole answer
(a corrupt history could make a tail look calm).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from riskguard.errors import ExchangeProblem
from riskguard.exchange.errors import translate
from riskguard.risk.tails import Bar

TIMEFRAME = "1m"
BAR_MS = 60_000


@dataclass(frozen=True, slots=True)
class FetchedBars:
    """One symbol's bars and when they were fetched (exchange ms)."""

    bars: tuple[Bar, ...]
    fetched_ms: int


class RecentBars:
    """One exchange's recent one-minute bars by symbol."""

    def __init__(self, lookback_bars: int, refresh_s: float) -> None:
        if lookback_bars < 0 or not refresh_s > 0:
            raise ValueError("lookback_bars must be >= 0 and refresh_s positive")
        self.lookback_bars = lookback_bars
        self.refresh_ms = int(refresh_s * 1000)
        self.fetched: dict[str, FetchedBars] = {}
        self.problems: dict[str, str] = {}
        """Why a symbol's last fetch gave no bars (cleared by the next good one)."""
        self.attempted_ms: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def ensure(self, port: Any, symbols: Iterable[str], now_ms: int) -> None:
        """Fetch the symbols whose bars are missing or older than the refresh interval."""
        if self.lookback_bars == 0:
            return
        async with self._lock:
            due = self.due(symbols, now_ms)
            if not due:
                return
            for symbol in due:
                self.attempted_ms[symbol] = now_ms
            answers = await asyncio.gather(
                *(self._fetch(port, s, now_ms) for s in due), return_exceptions=True
            )
            for symbol, answer in zip(due, answers, strict=True):
                if isinstance(answer, BaseException):
                    if not isinstance(answer, ExchangeProblem | ValueError):
                        raise answer
                    self.problems[symbol] = f"fetch_ohlcv failed: {answer}"
                    continue
                self.fetched[symbol] = FetchedBars(answer, now_ms)
                self.problems.pop(symbol, None)

    def due(self, symbols: Iterable[str], now_ms: int) -> list[str]:
        """The symbols (sorted) whose bars were never asked for, or not for ``refresh_s``."""
        if self.lookback_bars == 0:
            return []
        return [
            s
            for s in sorted(set(symbols))
            if now_ms - self.attempted_ms.get(s, -(10**15)) >= self.refresh_ms
        ]

    def bars(self, symbol: str) -> FetchedBars | None:
        """The last good bars of ``symbol``, if any."""
        return self.fetched.get(symbol)

    async def _fetch(self, port: Any, symbol: str, now_ms: int) -> tuple[Bar, ...]:
        """The last ``lookback_bars`` completed bars. Bars fetched before and still inside the
        window are kept, and only the bars after them are asked for: completed bars do not
        change, and a refresh then costs a few rows, not a day of them."""
        has = getattr(port, "has", {}) or {}
        fetch = getattr(port, "fetch_ohlcv", None)
        if has.get("fetchOHLCV") is False or fetch is None:
            raise ValueError("the venue has no fetchOHLCV")
        since = now_ms - (self.lookback_bars + 1) * BAR_MS
        before = self.fetched.get(symbol)
        kept: tuple[Bar, ...] = ()
        if before is not None and before.bars and before.bars[-1].time_ms >= since:
            kept = tuple(b for b in before.bars if b.time_ms >= since)
            since = kept[-1].time_ms + BAR_MS
        wanted = max(1, (now_ms - since) // BAR_MS + 1)
        try:
            rows = await fetch(symbol, TIMEFRAME, since, min(wanted, self.lookback_bars + 1))
        except ccxt.BaseError as exc:
            raise translate(exc, "fetch_ohlcv") from exc
        new = parse_ohlcv(symbol, rows, now_ms)
        if kept:
            new = tuple(b for b in new if b.time_ms > kept[-1].time_ms)
        return (kept + new)[-self.lookback_bars :]


def parse_ohlcv(symbol: str, rows: Sequence[Any], now_ms: int) -> tuple[Bar, ...]:
    """ccxt OHLCV rows ``[time_ms, open, high, low, close, volume]`` as completed bars.

    Rows of bars that end after ``now_ms`` are dropped (still forming); a row that is not a bar
    (missing or non-positive prices, high and low that do not bound open and close, times out
    of order) raises ``ValueError`` naming the symbol and the row's time.
    """
    bars: list[Bar] = []
    for row in rows:
        if not isinstance(row, Sequence) or len(row) < 5:
            raise ValueError(f"{symbol}: an OHLCV row must have time, open, high, low, close")
        try:
            time_ms = int(row[0])
            o, h, lo, c = float(row[1]), float(row[2]), float(row[3]), float(row[4])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{symbol}: OHLCV row {row[0]!r} is not numeric") from exc
        if time_ms + BAR_MS > now_ms:
            continue
        # (positive and finite: a sum of positive numbers is finite when each of them is)
        if not (o > 0 and h > 0 and lo > 0 and c > 0 and math.isfinite(o + h + lo + c)):
            raise ValueError(f"{symbol}: OHLCV row {time_ms} has a price that is not positive")
        if not (lo <= o <= h and lo <= c <= h):
            raise ValueError(f"{symbol}: OHLCV row {time_ms}: high and low do not bound the bar")
        if bars and time_ms <= bars[-1].time_ms:
            raise ValueError(f"{symbol}: OHLCV row {time_ms} is not after the one before it")
        bars.append(Bar(time_ms, o, h, lo, c))
    return tuple(bars)
