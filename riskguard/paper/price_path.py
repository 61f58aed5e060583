"""Each symbol's walk along its price feed: the ticks of each bar, the last price and the mark.

A kline becomes four ticks (:func:`~riskguard.paper.feeds.bar_ticks`, at the
:data:`~riskguard.paper.feeds.TICK_OFFSETS` of the bar) in the order :class:`Intrabar` picks; a
tick series is one tick a point. On every tick the last price moves and the mark follows it, an
exponential smoothing with the market's half-life, so marks lag a crash a little as on real
venues. :class:`SymbolState` holds where a symbol has got to; the venue decides which symbol
ticks next and what happens on the tick (:mod:`~riskguard.paper.engine`).

What is still to trade in the current bar, from the current tick to the bar's last one
(:meth:`SymbolState.remaining_range`), bounds every taker fill
(:mod:`~riskguard.paper.fill_pricing`): an order that goes live now can only meet prices that
trade from now on. For a tick series that is the tick's own price.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from riskguard.paper.feeds import TICK_OFFSETS, Bars, IntrabarOrder, bar_ticks
from riskguard.paper.market import PaperMarket

_LN2 = math.log(2.0)


class Intrabar(StrEnum):
    """How a kline is walked: the feed's fixed orders, or the order worst for open positions."""

    NEAREST = "nearest"
    HIGH_FIRST = "high_first"
    LOW_FIRST = "low_first"
    ADVERSE = "adverse"


@dataclass(slots=True)
class SymbolState:
    """Where one symbol has got to along its feed, with its last price, mark and next funding."""

    market: PaperMarket
    bars: Bars
    bar: int = -1
    tick: int = 4
    ticks: tuple[float, ...] = ()
    tick_times: tuple[int, ...] = ()
    last: float = 0.0
    mark: float = 0.0
    mark_time: int = 0
    prev_close: float = 0.0
    next_funding_ms: int = 0
    started: bool = False

    def next_tick_time(self) -> int | None:
        """Time of the symbol's next tick, or None at the end of its feed."""
        if self.tick < len(self.ticks):
            return self.tick_times[self.tick]
        nxt = self.bar + 1
        if nxt >= len(self.bars.times_ms):
            return None
        return self.bars.times_ms[nxt]

    def remaining_range(self) -> tuple[float, float]:
        """``(low, high)`` of the prices the current bar trades from the current tick on.

        These are ``ticks[tick - 1:]``: the tick in force now (whose price is :attr:`last`) and
        the ones still to come in its bar. On a tick series, or after a bar's last tick, it is
        ``(last, last)``; before the first tick, too.
        """
        rest = self.ticks[self.tick - 1 :] if self.tick >= 1 else ()
        if not rest:
            return self.last, self.last
        return min(rest), max(rest)

    def play_tick(self, t_ms: int, bar_order: Callable[[SymbolState], IntrabarOrder]) -> None:
        """Move to the next tick, at ``t_ms``: the last price takes its price, the mark follows.

        ``bar_order`` picks the order of a kline's ticks when a new one starts.
        """
        if self.tick >= len(self.ticks):
            if self.started:
                self.prev_close = self.last
            self._enter_bar(bar_order)
        price = self.ticks[self.tick]
        self.tick += 1
        if not self.started:
            self.started = True
            self.mark = self.last = self.prev_close = price
            self.mark_time = t_ms
            interval = self.market.funding_interval_ms
            self.next_funding_ms = (t_ms // interval + 1) * interval
        else:
            self.last = price
            dt = t_ms - self.mark_time
            half_life_ms = self.market.mark_half_life_s * 1000.0
            if half_life_ms <= 0:
                self.mark = price
            elif dt > 0:
                self.mark += (1.0 - math.exp(-dt * _LN2 / half_life_ms)) * (price - self.mark)
            self.mark_time = t_ms

    def _enter_bar(self, bar_order: Callable[[SymbolState], IntrabarOrder]) -> None:
        self.bar += 1
        b = self.bars
        i = self.bar
        if b.bar_ms == 0:
            self.ticks = (b.closes[i],)
            self.tick_times = (b.times_ms[i],)
        else:
            order = bar_order(self)
            self.ticks = bar_ticks(b.opens[i], b.highs[i], b.lows[i], b.closes[i], order)
            self.tick_times = tuple(b.times_ms[i] + int(f * b.bar_ms) for f in TICK_OFFSETS)
        self.tick = 0
