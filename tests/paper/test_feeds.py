"""Price feeds of the paper venue: Bars, intrabar orders, the tick path, CSV files, synthetic paths.

Real figures come from ../shared/data/crashes/SOURCES.md (Binance 1-minute klines); tests that
read those files carry the ``shared_data`` mark and skip when the directory is absent. The layout
tests rewrite the same rows in every supported CSV layout and expect identical Bars.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.errors import InputError
from riskguard.paper.feeds import (
    TICK_OFFSETS,
    Bars,
    IntrabarOrder,
    PriceGap,
    bar_ticks,
    expand,
    gbm_bars,
    jump_diffusion_bars,
    read_price_csv,
)

CRASH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crashes"
SYMBOL = "BTC/USDT:USDT"
MINUTE_MS = 60_000
DAY_MS = 86_400_000

Row = tuple[str, str, str, str, str, str]
"""One kline as exact strings: open time (ms), open, high, low, close, volume."""

EXCERPT: tuple[Row, ...] = (
    ("1621382400000", "42882.54", "43156.34", "42870.89", "42962.73", "1009.048"),
    ("1621382460000", "42962.59", "42965.18", "42596.11", "42724.06", "1816.072"),
    ("1621382520000", "42724.05", "42787.98", "42517.00", "42522.88", "946.797"),
    ("1621382580000", "42522.86", "42740.27", "42508.94", "42702.70", "984.004"),
    ("1621382640000", "42702.69", "42709.27", "42537.39", "42561.53", "323.731"),
)
"""The first five rows of btcusdt-perp-2021-05-19.csv, so the layout tests run without the data."""

CRASH_HEADER = "timestamp_ms,open,high,low,close,volume"
VISION_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def crash_file(name: str) -> Path:
    """A file of the shared crash data, or skip the test when the data is absent."""
    path = CRASH_DIR / name
    if not path.is_file():
        pytest.skip(f"shared crash data not found at {path}: ../shared/data is absent")
    return path


def read_rows(path: Path) -> tuple[Row, ...]:
    """The rows of a crash file as exact strings, without the header."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == CRASH_HEADER
    rows: list[Row] = []
    for line in lines[1:]:
        t, o, h, lo, c, v = line.split(",")
        rows.append((t, o, h, lo, c, v))
    return tuple(rows)


def kline_bars(rows: Sequence[Row]) -> Bars:
    """The Bars a kline file of ``rows`` must give, built without the reader."""
    return Bars(
        SYMBOL,
        tuple(int(r[0]) for r in rows),
        tuple(float(r[1]) for r in rows),
        tuple(float(r[2]) for r in rows),
        tuple(float(r[3]) for r in rows),
        tuple(float(r[4]) for r in rows),
        MINUTE_MS,
    )


def tick_bars(rows: Sequence[Row]) -> Bars:
    """The tick series a ``timestamp_ms,price`` file of the rows' closes must give."""
    closes = tuple(float(r[4]) for r in rows)
    return Bars(SYMBOL, tuple(int(r[0]) for r in rows), closes, closes, closes, closes, 0)


def bars_of(
    times: Sequence[int],
    ohlc: Sequence[tuple[float, float, float, float]],
    bar_ms: int = MINUTE_MS,
) -> Bars:
    """Bars from open times and ``(open, high, low, close)`` tuples."""
    return Bars(
        "X",
        tuple(times),
        tuple(b[0] for b in ohlc),
        tuple(b[1] for b in ohlc),
        tuple(b[2] for b in ohlc),
        tuple(b[3] for b in ohlc),
        bar_ms,
    )


THREE_MINUTES = bars_of(
    [0, 60_000, 180_000],  # the bar at 120_000 is missing
    [(100.0, 102.0, 99.0, 101.0), (101.0, 101.5, 97.0, 98.0), (98.0, 99.0, 96.0, 96.5)],
)


# --- Bars --------------------------------------------------------------------------------------


def test_bars_start_and_end_are_first_open_time_and_last_bar_close_time() -> None:
    # Arrange / Act
    bars = THREE_MINUTES

    # Assert
    assert (bars.start_ms, bars.end_ms) == (0, 240_000)


def test_bars_end_of_a_tick_series_is_the_last_tick_time() -> None:
    # Arrange
    ticks = bars_of([5, 9], [(1.0, 1.0, 1.0, 1.0), (2.0, 2.0, 2.0, 2.0)], bar_ms=0)

    # Act / Assert
    assert (ticks.start_ms, ticks.end_ms) == (5, 9)


@pytest.mark.parametrize(
    ("t_ms", "index"),
    [
        (-1, -1),  # before the first bar
        (0, 0),  # exactly at an open time
        (59_999, 0),
        (60_000, 1),
        (150_000, 1),  # inside the missing bar: the last bar opened before still holds
        (180_000, 2),
        (10**13, 2),  # long after the end
    ],
)
def test_bars_index_at_is_the_last_bar_opened_at_or_before_the_time(t_ms: int, index: int) -> None:
    # Act / Assert
    assert THREE_MINUTES.index_at(t_ms) == index


