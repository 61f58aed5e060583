"""The worst plausible move within one reaction time, learned from a symbol's own recent bars.

The guard reacts once a poll (plus its latency): what it cannot answer is the move inside that
window. A calm daily volatility says little about it: an altcoin that moves 3% a day can spike
27% in one minute. So the tail is read from the symbol's own recent bars (one-minute OHLCV):

- **one-bar moves**: in each bar, the furthest the price can have gone between two moments of
  that bar or from the previous close: up ``max(high / low, high / prev_close) - 1``, down
  ``1 - min(low / high, low / prev_close)``. The order of high and low inside a bar is unknown,
  so both directions count the whole range: a bound, never an underestimate.
- **horizon moves**: the same over windows of ``ceil(horizon_s / bar_s)`` consecutive bars (the
  reaction horizon of a 60 s poll spans two one-minute bars), measured from the close before the
  window and across every high and low inside it.

The tail is the ``quantile`` (default the largest) of each list, the larger of the two, times
``scale`` (default 1.5: the next spike may be larger than the largest seen). The guard stresses
positions with the larger of this and the configured gaps (:func:`stress_move`,
:func:`tail_scenarios`), so a learned tail only ever adds caution. With fewer than ``min_bars``
bars nothing is learned and the configured gaps alone apply; the caller says so.

Pure: bars in, figures out; fetching and caching the bars is the exchange layer's
(:mod:`riskguard.exchange.recent_bars`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from riskguard.risk.scenarios import Scenario

MIN_BARS = 30
"""Fewer bars than this teach nothing: the configured gaps alone apply."""

DEFAULT_SCALE = 1.5
DEFAULT_QUANTILE = 1.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLC bar (``time_ms`` its open time)."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True, slots=True)
class TailMove:
    """A symbol's learned worst plausible move within one reaction time, as fractions (> 0).

    ``down`` and ``up`` are what the guard stresses with (scaled); the raw figures say where
    they came from: the largest one-bar moves and the largest moves over ``window_bars`` bars.
    """

    symbol: str
    down: float
    up: float
    one_bar_down: float
    one_bar_up: float
    window_down: float
    window_up: float
    bars: int
    bar_s: float
    window_bars: int
    scale: float
    quantile: float
    first_ms: int
    last_ms: int

    @property
    def source(self) -> str:
        """Where the figure comes from, in words (journal, alerts)."""
        minutes = self.bar_s / 60.0
        size = f"{minutes:g}-minute" if minutes >= 1 else f"{self.bar_s:g}-second"
        which = "largest" if self.quantile >= 1.0 else f"{self.quantile:.2%} quantile"
        return (
            f"learned from {self.bars} {size} bars ({which} move over 1 and "
            f"{self.window_bars} bars, x{self.scale:g})"
        )


def one_bar_moves(bars: Sequence[Bar]) -> tuple[list[float], list[float]]:
    """Per bar after the first: ``(downs, ups)`` as positive fractions (see the module)."""
    downs: list[float] = []
    ups: list[float] = []
    for previous, bar in itertools.pairwise(bars):
        ref = previous.close
        ups.append(max(bar.high / bar.low, bar.high / ref) - 1.0)
        downs.append(1.0 - min(bar.low / bar.high, bar.low / ref))
    return downs, ups


def window_moves(bars: Sequence[Bar], window: int) -> tuple[list[float], list[float]]:
    """Per window of ``window`` consecutive bars after the first bar: ``(downs, ups)``.

    Each window is measured from the close of the bar before it across every high and low in
    it, both directions over the whole range (the order inside the window is unknown).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 bar, got {window}")
    downs: list[float] = []
    ups: list[float] = []
    for start in range(1, len(bars) - window + 1):
        ref = bars[start - 1].close
        chunk = bars[start : start + window]
        high = max(ref, *(b.high for b in chunk))
        low = min(ref, *(b.low for b in chunk))
        ups.append(high / low - 1.0)
        downs.append(1.0 - low / high)
    return downs, ups


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank, so 1.0 is the largest); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def learned_tail(
    symbol: str,
    bars: Sequence[Bar],
    horizon_s: float,
    *,
    bar_s: float = 60.0,
    scale: float = DEFAULT_SCALE,
    q: float = DEFAULT_QUANTILE,
    min_bars: int = MIN_BARS,
) -> TailMove | None:
    """The tail move of ``symbol`` from its ``bars`` (time order) for a reaction ``horizon_s``.

    None when there are fewer than ``min_bars`` bars. Bars must be valid OHLC (positive prices,
    low <= open, close <= high); a bar that is not raises ``ValueError`` naming it.
    """
    if not (horizon_s > 0 and bar_s > 0):
        raise ValueError(f"horizon_s and bar_s must be positive, got {horizon_s}, {bar_s}")
    if not (scale >= 1.0 and math.isfinite(scale)):
        raise ValueError(f"scale must be at least 1, got {scale}")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    if len(bars) < max(2, min_bars):
        return None
    for bar in bars:
        _check(symbol, bar)
    window = max(1, math.ceil(horizon_s / bar_s - 1e-9))
    one_down, one_up = one_bar_moves(bars)
    win_down, win_up = window_moves(bars, window) if window > 1 else (one_down, one_up)
    one_bar_down, one_bar_up = quantile(one_down, q), quantile(one_up, q)
    window_down, window_up = quantile(win_down, q), quantile(win_up, q)
    # A fall can never exceed 100%: the scaled figure is kept below it.
    down = min(0.99, scale * max(one_bar_down, window_down))
    up = scale * max(one_bar_up, window_up)
    return TailMove(
        symbol=symbol,
        down=down,
        up=up,
        one_bar_down=one_bar_down,
        one_bar_up=one_bar_up,
        window_down=window_down,
        window_up=window_up,
        bars=len(bars),
        bar_s=bar_s,
        window_bars=window,
        scale=scale,
        quantile=q,
        first_ms=bars[0].time_ms,
        last_ms=bars[-1].time_ms,
    )


