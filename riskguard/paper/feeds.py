"""Price feeds for the paper venue: bar series, ticks inside a bar, CSV files, synthetic paths.

Units, everywhere in this module:

- times are UTC epoch **milliseconds** (``times_ms``, ``start_ms``); a bar's time is its *open*
  time, and ``bar_ms`` is the bar length in milliseconds (60_000 for 1-minute klines);
- prices are quote currency per unit of base (USDT per BTC), always positive and finite;
- volatility is a fraction: ``daily_volatility=0.05`` is 5% per day, the standard deviation of
  the daily log return; the per-second sigma is ``daily / sqrt(86400)``
  (:func:`riskguard.risk.volatility.per_sqrt_second`).

A series with ``bar_ms == 0`` is a *tick series*: each point is one price (open == high == low ==
close) that holds until the next point.

A kline only says where the price opened, closed and how far it went; the order in between is
unknown. :class:`IntrabarOrder` picks one, :func:`bar_ticks` gives the four prices in that order,
and :func:`expand` turns a series into the tick path the paper venue replays, the four prices of
a bar at 0, 1/4, 1/2 and 3/4 of it (:data:`TICK_OFFSETS`).

:func:`read_price_csv` reads Binance kline CSVs and plain ``timestamp_ms,price`` files, reporting
every problem as one :class:`~riskguard.errors.InputError` line ``path:line: what is wrong``. A
kline file with a missing stretch (a gap between bars longer than the bar length) is read, and
each gap is kept as a :class:`PriceGap` on :attr:`Bars.gaps`, described one line each by
:attr:`Bars.gap_notes`, for whoever replays it to say (never silently).
:func:`gbm_bars` and :func:`jump_diffusion_bars` make reproducible synthetic series.
"""

from __future__ import annotations

import math
import random
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from pathlib import Path

from riskguard.errors import InputError
from riskguard.risk.volatility import SECONDS_PER_DAY, per_sqrt_second

TICK_OFFSETS: tuple[float, float, float, float] = (0.0, 0.25, 0.5, 0.75)
"""Fractions of a bar at which :func:`expand` visits the four prices of :func:`bar_ticks`."""

_MIN_BAR_MS = len(TICK_OFFSETS)
"""Shortest kline, in ms, whose four ticks still fall on distinct whole milliseconds."""

_MICROSECOND_THRESHOLD = 10**14
"""A CSV time above this is in microseconds (Binance files since 2025), not milliseconds."""

_BAR_MS_SAMPLE_GAPS = 100
"""How many gaps at the start of a kline file decide its bar length (their median)."""


@dataclass(frozen=True, slots=True)
class PriceGap:
    """A missing stretch in a kline file: bars that should have opened between two rows did not.

    ``line`` is the file line of the bar after the gap, ``after_ms`` the open time of the bar
    before it and ``next_ms`` the open time of the bar after it (epoch ms).
    """

    line: int
    after_ms: int
    next_ms: int

    def missing_ms(self, bar_ms: int) -> int:
        """How long no bar covers, in ms: from the end of the bar before to the next open."""
        return self.next_ms - self.after_ms - bar_ms