@pytest.mark.parametrize(
    ("from_ms", "to_ms", "times"),
    [
        (None, None, (0, 60_000, 180_000)),
        (60_000, None, (60_000, 180_000)),
        (None, 180_000, (0, 60_000)),  # to_ms is exclusive
        (1, 180_001, (60_000, 180_000)),  # selection by open time, bar 0 is left out
    ],
)
def test_bars_window_keeps_bars_opening_in_the_half_open_interval(
    from_ms: int | None, to_ms: int | None, times: tuple[int, ...]
) -> None:
    # Act
    window = THREE_MINUTES.window(from_ms, to_ms)

    # Assert
    first = THREE_MINUTES.times_ms.index(times[0])
    assert window.times_ms == times
    assert window.closes == THREE_MINUTES.closes[first : first + len(times)]
    assert (window.symbol, window.bar_ms) == ("X", MINUTE_MS)


def test_bars_window_without_bars_raises_with_the_series_span() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=r"no bar opens in \[60001, 180000\) ms"):
        THREE_MINUTES.window(60_001, 180_000)


@pytest.mark.parametrize(
    ("times", "ohlc", "bar_ms", "message"),
    [
        ([], [], MINUTE_MS, "at least one bar"),
        ([0, 60_000], [(1.0, 1.0, 1.0, 1.0)], MINUTE_MS, "equal lengths"),
        ([0], [(1.0, 1.0, 1.0, 1.0)], 3, "bar_ms must be 0"),
        ([0], [(1.0, 1.0, 1.0, 1.0)], -60_000, "bar_ms must be 0"),
        ([0, 0], [(1.0, 1.0, 1.0, 1.0)] * 2, MINUTE_MS, "starts 0 ms after"),
        ([60_000, 0], [(1.0, 1.0, 1.0, 1.0)] * 2, MINUTE_MS, "starts -60000 ms after"),
        ([0, 30_000], [(1.0, 1.0, 1.0, 1.0)] * 2, MINUTE_MS, "at least bar_ms=60000"),
        ([0, 0], [(1.0, 1.0, 1.0, 1.0)] * 2, 0, "at least 1 for ticks"),
        ([0], [(0.0, 1.0, 0.0, 1.0)], MINUTE_MS, "open 0.0 must be positive"),
        ([0], [(1.0, math.inf, 1.0, 1.0)], MINUTE_MS, "high inf must be positive and finite"),
        ([0], [(1.0, 1.0, math.nan, 1.0)], MINUTE_MS, "low nan must be positive"),
        ([0], [(1.0, 2.0, 1.5, 1.8)], MINUTE_MS, "low 1.5 is above min"),
        ([0], [(1.0, 1.5, 0.5, 1.8)], MINUTE_MS, "high 1.5 is below max"),
        ([0], [(1.0, 1.2, 1.0, 1.0)], 0, "tick series"),
    ],
)
def test_bars_rejects_inconsistent_series_with_a_clear_message(
    times: list[int],
    ohlc: list[tuple[float, float, float, float]],
    bar_ms: int,
    message: str,
) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        bars_of(times, ohlc, bar_ms)


# --- intrabar order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ohlc", "order", "ticks"),
    [
        # open 100, high 101 (1 away), low 97 (3 away): the nearer high comes first
        ((100.0, 101.0, 97.0, 99.0), IntrabarOrder.NEAREST, (100.0, 101.0, 97.0, 99.0)),
        # open 100, high 104 (4 away), low 99 (1 away): the nearer low comes first
        ((100.0, 104.0, 99.0, 103.0), IntrabarOrder.NEAREST, (100.0, 99.0, 104.0, 103.0)),
        # equal distances: the low first
        ((100.0, 102.0, 98.0, 101.0), IntrabarOrder.NEAREST, (100.0, 98.0, 102.0, 101.0)),
        # open at the high: distance 0, so the high (= open) first, then the low
        ((100.0, 100.0, 95.0, 96.0), IntrabarOrder.NEAREST, (100.0, 100.0, 95.0, 96.0)),
        # a flat bar is a tie
        ((7.0, 7.0, 7.0, 7.0), IntrabarOrder.NEAREST, (7.0, 7.0, 7.0, 7.0)),
        # fixed orders ignore the distances
        ((100.0, 104.0, 99.0, 103.0), IntrabarOrder.HIGH_FIRST, (100.0, 104.0, 99.0, 103.0)),
        ((100.0, 101.0, 97.0, 99.0), IntrabarOrder.LOW_FIRST, (100.0, 97.0, 101.0, 99.0)),
    ],
)
def test_bar_ticks_visits_open_extremes_in_order_then_close(
    ohlc: tuple[float, float, float, float],
    order: IntrabarOrder,
    ticks: tuple[float, float, float, float],
) -> None:
    # Arrange
    open_, high, low, close = ohlc

    # Act / Assert
    assert bar_ticks(open_, high, low, close, order) == ticks


def test_bar_ticks_nearest_treats_a_decimal_tie_broken_by_float_rounding_as_a_tie() -> None:
    # Arrange: btcusdt-perp-2022-11-08.csv at 1667989560000; the open is 41.70 from both
    # extremes, but 17454.60 - 17412.90 < 17412.90 - 17371.20 in binary floats.
    open_, high, low, close = 17412.90, 17454.60, 17371.20, 17443.10
    assert high - open_ < open_ - low

    # Act
    ticks = bar_ticks(open_, high, low, close, IntrabarOrder.NEAREST)

    # Assert
    assert ticks == (open_, low, high, close)


