"""The paper venue's OHLCV answers: the bars that have completed by now, and nothing after.

``fetch_ohlcv`` on a real venue returns the klines up to the current one. The paper venue serves
the same from its feeds, with one rule that keeps replays honest: a bar is served only once it has
ended (its open time plus its length is at or before the venue's clock), so nothing that trades
later leaks into what the guard learns. A replay's feed may carry a *history*, the bars before
the replayed window (:meth:`~riskguard.paper.venue_state.VenueState.set_history`): they are
served, never played.

Feeds whose bars are finer than the timeframe asked for are aggregated (a tick series into
one-minute bars, one-minute bars into five-minute ones); a timeframe finer than the feed, or not
a multiple of its bars, is refused with ccxt's ``BadRequest``, as a venue refuses an unknown one.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import ccxt.async_support as ccxt

from riskguard.paper.feeds import Bars

Row = list[float]


def timeframe_ms(timeframe: str) -> int:
    """``"1m"`` -> 60000, as ccxt reads timeframes; ``BadRequest`` for one it cannot read."""
    try:
        seconds = ccxt.Exchange.parse_timeframe(timeframe)
    except Exception as exc:  # ccxt raises a bare exception for an unknown unit
        raise ccxt.BadRequest(f"paper: unknown timeframe {timeframe!r}") from exc
    return int(seconds * 1000)


def completed_rows(
    series: Sequence[Bars], frame_ms: int, now_ms: int, since_ms: int | None, limit: int | None
) -> list[Row]:
    """``[time, open, high, low, close, 0.0]`` rows of ``frame_ms`` bars ended by ``now_ms``.

    ``series`` are consecutive pieces of one symbol's prices (the history, then the feed), in
    time order. Rows start at ``since_ms`` (the bar containing it) and are the first ``limit``
    from there, or the last ``limit`` without ``since_ms``, as ccxt's venues answer.
    """
    rows: list[Row] = []
    for bars in series:
        step = bars.bar_ms
        if step > frame_ms or (step and frame_ms % step):
            raise ccxt.BadRequest(
                f"paper: {bars.symbol} has bars of {step // 1000} s; ask for a timeframe that "
                "is a multiple of it"
            )
        first = 0 if since_ms is None else bisect.bisect_left(bars.times_ms, since_ms - frame_ms)
        last = bisect.bisect_right(bars.times_ms, now_ms)
        for i in range(first, last):
            t = bars.times_ms[i]
            bucket = t - t % frame_ms
            if bucket + frame_ms > now_ms or t + step > now_ms:
                break
            o, h, lo, c = bars.opens[i], bars.highs[i], bars.lows[i], bars.closes[i]
            if step == 0:
                o = h = lo = c = bars.closes[i]
            if rows and rows[-1][0] == bucket:
                row = rows[-1]
                row[2], row[3], row[4] = max(row[2], h), min(row[3], lo), c
            else:
                rows.append([bucket, o, h, lo, c, 0.0])
    if since_ms is not None:
        rows = [r for r in rows if r[0] + frame_ms > since_ms]
        return rows[:limit] if limit else rows
    return rows[-limit:] if limit else rows