@dataclass(frozen=True, slots=True)
class Bars:
    """One symbol's price series as bars (klines), or as ticks when ``bar_ms == 0``.

    ``times_ms`` are the bars' open times (epoch ms, strictly increasing); consecutive bars must
    not overlap (each gap is at least ``bar_ms``; a larger gap is a missing stretch). ``bar_ms`` is
    0 for a tick series, whose points each hold until the next one; its prices must all be equal
    within a point. Prices are quote per base, positive and finite.

    ``gaps`` are the missing stretches :func:`read_price_csv` found, in order, each between two
    consecutive bars of the series; ``source`` names the file read (empty for a built series) and
    is not compared. :attr:`gap_notes` says each gap in one line.
    """

    symbol: str
    times_ms: tuple[int, ...]
    opens: tuple[float, ...]
    highs: tuple[float, ...]
    lows: tuple[float, ...]
    closes: tuple[float, ...]
    bar_ms: int
    gaps: tuple[PriceGap, ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        n = len(self.times_ms)
        lengths = {len(self.opens), len(self.highs), len(self.lows), len(self.closes)}
        if lengths != {n}:
            raise ValueError(
                f"{self.symbol}: times, opens, highs, lows and closes must have equal lengths, "
                f"got {n}, {len(self.opens)}, {len(self.highs)}, {len(self.lows)}, "
                f"{len(self.closes)}"
            )
        if n == 0:
            raise ValueError(f"{self.symbol}: a price series needs at least one bar")
        if not (self.bar_ms == 0 or self.bar_ms >= _MIN_BAR_MS):
            raise ValueError(
                f"{self.symbol}: bar_ms must be 0 (a tick series) or at least {_MIN_BAR_MS} ms, "
                f"got {self.bar_ms}"
            )
        previous: int | None = None
        for i, (t, o, h, lo, c) in enumerate(
            zip(self.times_ms, self.opens, self.highs, self.lows, self.closes, strict=True)
        ):
            where = f"{self.symbol}: bar {i} at {t} ms"
            if previous is not None and t - previous < max(self.bar_ms, 1):
                raise ValueError(
                    f"{where}: starts {t - previous} ms after the previous bar; times must "
                    f"increase by at least bar_ms={self.bar_ms} (at least 1 for ticks)"
                )
            previous = t
            for name, price in (("open", o), ("high", h), ("low", lo), ("close", c)):
                if not (math.isfinite(price) and price > 0):
                    raise ValueError(f"{where}: {name} {price} must be positive and finite")
            if not lo <= min(o, c):
                raise ValueError(f"{where}: low {lo} is above min(open, close) {min(o, c)}")
            if not max(o, c) <= h:
                raise ValueError(f"{where}: high {h} is below max(open, close) {max(o, c)}")
            if self.bar_ms == 0 and not o == h == lo == c:
                raise ValueError(
                    f"{where}: a tick series (bar_ms=0) needs open == high == low == close"
                )
        self._check_gaps()

    def _check_gaps(self) -> None:
        """Each gap lies between two consecutive bars more than ``bar_ms`` apart, in order."""
        previous = -1
        for gap in self.gaps:
            i = bisect_left(self.times_ms, gap.next_ms)
            consecutive = (
                0 < i < len(self.times_ms)
                and self.times_ms[i] == gap.next_ms
                and self.times_ms[i - 1] == gap.after_ms
            )
            if not consecutive or gap.next_ms - gap.after_ms <= self.bar_ms or i <= previous:
                raise ValueError(
                    f"{self.symbol}: gap {gap} is not a missing stretch between two consecutive "
                    f"bars more than bar_ms={self.bar_ms} apart, after the previous gap"
                )
            previous = i

    @property
    def start_ms(self) -> int:
        """Open time of the first bar, epoch ms."""
        return self.times_ms[0]

    @property
    def end_ms(self) -> int:
        """Time the last bar ends, epoch ms: its open time plus ``bar_ms`` (0 for a tick series)."""
        return self.times_ms[-1] + self.bar_ms

    @property
    def gap_notes(self) -> tuple[str, ...]:
        """One line per gap: ``{source}:{line}: N minutes missing after <time> UTC``.

        The time is the open of the bar before the gap; ``source`` is the symbol when the series
        was not read from a file.
        """
        where = self.source or self.symbol
        return tuple(
            f"{where}:{gap.line}: {_duration(gap.missing_ms(self.bar_ms))} missing after "
            f"{_utc(gap.after_ms)} UTC (the next bar opens {_utc(gap.next_ms)} UTC)"
            for gap in self.gaps
        )

    def index_at(self, t_ms: int) -> int:
        """Index of the bar in force at ``t_ms``: the last one opened at or before it; -1 before."""
        return bisect_right(self.times_ms, t_ms) - 1

    def window(self, from_ms: int | None, to_ms: int | None) -> Bars:
        """The bars whose open time is in ``[from_ms, to_ms)``; ``None`` leaves that side open.

        Keeps the gaps with a bar of the window on both sides. Raises ValueError when no bar
        opens in the window.
        """
        lo = 0 if from_ms is None else bisect_left(self.times_ms, from_ms)
        hi = len(self.times_ms) if to_ms is None else bisect_left(self.times_ms, to_ms)
        if lo >= hi:
            raise ValueError(
                f"{self.symbol}: no bar opens in [{from_ms}, {to_ms}) ms; the series covers "
                f"{self.start_ms} to {self.end_ms} ms"
            )
        first, last = self.times_ms[lo], self.times_ms[hi - 1]
        return Bars(
            self.symbol,
            self.times_ms[lo:hi],
            self.opens[lo:hi],
            self.highs[lo:hi],
            self.lows[lo:hi],
            self.closes[lo:hi],
            self.bar_ms,
            tuple(g for g in self.gaps if first <= g.after_ms and g.next_ms <= last),
            self.source,
        )


_MS_PER_MINUTE = 60_000
_MS_PER_SECOND = 1_000


def _duration(ms: int) -> str:
    """``ms`` in whole minutes, else whole seconds, else milliseconds."""
    if ms % _MS_PER_MINUTE == 0:
        minutes = ms // _MS_PER_MINUTE
        return f"{minutes} minute{'' if minutes == 1 else 's'}"
    if ms % _MS_PER_SECOND == 0:
        seconds = ms // _MS_PER_SECOND
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    return f"{ms} ms"


def _utc(ms: int) -> str:
    """Epoch ``ms`` as ``2022-05-13 00:39`` (with seconds, then ms, when they are not zero)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % _MS_PER_MINUTE == 0:
        return moment.strftime("%Y-%m-%d %H:%M")
    if ms % _MS_PER_SECOND == 0:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % _MS_PER_SECOND:03d}"


class IntrabarOrder(StrEnum):
    """The order in which the paper venue assumes a bar visited its high and low.

    Every order starts at the open and ends at the close; they differ in which extreme comes first.
    """

    NEAREST = "nearest"
    """Open, the extreme nearer to the open, the farther one, close; a tie visits the low first.

    Distances equal to within 1e-9 of the open are a tie, so binary rounding of decimal prices
    does not decide it."""
    HIGH_FIRST = "high_first"
    """Open, high, low, close: the pessimistic order for a short position."""
    LOW_FIRST = "low_first"
    """Open, low, high, close: the pessimistic order for a long position."""


_TIE_TOLERANCE = 1e-9
"""Distances to the high and low within this fraction of the open are a NEAREST tie.

Binary floats break decimal ties: 17412.90 is 41.70 from 17454.60 and from 17371.20, yet the two
float differences are not equal. The tolerance is far below any tick (BTCUSDT's 0.10 is 2.5e-6)."""


def bar_ticks(
    open_: float, high: float, low: float, close: float, order: IntrabarOrder
) -> tuple[float, float, float, float]:
    """The four prices of one bar in visiting order (open first, close last).

    They are visited at the bar fractions :data:`TICK_OFFSETS`. The inputs are assumed consistent
    (``low <= min(open, close) <= max(open, close) <= high``), as :class:`Bars` guarantees.
    """
    if order is IntrabarOrder.HIGH_FIRST:
        high_first = True
    elif order is IntrabarOrder.LOW_FIRST:
        high_first = False
    else:
        up, down = high - open_, open_ - low
        high_first = up < down and down - up > _TIE_TOLERANCE * open_
    if high_first:
        return (open_, high, low, close)
    return (open_, low, high, close)


def expand(bars: Bars, order: IntrabarOrder) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The whole tick path ``(times_ms, prices)`` the paper venue replays for ``bars``.

    A kline gives four ticks, the prices of :func:`bar_ticks` at ``time + floor(offset * bar_ms)``
    for each offset in :data:`TICK_OFFSETS` (0, 15, 30 and 45 s into a 1-minute bar); a tick
    series (``bar_ms == 0``) gives its points unchanged. Times are strictly increasing, because
    bars do not overlap and ``bar_ms`` is at least 4 ms.
    """
    if bars.bar_ms == 0:
        return bars.times_ms, bars.closes
    offsets_ms = [int(fraction * bars.bar_ms) for fraction in TICK_OFFSETS]
    times: list[int] = []
    prices: list[float] = []
    for t, o, h, lo, c in zip(
        bars.times_ms, bars.opens, bars.highs, bars.lows, bars.closes, strict=True
    ):
        times.extend(t + offset for offset in offsets_ms)
        prices.extend(bar_ticks(o, h, lo, c, order))
    return tuple(times), tuple(prices)


# --- CSV files ---------------------------------------------------------------------------------

_KLINE_HEADER = ("open", "high", "low", "close")
_MIN_KLINE_COLUMNS = 6
_MAX_KLINE_COLUMNS = 12
_TICK_COLUMNS = 2
_COLUMNS_EXPECTED = (
    "expected 2 columns (timestamp_ms,price) or 6 to 12 (a Binance kline: open time, open, high, "
    "low, close, volume, ...)"
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_time(text: str, where: str) -> int:
    """An open time in ms from a CSV field in ms or (above 1e14) in microseconds."""
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where}: time {text!r} is not a number") from None
    if not number.is_integer():
        raise InputError(f"{where}: time {text!r} is not a whole number")
    # int(text) keeps every digit of a large integer; float() above only vetted the syntax.
    value = int(text) if text.lstrip("+-").isdigit() else int(number)
    if value < 0:
        raise InputError(f"{where}: time {text} is negative")
    if value > _MICROSECOND_THRESHOLD:
        value //= 1000
    return value


def _parse_price(name: str, text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {name} {text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{where}: {name} {text} must be a positive, finite price")
    return value


def _columns_of_first_row(fields: Sequence[str], where: str) -> tuple[int, bool]:
    """``(column count, is_header)`` from the first non-blank line, or InputError."""
    count = len(fields)
    if count != _TICK_COLUMNS and not _MIN_KLINE_COLUMNS <= count <= _MAX_KLINE_COLUMNS:
        raise InputError(f"{where}: {count} columns; {_COLUMNS_EXPECTED}")
    if _is_number(fields[0]):
        return count, False
    if count > _TICK_COLUMNS:
        names = tuple(name.lower() for name in fields[1:5])
        if names != _KLINE_HEADER:
            raise InputError(
                f"{where}: header columns 2 to 5 are {','.join(fields[1:5])}; "
                f"expected {','.join(_KLINE_HEADER)}"
            )
    return count, True


def read_price_csv(path: Path | str, symbol: str) -> Bars:
    """Read a price file into :class:`Bars` for ``symbol``, detecting its layout.

    Layouts, each with or without a header row (a first line whose first field is not a number):

    - a Binance kline CSV, 6 to 12 columns ``open_time,open,high,low,close,volume[,...]``
      (our crash files keep 6 with the header ``timestamp_ms,...``; data.binance.vision has 12).
      Only the first five are read. An open time above 1e14 is in microseconds (Binance's newer
      files) and is converted to ms. The bar length is the median gap of the first 100 gaps; a
      later gap may be longer (missing bars: each is kept in :attr:`Bars.gaps`, for the caller
      to report with :attr:`Bars.gap_notes`) but never shorter;
    - ``timestamp_ms,price``: a tick series (open == high == low == close, ``bar_ms == 0``).

    Blank lines are skipped (and counted in line numbers). Every problem raises one
    :class:`~riskguard.errors.InputError` line ``"{path}:{line_no}: what is wrong"`` (or
    ``"{path}: ..."`` when it concerns no single line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: cannot read: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None

    columns = 0
    line_nos: list[int] = []
    times: list[int] = []
    opens: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    closes: list[float] = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        fields = [field.strip() for field in line.split(",")]
        if not columns:
            columns, is_header = _columns_of_first_row(fields, where)
            if is_header:
                continue
        if len(fields) != columns:
            raise InputError(f"{where}: {len(fields)} columns; the file's rows have {columns}")
        t = _parse_time(fields[0], where)
        if times and t <= times[-1]:
            raise InputError(
                f"{where}: time {t} ms is not after the previous row's {times[-1]} ms "
                f"(line {line_nos[-1]})"
            )
        if columns == _TICK_COLUMNS:
            o = h = lo = c = _parse_price("price", fields[1], where)
        else:
            o = _parse_price("open", fields[1], where)
            h = _parse_price("high", fields[2], where)
            lo = _parse_price("low", fields[3], where)
            c = _parse_price("close", fields[4], where)
            if lo > h:
                raise InputError(f"{where}: low {fields[3]} is above high {fields[2]}")
            if lo > min(o, c):
                raise InputError(f"{where}: low {fields[3]} is above min(open, close)")
            if h < max(o, c):
                raise InputError(f"{where}: high {fields[2]} is below max(open, close)")
        line_nos.append(line_no)
        times.append(t)
        opens.append(o)
        highs.append(h)
        lows.append(lo)
        closes.append(c)

    if not times:
        raise InputError(f"{path}: no price rows")
    bar_ms = 0 if columns == _TICK_COLUMNS else _kline_bar_ms(path, times, line_nos)
    gaps = tuple(
        PriceGap(line=line_nos[i], after_ms=times[i - 1], next_ms=times[i])
        for i in range(1, len(times))
        if bar_ms and times[i] - times[i - 1] > bar_ms
    )
    return Bars(
        symbol,
        tuple(times),
        tuple(opens),
        tuple(highs),
        tuple(lows),
        tuple(closes),
        bar_ms,
        gaps,
        str(path),
    )


def _kline_bar_ms(path: Path | str, times: Sequence[int], line_nos: Sequence[int]) -> int:
    """The bar length of a kline file: the median of its first gaps; no gap may be shorter."""
    if len(times) < 2:
        raise InputError(
            f"{path}:{line_nos[0]}: a single kline row; the bar length cannot be inferred"
        )
    gaps = [b - a for a, b in pairwise(times)]
    bar_ms = int(statistics.median_low(gaps[:_BAR_MS_SAMPLE_GAPS]))
    if bar_ms < _MIN_BAR_MS:
        raise InputError(
            f"{path}:{line_nos[1]}: bar length {bar_ms} ms inferred from the first rows is "
            f"below {_MIN_BAR_MS} ms"
        )
    for i, gap in enumerate(gaps, start=1):
        if gap < bar_ms:
            raise InputError(
                f"{path}:{line_nos[i]}: bar opens {gap} ms after the previous one "
                f"(line {line_nos[i - 1]}), inside the {bar_ms} ms bar length of the first rows"
            )
    return bar_ms


# --- synthetic series ----------------------------------------------------------------------------

_POISSON_CHUNK = 10.0
"""Poisson means above this are drawn as sums of chunks, keeping exp(-mean) far from underflow."""


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by Knuth's product of uniforms, in chunks for large means."""
    count = 0
    while mean > 0:
        chunk = min(mean, _POISSON_CHUNK)
        mean -= chunk
        limit = math.exp(-chunk)
        product = rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
    return count


@dataclass(frozen=True, slots=True)
class _Dynamics:
    """Parameters of one simulated log-price path, per second and per sub-step."""

    sigma_per_sqrt_s: float
    drift_per_s: float
    jump_rate_per_s: float = 0.0
    jump_mean: float = 0.0
    jump_std: float = 0.0
    crash_from_bar: int = 0
    crash_to_bar: int = 0
    crash_log_per_substep: float = 0.0


def _check_common(
    start_price: float, daily_volatility: float, bar_ms: int, bars: int, substeps: int
) -> None:
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"start_price must be positive and finite, got {start_price}")
    if not (math.isfinite(daily_volatility) and daily_volatility >= 0):
        raise ValueError(f"daily_volatility must be >= 0 and finite, got {daily_volatility}")
    if bar_ms < _MIN_BAR_MS:
        raise ValueError(f"bar_ms must be at least {_MIN_BAR_MS}, got {bar_ms}")
    if bars < 1:
        raise ValueError(f"bars must be at least 1, got {bars}")
    if substeps < 1:
        raise ValueError(f"substeps must be at least 1, got {substeps}")


def _simulate(
    symbol: str,
    *,
    start_price: float,
    start_ms: int,
    bar_ms: int,
    bars: int,
    substeps: int,
    seed: int,
    dynamics: _Dynamics,
) -> Bars:
    """Bars from ``substeps`` log-price steps each: open = previous close, high/low = extremes."""
    rng = random.Random(seed)
    dt_s = bar_ms / 1000.0 / substeps
    step_drift = (dynamics.drift_per_s - 0.5 * dynamics.sigma_per_sqrt_s**2) * dt_s
    step_sigma = dynamics.sigma_per_sqrt_s * math.sqrt(dt_s)
    step_jump_mean = dynamics.jump_rate_per_s * dt_s
    log_price = math.log(start_price)
    price = start_price
    times: list[int] = []
    opens: list[float] = []
    highs: list[float] = []
    lows: list[float] = []
    closes: list[float] = []
    for bar in range(bars):
        crashing = dynamics.crash_from_bar <= bar < dynamics.crash_to_bar
        open_ = high = low = price
        for _ in range(substeps):
            log_price += step_drift + step_sigma * rng.gauss(0.0, 1.0)
            if step_jump_mean > 0:
                for _ in range(_poisson(rng, step_jump_mean)):
                    log_price += rng.gauss(dynamics.jump_mean, dynamics.jump_std)
            if crashing:
                log_price += dynamics.crash_log_per_substep
            try:
                price = math.exp(log_price)
            except OverflowError:
                price = math.inf
            if not 0 < price < math.inf:
                raise ValueError(
                    f"{symbol}: the simulated price left the float range in bar {bar} (log price "
                    f"{log_price:.1f}); the volatility, jumps or crash are too extreme"
                )
            high = max(high, price)
            low = min(low, price)
        times.append(start_ms + bar * bar_ms)
        opens.append(open_)
        highs.append(high)
        lows.append(low)
        closes.append(price)
    return Bars(
        symbol, tuple(times), tuple(opens), tuple(highs), tuple(lows), tuple(closes), bar_ms
    )


def gbm_bars(
    symbol: str,
    *,
    start_price: float,
    daily_volatility: float,
    start_ms: int,
    bar_ms: int = 60_000,
    bars: int,
    seed: int,
    drift_per_day: float = 0.0,
    substeps: int = 4,
) -> Bars:
    """Bars of a geometric Brownian motion, the same for the same arguments and seed.

    ``daily_volatility`` is the standard deviation of the daily log return (0.05 = 5% a day;
    per second ``daily / sqrt(86400)``). ``drift_per_day`` is the expected growth rate: the
    expected price after ``d`` days is ``start_price * exp(drift_per_day * d)`` (0.0, the default,
    makes the price a martingale). Each bar of ``bar_ms`` ms is ``substeps`` exact GBM steps: its
    open is the previous close (``start_price`` for the first), its high and low the extremes of
    the open and the sub-steps, its close the last. Bars open at ``start_ms + i * bar_ms``.
    """
    _check_common(start_price, daily_volatility, bar_ms, bars, substeps)
    if not math.isfinite(drift_per_day):
        raise ValueError(f"drift_per_day must be finite, got {drift_per_day}")
    return _simulate(
        symbol,
        start_price=start_price,
        start_ms=start_ms,
        bar_ms=bar_ms,
        bars=bars,
        substeps=substeps,
        seed=seed,
        dynamics=_Dynamics(per_sqrt_second(daily_volatility), drift_per_day / SECONDS_PER_DAY),
    )


def jump_diffusion_bars(
    symbol: str,
    *,
    start_price: float,
    daily_volatility: float,
    start_ms: int,
    bar_ms: int = 60_000,
    bars: int,
    seed: int,
    jumps_per_day: float = 0.0,
    jump_mean: float = 0.0,
    jump_std: float = 0.05,
    crash_at_bar: int | None = None,
    crash_size: float = -0.3,
    crash_bars: int = 15,
    substeps: int = 4,
) -> Bars:
    """Bars of a Merton jump diffusion with an optional scheduled crash; seeded, reproducible.

    The diffusion is :func:`gbm_bars` without drift (``daily_volatility`` as there). On top:

    - jumps arrive as a Poisson process, ``jumps_per_day`` on average; each multiplies the price
      by ``exp(Y)``, ``Y ~ Normal(jump_mean, jump_std)`` (log-return units: ``jump_mean=-0.05`` is
      a typical jump of about -4.9%). There is no drift compensation, so negative jumps pull the
      price down on average;
    - when ``crash_at_bar`` is set, the bars ``crash_at_bar`` to ``crash_at_bar + crash_bars - 1``
      carry an extra fall of the log price by ``log(1 + crash_size)`` in total, spread evenly over
      their sub-steps (``crash_size=-0.3``: the price ends the window about 30% lower than it
      opened it, give or take the diffusion and jumps in it).

    With no jumps and no crash the bars equal :func:`gbm_bars` for the same seed.
    """
    _check_common(start_price, daily_volatility, bar_ms, bars, substeps)
    if not (math.isfinite(jumps_per_day) and jumps_per_day >= 0):
        raise ValueError(f"jumps_per_day must be >= 0 and finite, got {jumps_per_day}")
    if not (math.isfinite(jump_mean) and math.isfinite(jump_std) and jump_std >= 0):
        raise ValueError(f"jump_mean must be finite and jump_std >= 0, got {jump_mean}, {jump_std}")
    crash_from = crash_to = 0
    crash_step = 0.0
    if crash_at_bar is not None:
        if not (math.isfinite(crash_size) and crash_size > -1):
            raise ValueError(f"crash_size must be above -1 (a fraction), got {crash_size}")
        if crash_bars < 1:
            raise ValueError(f"crash_bars must be at least 1, got {crash_bars}")
        if not 0 <= crash_at_bar <= bars - crash_bars:
            raise ValueError(
                f"the crash (bars {crash_at_bar} to {crash_at_bar + crash_bars - 1}) must lie "
                f"within the {bars} bars"
            )
        crash_from, crash_to = crash_at_bar, crash_at_bar + crash_bars
        crash_step = math.log1p(crash_size) / (crash_bars * substeps)
    return _simulate(
        symbol,
        start_price=start_price,
        start_ms=start_ms,
        bar_ms=bar_ms,
        bars=bars,
        substeps=substeps,
        seed=seed,
        dynamics=_Dynamics(
            sigma_per_sqrt_s=per_sqrt_second(daily_volatility),
            drift_per_s=0.0,
            jump_rate_per_s=jumps_per_day / SECONDS_PER_DAY,
            jump_mean=jump_mean,
            jump_std=jump_std,
            crash_from_bar=crash_from,
            crash_to_bar=crash_to,
            crash_log_per_substep=crash_step,
        ),
    )