def test_intrabar_order_values_are_the_config_strings() -> None:
    # Act / Assert
    assert [IntrabarOrder(v) for v in ("nearest", "high_first", "low_first")] == list(IntrabarOrder)


# --- expand ------------------------------------------------------------------------------------


def test_expand_one_minute_bars_ticks_at_0_15_30_45_seconds_and_keeps_gaps() -> None:
    # Act
    times, prices = expand(THREE_MINUTES, IntrabarOrder.HIGH_FIRST)

    # Assert
    assert TICK_OFFSETS == (0.0, 0.25, 0.5, 0.75)
    assert times == (
        *(0, 15_000, 30_000, 45_000),
        *(60_000, 75_000, 90_000, 105_000),
        *(180_000, 195_000, 210_000, 225_000),
    )
    assert prices == (
        *(100.0, 102.0, 99.0, 101.0),
        *(101.0, 101.5, 97.0, 98.0),
        *(98.0, 99.0, 96.0, 96.5),
    )


def test_expand_bar_length_not_divisible_by_four_rounds_tick_times_down_to_whole_ms() -> None:
    # Arrange
    bars = bars_of([1_000], [(1.0, 2.0, 0.5, 1.5)], bar_ms=10)

    # Act
    times, _ = expand(bars, IntrabarOrder.NEAREST)

    # Assert: 0, 2.5, 5, 7.5 ms into the bar
    assert times == (1_000, 1_002, 1_005, 1_007)


def test_expand_tick_series_gives_one_tick_per_point() -> None:
    # Arrange
    ticks = bars_of(
        [0, 400, 1_000],
        [(3.0, 3.0, 3.0, 3.0), (2.0, 2.0, 2.0, 2.0), (2.5, 2.5, 2.5, 2.5)],
        bar_ms=0,
    )

    # Act
    path = expand(ticks, IntrabarOrder.NEAREST)

    # Assert
    assert path == ((0, 400, 1_000), (3.0, 2.0, 2.5))


@st.composite
def kline_series(draw: st.DrawFn) -> Bars:
    """Consistent klines: arbitrary bar length, gaps of at least one bar, OHLC within the range."""
    bar_ms = draw(st.integers(min_value=4, max_value=DAY_MS))
    count = draw(st.integers(min_value=1, max_value=12))
    time_ms = draw(st.integers(min_value=0, max_value=2 * 10**12))
    times: list[int] = []
    ohlc: list[tuple[float, float, float, float]] = []
    prices = st.floats(min_value=1e-6, max_value=1e6)
    stretch = st.floats(min_value=0.0, max_value=0.5)
    for _ in range(count):
        times.append(time_ms)
        open_, close = draw(prices), draw(prices)
        high = max(open_, close) * (1 + draw(stretch))
        low = min(open_, close) * (1 - draw(stretch))
        ohlc.append((open_, high, low, close))
        time_ms += bar_ms * draw(st.integers(min_value=1, max_value=3))
    return bars_of(times, ohlc, bar_ms)


@settings(max_examples=150)
@given(bars=kline_series(), order=st.sampled_from(IntrabarOrder))
def test_expand_path_stays_in_each_bar_range_from_open_to_close(
    bars: Bars, order: IntrabarOrder
) -> None:
    # Act
    times, prices = expand(bars, order)

    # Assert
    assert len(times) == len(prices) == 4 * len(bars.times_ms)
    assert all(a < b for a, b in pairwise(times))
    for i, (o, h, lo, c) in enumerate(
        zip(bars.opens, bars.highs, bars.lows, bars.closes, strict=True)
    ):
        ticks = prices[4 * i : 4 * i + 4]
        assert ticks[0] == o
        assert ticks[-1] == c
        assert sorted(ticks) == sorted((o, h, lo, c))
        assert all(lo <= p <= h for p in ticks)
        assert all(bars.index_at(t) == i for t in times[4 * i : 4 * i + 4])


# --- real crash files ----------------------------------------------------------------------------

CRASH_FILES = [
    # file, rows, first ts, last ts, first open, last close, max high @ ts, min low @ ts
    ("btcusdt-perp-2020-03-12.csv", 2880, 1583971200000, 1584143940000, 7938.39, 5570.26,
     (7969.00, 1583971440000), (3621.81, 1584065760000)),
    ("btcusdt-perp-2021-05-19.csv", 1440, 1621382400000, 1621468740000, 42882.54, 36689.14,
     (43615.93, 1621383180000), (28688.00, 1621429800000)),
    ("btcusdt-perp-2022-05-09.csv", 5760, 1652054400000, 1652399940000, 34032.10, 29020.70,
     (34243.30, 1652059260000), (26631.00, 1652339880000)),
    ("btcusdt-perp-2022-11-08.csv", 2880, 1667865600000, 1668038340000, 20578.50, 15905.00,
     (20685.00, 1667925720000), (15462.60, 1668031680000)),
    ("btcusdt-perp-2024-08-05.csv", 1440, 1722816000000, 1722902340000, 58144.50, 54003.10,
     (58286.90, 1722816360000), (48888.00, 1722839040000)),
    ("btcusdt-perp-2025-10-10.csv", 721, 1760119200000, 1760162400000, 117590.80, 112412.80,
     (117825.20, 1760120760000), (101516.50, 1760131200000)),
    ("lunausdt-spot-2022-05.csv", 8680, 1651881600000, 1652402340000, 77.30, 0.00005,
     (77.50, 1651881720000), (0.00004, 1652402100000)),
]  # fmt: skip
"""Figures from ../shared/data/crashes/SOURCES.md."""


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "rows", "first_ms", "last_ms", "first_open", "last_close", "max_high", "min_low"),
    CRASH_FILES,
)
def test_read_price_csv_crash_file_matches_sources_md(
    name: str,
    rows: int,
    first_ms: int,
    last_ms: int,
    first_open: float,
    last_close: float,
    max_high: tuple[float, int],
    min_low: tuple[float, int],
) -> None:
    # Arrange
    path = crash_file(name)

    # Act
    bars = read_price_csv(path, SYMBOL)

    # Assert
    assert len(bars.times_ms) == rows
    assert (bars.start_ms, bars.times_ms[-1], bars.end_ms) == (first_ms, last_ms, last_ms + 60_000)
    assert bars.bar_ms == MINUTE_MS
    assert (bars.opens[0], bars.closes[-1]) == (first_open, last_close)
    assert (max(bars.highs), bars.times_ms[bars.highs.index(max(bars.highs))]) == max_high
    assert (min(bars.lows), bars.times_ms[bars.lows.index(min(bars.lows))]) == min_low