def _check(symbol: str, bar: Bar) -> None:
    o, h, lo, c = bar.open, bar.high, bar.low, bar.close
    # positive and finite (a sum of positive numbers is finite when each of them is); written
    # out, not as generators: this runs for every bar of every refresh
    if not (o > 0 and h > 0 and lo > 0 and c > 0 and math.isfinite(o + h + lo + c)):
        prices = (o, h, lo, c)
        raise ValueError(f"{symbol} bar at {bar.time_ms}: prices must be positive, got {prices}")
    if not (lo <= o <= h and lo <= c <= h):
        raise ValueError(
            f"{symbol} bar at {bar.time_ms}: low {bar.low:g} and high {bar.high:g} do not "
            f"bound open {bar.open:g} and close {bar.close:g}"
        )


@dataclass(frozen=True, slots=True)
class StressMove:
    """The fall and rise a symbol is stressed with (fractions, fall negative) and why."""

    symbol: str
    fall: float
    rise: float
    source: str

    def against(self, long: bool) -> float:
        """The move that hurts a long (the fall) or a short (the rise)."""
        return self.fall if long else self.rise


def stress_move(
    symbol: str, configured: Sequence[float], tail: TailMove | None, why_not: str | None = None
) -> StressMove:
    """What ``symbol`` is stressed with: the larger of its learned tail and the configured gaps.

    ``why_not`` says why nothing was learned (too few bars, a failed fetch) when ``tail`` is
    None; it goes into the source so a reader of the journal sees it.
    """
    fall, rise = configured_extremes(configured)
    if tail is None:
        source = "configured gaps" + (f" ({why_not})" if why_not else "")
        return StressMove(symbol, fall, rise, source)
    if tail.down <= -fall and tail.up <= rise:
        smaller = f"learned -{tail.down:.1%}/+{tail.up:.1%} is within them"
        return StressMove(symbol, fall, rise, f"configured gaps ({smaller}; {tail.source})")
    return StressMove(
        symbol, min(fall, -tail.down), max(rise, tail.up), f"learned tail: {tail.source}"
    )


def configured_extremes(configured: Sequence[float]) -> tuple[float, float]:
    """The largest configured fall (negative) and rise among the gap moves (fractions)."""
    fall = min((g for g in configured if g < 0), default=0.0)
    rise = max((g for g in configured if g > 0), default=0.0)
    return fall, rise


def tail_scenarios(
    configured: Sequence[float], moves: Mapping[str, StressMove]
) -> tuple[Scenario, ...]:
    """Two full-weight scenarios, a joint fall and a joint rise, each symbol moving by its
    stress move; none when every move is the configured one (the gap scenarios cover it)."""
    fall, rise = configured_extremes(configured)
    larger = {s: m for s, m in sorted(moves.items()) if m.fall < fall or m.rise > rise}
    if not larger:
        return ()
    return (
        Scenario(
            name="learned tail fall",
            move=fall,
            symbol_moves=tuple((s, m.fall) for s, m in larger.items()),
        ),
        Scenario(
            name="learned tail rise",
            move=rise,
            symbol_moves=tuple((s, m.rise) for s, m in larger.items()),
        ),
    )