# --- layouts -------------------------------------------------------------------------------------


def crash_layout(rows: Sequence[Row]) -> str:
    return "\n".join([CRASH_HEADER, *(",".join(r) for r in rows)]) + "\n"


def headerless(rows: Sequence[Row]) -> str:
    return "".join(",".join(r) + "\n" for r in rows)


def vision_row(row: Row, scale: int = 1) -> str:
    """A data.binance.vision row: 12 columns, times multiplied by ``scale`` (1000 for µs)."""
    t, o, h, lo, c, v = row
    close_time = (int(t) + MINUTE_MS - 1) * scale
    return f"{int(t) * scale},{o},{h},{lo},{c},{v},{close_time},123.4,56,{v},78.9,0"


def vision_with_header(rows: Sequence[Row]) -> str:
    return "\n".join([VISION_HEADER, *(vision_row(r) for r in rows)]) + "\n"


def vision_headerless(rows: Sequence[Row]) -> str:
    return "\n".join(vision_row(r) for r in rows)  # and no final newline


def vision_microseconds(rows: Sequence[Row]) -> str:
    return "\n".join(vision_row(r, scale=1000) for r in rows) + "\n"


def windows_line_ends_and_blank_lines(rows: Sequence[Row]) -> str:
    lines = ["", CRASH_HEADER, ""]
    for r in rows:
        lines.extend([" , ".join(r), "   "])
    return "\r\n".join(lines)


def ticks_with_header(rows: Sequence[Row]) -> str:
    return "timestamp_ms,price\n" + "".join(f"{r[0]},{r[4]}\n" for r in rows)


def ticks_headerless(rows: Sequence[Row]) -> str:
    return "".join(f"{r[0]},{r[4]}\n" for r in rows)


LAYOUTS: list[tuple[Callable[[Sequence[Row]], str], Callable[[Sequence[Row]], Bars]]] = [
    (crash_layout, kline_bars),
    (headerless, kline_bars),
    (vision_with_header, kline_bars),
    (vision_headerless, kline_bars),
    (vision_microseconds, kline_bars),
    (windows_line_ends_and_blank_lines, kline_bars),
    (ticks_with_header, tick_bars),
    (ticks_headerless, tick_bars),
]


@pytest.fixture(
    params=[
        pytest.param("excerpt", id="excerpt"),
        pytest.param("full", id="crash-file", marks=pytest.mark.shared_data),
    ]
)
def source_rows(request: pytest.FixtureRequest) -> tuple[Row, ...]:
    """Rows of btcusdt-perp-2021-05-19.csv: its first five (always) or all of it (shared data)."""
    if request.param == "excerpt":
        return EXCERPT
    return read_rows(crash_file("btcusdt-perp-2021-05-19.csv"))


@pytest.mark.parametrize(("write", "expected"), LAYOUTS, ids=[w.__name__ for w, _ in LAYOUTS])
def test_read_price_csv_every_layout_of_the_same_rows_gives_the_expected_bars(
    tmp_path: Path,
    source_rows: tuple[Row, ...],
    write: Callable[[Sequence[Row]], str],
    expected: Callable[[Sequence[Row]], Bars],
) -> None:
    # Arrange
    path = tmp_path / "prices.csv"
    path.write_bytes(write(source_rows).encode("utf-8"))

    # Act
    bars = read_price_csv(path, SYMBOL)

    # Assert
    assert bars == expected(source_rows)


def test_read_price_csv_accepts_a_utf8_byte_order_mark_and_a_string_path(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + crash_layout(EXCERPT).encode("utf-8"))

    # Act
    bars = read_price_csv(str(path), SYMBOL)

    # Assert
    assert bars == kline_bars(EXCERPT)


def test_read_price_csv_infers_the_bar_length_from_the_median_gap_and_allows_missing_bars(
    tmp_path: Path,
) -> None:
    # Arrange: 5-minute bars with two holes (gaps of 10 and 15 minutes)
    starts = [0, 300_000, 900_000, 1_200_000, 2_100_000, 2_400_000]
    path = tmp_path / "five.csv"
    path.write_text("".join(f"{t},10,11,9,10.5,1\n" for t in starts), encoding="utf-8")

    # Act
    bars = read_price_csv(path, "X")

    # Assert
    assert bars.bar_ms == 300_000
    assert bars.times_ms == tuple(starts)
    assert bars.gaps == (
        PriceGap(line=3, after_ms=300_000, next_ms=900_000),
        PriceGap(line=5, after_ms=1_200_000, next_ms=2_100_000),
    )


# --- gaps: a missing stretch is read, kept and said, never silently ------------------------------

LUNA_BEFORE_GAP_MS = 1652402340000
"""2022-05-13 00:39 UTC, a bar open; the file below skips 26,240 minutes after it."""
LUNA_AFTER_GAP_MS = LUNA_BEFORE_GAP_MS + 26_241 * MINUTE_MS


def gap_file(tmp_path: Path) -> Path:
    """A crash-layout file: two bars, 26,240 missing minutes, two bars, 1 missing, one bar."""
    times = [
        LUNA_BEFORE_GAP_MS - MINUTE_MS,
        LUNA_BEFORE_GAP_MS,
        LUNA_AFTER_GAP_MS,
        LUNA_AFTER_GAP_MS + MINUTE_MS,
        LUNA_AFTER_GAP_MS + 3 * MINUTE_MS,
    ]
    path = tmp_path / "gaps.csv"
    rows = "".join(f"{t},0.0002,0.0003,0.0001,0.0002,1\n" for t in times)
    path.write_text(f"{CRASH_HEADER}\n{rows}", encoding="utf-8")
    return path


def test_read_price_csv_keeps_each_missing_stretch_as_a_gap_with_its_line_and_times(
    tmp_path: Path,
) -> None:
    # Arrange
    path = gap_file(tmp_path)

    # Act
    bars = read_price_csv(path, SYMBOL)

    # Assert: lines count the header; each gap names the bar after it
    assert len(bars.times_ms) == 5
    assert bars.gaps == (
        PriceGap(line=4, after_ms=LUNA_BEFORE_GAP_MS, next_ms=LUNA_AFTER_GAP_MS),
        PriceGap(
            line=6,
            after_ms=LUNA_AFTER_GAP_MS + MINUTE_MS,
            next_ms=LUNA_AFTER_GAP_MS + 3 * MINUTE_MS,
        ),
    )
    assert bars.gaps[0].missing_ms(bars.bar_ms) == 26_240 * MINUTE_MS
    assert bars.source == str(path)


def test_gap_notes_say_each_gap_in_one_line_with_file_line_length_and_time(
    tmp_path: Path,
) -> None:
    # Arrange
    path = gap_file(tmp_path)

    # Act
    notes = read_price_csv(path, SYMBOL).gap_notes

    # Assert
    assert notes == (
        f"{path}:4: 26240 minutes missing after 2022-05-13 00:39 UTC "
        "(the next bar opens 2022-05-31 06:00 UTC)",
        f"{path}:6: 1 minute missing after 2022-05-31 06:01 UTC "
        "(the next bar opens 2022-05-31 06:03 UTC)",
    )


@pytest.mark.parametrize(
    ("bar_ms", "times", "note"),
    [
        (5_000, [0, 5_000, 20_000], "X:0: 10 seconds missing after 1970-01-01 00:00:05 UTC"),
        (4, [0, 4, 9], "X:0: 1 ms missing after 1970-01-01 00:00:00.004 UTC"),
    ],
)
def test_gap_notes_of_a_built_series_name_the_symbol_and_fit_the_bar_length(
    bar_ms: int, times: list[int], note: str
) -> None:
    # Arrange
    flat = (1.0, 1.0, 1.0, 1.0)
    gap = PriceGap(line=0, after_ms=times[1], next_ms=times[2])
    bars = Bars("X", tuple(times), *zip(*[flat] * 3, strict=True), bar_ms=bar_ms, gaps=(gap,))

    # Act
    (said,) = bars.gap_notes

    # Assert
    assert said.startswith(note)


def test_read_price_csv_finds_no_gap_in_a_contiguous_kline_file_or_a_tick_file(
    tmp_path: Path,
) -> None:
    # Arrange: klines a minute apart, and ticks irregularly apart
    klines = tmp_path / "klines.csv"
    klines.write_text(crash_layout(EXCERPT), encoding="utf-8")
    ticks = tmp_path / "ticks.csv"
    ticks.write_text("timestamp_ms,price\n0,5\n1000,6\n90000,7\n", encoding="utf-8")

    # Act / Assert
    assert read_price_csv(klines, SYMBOL).gaps == ()
    assert read_price_csv(ticks, SYMBOL).gaps == ()
    assert read_price_csv(ticks, SYMBOL).gap_notes == ()


@pytest.mark.parametrize(
    ("from_ms", "to_ms", "kept"),
    [
        (None, None, 2),
        (LUNA_BEFORE_GAP_MS, None, 2),  # the bar before the first gap opens the window
        (LUNA_BEFORE_GAP_MS + 1, None, 1),  # the first gap is before the window
        (None, LUNA_AFTER_GAP_MS + 1, 1),  # the second gap is after the window
        (None, LUNA_AFTER_GAP_MS, 0),  # the bar after the first gap is outside
        (LUNA_AFTER_GAP_MS, LUNA_AFTER_GAP_MS + 2 * MINUTE_MS, 0),
    ],
)
def test_bars_window_keeps_only_the_gaps_with_bars_of_the_window_on_both_sides(
    tmp_path: Path, from_ms: int | None, to_ms: int | None, kept: int
) -> None:
    # Arrange
    bars = read_price_csv(gap_file(tmp_path), SYMBOL)

    # Act
    window = bars.window(from_ms, to_ms)

    # Assert
    expected = tuple(
        g for g in bars.gaps if g.after_ms in window.times_ms and g.next_ms in window.times_ms
    )
    assert len(window.gaps) == kept
    assert window.gaps == expected
    assert window.source == bars.source


@pytest.mark.parametrize(
    "gap",
    [
        PriceGap(line=2, after_ms=0, next_ms=60_000),  # consecutive bars, no missing stretch
        PriceGap(line=3, after_ms=0, next_ms=180_000),  # not consecutive bars
        PriceGap(line=3, after_ms=60_000, next_ms=240_000),  # no bar opens at 240_000
    ],
)
def test_bars_refuses_a_gap_that_is_not_a_missing_stretch_between_two_bars(gap: PriceGap) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="is not a missing stretch"):
        Bars(
            "X",
            THREE_MINUTES.times_ms,
            THREE_MINUTES.opens,
            THREE_MINUTES.highs,
            THREE_MINUTES.lows,
            THREE_MINUTES.closes,
            MINUTE_MS,
            (gap,),
        )


# --- errors --------------------------------------------------------------------------------------

GOOD = "1621382400000,10,11,9,10.5,1"
"""A valid kline at 1621382400000; the rows after it in the cases below are one minute apart."""

ERROR_CASES = [
    # content, line number (None: the whole file), what the message says
    ("", None, "no price rows"),
    ("\n \n\t\n", None, "no price rows"),
    (CRASH_HEADER + "\n\n", None, "no price rows"),
    (f"{CRASH_HEADER}\n{GOOD}\n\n1621382460000,abc,11,9,10,1\n", 4, "open 'abc' is not a number"),
    (f"{GOOD}\n1621382460000,10,11,9,,1\n", 2, "close '' is not a number"),
    (f"{GOOD}\n16213824600x0,10,11,9,10,1\n", 2, "time '16213824600x0' is not a number"),
    (f"{GOOD}\n1621382460000.5,10,11,9,10,1\n", 2, "time '1621382460000.5' is not a whole"),
    ("-60000,10,11,9,10,1\n", 1, "time -60000 is negative"),
    (f"{GOOD}\n1621382460000,10,11,9,10\n", 2, "5 columns; the file's rows have 6"),
    (f"{CRASH_HEADER}\n{GOOD},7\n", 2, "7 columns; the file's rows have 6"),
    ("1621382400000,10,11,9\n", 1, "4 columns; expected 2 columns (timestamp_ms,price) or 6"),
    (GOOD + ",1" * 7 + "\n", 1, "13 columns; expected 2"),
    ("1621382400000\n", 1, "1 columns; expected 2"),
    ("time,high,low,open,close,volume\n", 1, "header columns 2 to 5 are high,low,open,close"),
    (f"{GOOD}\n{GOOD}\n", 2, "time 1621382400000 ms is not after the previous row's"),
    (f"{GOOD}\n\n1621382340000,10,11,9,10,1\n", 3, "(line 1)"),
    (f"{GOOD}\n1621382460000,0,11,9,10,1\n", 2, "open 0 must be a positive, finite price"),
    (f"{GOOD}\n1621382460000,10,11,-9,10,1\n", 2, "low -9 must be a positive"),
    (f"{GOOD}\n1621382460000,10,inf,9,10,1\n", 2, "high inf must be a positive, finite"),
    (f"{GOOD}\n1621382460000,10,nan,9,10,1\n", 2, "high nan must be a positive, finite"),
    (f"{GOOD}\n1621382460000,10,11,9,12,1\n", 2, "high 11 is below max(open, close)"),
    (f"{GOOD}\n1621382460000,10,11,9.5,9,1\n", 2, "low 9.5 is above min(open, close)"),
    (f"{GOOD}\n1621382460000,10,9,11,10,1\n", 2, "low 11 is above high 9"),
    ("timestamp_ms,price\n1621382400000,5\n1621382401000,-5\n", 3, "price -5 must be a positive"),
    ("1621382400000,5\n1621382400000,6\n", 2, "is not after the previous row's"),
    (
        f"{GOOD}\n1621382460000,10,11,9,10,1\n1621382520000,10,11,9,10,1\n"
        "1621382550000,10,11,9,10,1\n",
        4,
        "bar opens 30000 ms after the previous one (line 3), inside the 60000 ms bar length",
    ),
    (f"{CRASH_HEADER}\n{GOOD}\n", 2, "a single kline row; the bar length cannot be inferred"),
    ("1,10,11,9,10,1\n2,10,11,9,10,1\n3,10,11,9,10,1\n", 2, "bar length 1 ms inferred"),
]


@pytest.mark.parametrize(("content", "line_no", "what"), ERROR_CASES)
def test_read_price_csv_bad_file_raises_one_line_with_path_and_line_number(
    tmp_path: Path, content: str, line_no: int | None, what: str
) -> None:
    # Arrange
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    where = f"{path}: " if line_no is None else f"{path}:{line_no}: "

    # Act
    with pytest.raises(InputError) as caught:
        read_price_csv(path, SYMBOL)

    # Assert
    message = str(caught.value)
    assert message.startswith(where)
    assert what in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda tmp: tmp / "missing.csv", "cannot read: No such file or directory"),
        (lambda tmp: tmp, "cannot read: Is a directory"),
    ],
    ids=["missing", "directory"],
)
def test_read_price_csv_unreadable_path_says_it_cannot_read(
    tmp_path: Path, make: Callable[[Path], Path], what: str
) -> None:
    # Arrange
    path = make(tmp_path)

    # Act / Assert
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}: {what}$"):
        read_price_csv(path, SYMBOL)


def test_read_price_csv_binary_file_says_it_is_not_utf8(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")

    # Act / Assert
    with pytest.raises(InputError, match=r": cannot read: not UTF-8 text \(byte 1: ") as caught:
        read_price_csv(path, SYMBOL)
    assert str(caught.value).startswith(f"{path}: ")


# --- synthetic series ----------------------------------------------------------------------------


def test_gbm_bars_layout_open_is_previous_close_on_a_regular_grid() -> None:
    # Act
    bars = gbm_bars(
        "X", start_price=100.0, daily_volatility=0.05, start_ms=1_000, bar_ms=5_000, bars=50, seed=7
    )

    # Assert
    assert bars.times_ms == tuple(1_000 + 5_000 * i for i in range(50))
    assert bars.bar_ms == 5_000
    assert bars.opens[0] == 100.0
    assert bars.opens[1:] == bars.closes[:-1]


def test_gbm_bars_without_volatility_grow_by_exp_drift_per_day() -> None:
    # Act: one day of minutes, no noise
    bars = gbm_bars(
        "X",
        start_price=100.0,
        daily_volatility=0.0,
        start_ms=0,
        bars=1440,
        seed=1,
        drift_per_day=0.1,
    )

    # Assert
    assert bars.closes[-1] == pytest.approx(100.0 * math.exp(0.1), rel=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gbm_bars_realised_daily_volatility_of_ten_days_is_near_the_requested(seed: int) -> None:
    # Arrange: 14,400 one-minute returns; the estimate's relative error is about 0.6%
    requested = 0.05

    # Act
    bars = gbm_bars(
        "X", start_price=30_000.0, daily_volatility=requested, start_ms=0, bars=14_400, seed=seed
    )

    # Assert
    returns = [math.log(b / a) for a, b in pairwise(bars.closes)]
    realised = statistics.pstdev(returns) * math.sqrt(1440)
    assert realised == pytest.approx(requested, rel=0.05)


generator_args = st.fixed_dictionaries(
    {
        "start_price": st.floats(min_value=1e-4, max_value=1e6),
        "daily_volatility": st.floats(min_value=0.001, max_value=2.0),
        "start_ms": st.integers(min_value=0, max_value=2 * 10**12),
        "bar_ms": st.sampled_from([1_000, 60_000, 3_600_000]),
        "bars": st.integers(min_value=2, max_value=80),
        "substeps": st.integers(min_value=1, max_value=6),
    }
)


@settings(max_examples=60)
@given(args=generator_args, seed=st.integers(0, 2**32), other=st.integers(0, 2**32))
def test_gbm_bars_same_seed_same_bars_other_seed_other_bars_prices_positive(
    args: dict[str, int | float], seed: int, other: int
) -> None:
    # Act
    first = gbm_bars("X", seed=seed, **args)  # type: ignore[arg-type]
    again = gbm_bars("X", seed=seed, **args)  # type: ignore[arg-type]
    different = gbm_bars("X", seed=other, **args)  # type: ignore[arg-type]

    # Assert
    assert first == again
    assert (first.closes != different.closes) == (seed != other)
    assert min(first.lows) > 0


@settings(max_examples=60)
@given(
    args=generator_args,
    seed=st.integers(0, 2**32),
    jumps_per_day=st.floats(min_value=0.0, max_value=50.0),
    jump_mean=st.floats(min_value=-0.2, max_value=0.1),
    crash_size=st.floats(min_value=-0.95, max_value=0.5),
)
def test_jump_diffusion_bars_same_seed_same_bars_other_seed_other_bars_prices_positive(
    args: dict[str, int | float],
    seed: int,
    jumps_per_day: float,
    jump_mean: float,
    crash_size: float,
) -> None:
    # Arrange
    def make(s: int) -> Bars:
        return jump_diffusion_bars(
            "X",
            seed=s,
            jumps_per_day=jumps_per_day,
            jump_mean=jump_mean,
            crash_at_bar=0,
            crash_size=crash_size,
            crash_bars=2,
            **args,  # type: ignore[arg-type]
        )

    # Act
    first, again, different = make(seed), make(seed), make(seed + 1)

    # Assert
    assert first == again
    assert first.closes != different.closes
    assert min(first.lows) > 0


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**32),
    daily_volatility=st.floats(min_value=0.0, max_value=0.3),
    crash_size=st.floats(min_value=-0.9, max_value=-0.05),
    crash_bars=st.integers(min_value=1, max_value=60),
    crash_at_bar=st.integers(min_value=0, max_value=40),
    substeps=st.integers(min_value=1, max_value=6),
)
def test_jump_diffusion_bars_scheduled_crash_draws_down_by_crash_size_over_its_window(
    seed: int,
    daily_volatility: float,
    crash_size: float,
    crash_bars: int,
    crash_at_bar: int,
    substeps: int,
) -> None:
    # Act
    bars = jump_diffusion_bars(
        "X",
        start_price=40_000.0,
        daily_volatility=daily_volatility,
        start_ms=0,
        bars=crash_at_bar + crash_bars + 10,
        seed=seed,
        crash_at_bar=crash_at_bar,
        crash_size=crash_size,
        crash_bars=crash_bars,
        substeps=substeps,
    )

    # Assert: the log move over the window is log(1 + crash_size) plus a diffusion of
    # sigma * sqrt(window); allow six of those sigmas.
    move = math.log(bars.closes[crash_at_bar + crash_bars - 1] / bars.opens[crash_at_bar])
    diffusion = daily_volatility * math.sqrt(crash_bars / 1440)
    assert abs(move - math.log1p(crash_size)) <= 6 * diffusion + 1e-9


def test_jump_diffusion_bars_default_crash_loses_about_thirty_percent_in_fifteen_minutes() -> None:
    # Act
    bars = jump_diffusion_bars(
        "BTC", start_price=60_000.0, daily_volatility=0.05, start_ms=0, bars=120, seed=11,
        crash_at_bar=60,
    )  # fmt: skip

    # Assert
    before, after = bars.opens[60], bars.closes[74]
    assert after / before - 1 == pytest.approx(-0.3, abs=0.02)
    calm_before = bars.closes[59] / bars.opens[0] - 1
    assert abs(calm_before) < 0.05


def test_jump_diffusion_bars_jump_count_follows_the_poisson_rate() -> None:
    # Arrange: no diffusion, every jump exactly -0.001 in log price: the log move counts jumps
    jumps_per_day = 1_000.0

    # Act
    bars = jump_diffusion_bars(
        "X",
        start_price=100.0,
        daily_volatility=0.0,
        start_ms=0,
        bars=1440,
        seed=5,
        jumps_per_day=jumps_per_day,
        jump_mean=-0.001,
        jump_std=0.0,
    )

    # Assert: 1000 expected, Poisson standard deviation about 32
    jumps = round(math.log(bars.closes[-1] / 100.0) / -0.001)
    assert abs(jumps - jumps_per_day) < 5 * math.sqrt(jumps_per_day)


@pytest.mark.parametrize("jump_mean", [-2.0, 2.0])
def test_jump_diffusion_bars_price_leaving_the_float_range_raises_a_clear_error(
    jump_mean: float,
) -> None:
    # Arrange: about 600 jumps of e^-2 or e^2 a day drive the log price past +-709 within a day
    extreme = {"jumps_per_day": 600.0, "jump_mean": jump_mean, "jump_std": 0.0}

    # Act / Assert
    with pytest.raises(ValueError, match=r"X: the simulated price left the float range in bar"):
        jump_diffusion_bars(
            "X", start_price=1.0, daily_volatility=0.0, start_ms=0, bars=1440, seed=3, **extreme
        )


def test_jump_diffusion_bars_without_jumps_or_crash_equals_gbm_for_the_same_seed() -> None:
    # Arrange
    common = {"start_price": 250.0, "daily_volatility": 0.08, "start_ms": 0, "bars": 200}

    # Act
    jump = jump_diffusion_bars("X", seed=42, **common)  # type: ignore[arg-type]
    gbm = gbm_bars("X", seed=42, **common)  # type: ignore[arg-type]

    # Assert
    assert jump == gbm


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start_price": 0.0}, "start_price must be positive"),
        ({"daily_volatility": -0.01}, "daily_volatility must be >= 0"),
        ({"bar_ms": 0}, "bar_ms must be at least 4"),
        ({"bars": 0}, "bars must be at least 1"),
        ({"substeps": 0}, "substeps must be at least 1"),
        ({"jumps_per_day": -1.0}, "jumps_per_day must be >= 0"),
        ({"jump_std": -0.1}, "jump_std >= 0"),
        ({"crash_at_bar": 0, "crash_size": -1.0}, "crash_size must be above -1"),
        ({"crash_at_bar": 0, "crash_bars": 0}, "crash_bars must be at least 1"),
        ({"crash_at_bar": 90, "crash_bars": 15}, r"bars 90 to 104\) must lie within the 100"),
        ({"crash_at_bar": -1}, "must lie within"),
    ],
)
def test_jump_diffusion_bars_rejects_bad_parameters(
    overrides: dict[str, float], message: str
) -> None:
    # Arrange
    args: dict[str, float] = {
        "start_price": 100.0,
        "daily_volatility": 0.05,
        "start_ms": 0,
        "bars": 100,
        "seed": 1,
    }
    args.update(overrides)

    # Act / Assert
    with pytest.raises(ValueError, match=message):
        jump_diffusion_bars("X", **args)  # type: ignore[arg-type]


def test_gbm_bars_rejects_a_non_finite_drift() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="drift_per_day must be finite"):
        gbm_bars(
            "X", start_price=1.0, daily_volatility=0.1, start_ms=0, bars=3, seed=1,
            drift_per_day=math.inf,
        )  # fmt: skip
