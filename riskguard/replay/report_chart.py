"""A replay's chart of one position: prices and the guard's actions above, equity below.

:func:`plot_position` writes ``replay-….png``: on top, the lines and markers of
:mod:`riskguard.replay.report_chart_data` (the price axis keeps the mark in full view and
labels what lies far from it as off scale); below, each run's account equity. The title
compares what each run had left of the position's margin.

Charts are drawn with matplotlib's Agg canvas on a fresh :class:`~matplotlib.figure.Figure`,
so nothing touches pyplot's global state. A line longer than :data:`MAX_POINTS` keeps the
lowest and highest sample of each of ``MAX_POINTS / 2`` even buckets, so a one-minute wick
survives the thinning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from riskguard.replay.report_chart_data import (
    RUN_COLORS,
    Floats,
    Times,
    action_points,
    baseline_fills,
    liquidation_point,
    price_lines,
    to_times,
)
from riskguard.replay.report_numbers import num
from riskguard.replay.report_positions import (
    PositionKey,
    quote,
    reference_run,
    settle,
    several_accounts,
)
from riskguard.replay.result import ReplayResult, RunSeries
from riskguard.replay.runner import format_time

MAX_POINTS = 4000
"""Most points drawn per line (see the module docstring)."""

FIGSIZE_IN = (12.0, 7.0)
DPI = 110

RUN_WIDTHS = {"guard": 1.4, "none": 3.4, "static-stop": 1.2}
"""Equity line widths: ``none`` is a wide pale band under the others, so it still shows where
``static-stop`` runs along it (until a stop fires they are the same line)."""

OTHER_LINES_SPAN = 2.0
"""How far (in ranges of the mark) a liquidation price, stop or marker may lie from the mark
and still stretch the price axis; beyond, its label says it is off scale."""


def thin(times: Times, values: Floats, limit: int = MAX_POINTS) -> tuple[Times, Floats]:
    """At most ``limit`` points: the lowest and highest sample of each of ``limit // 2`` even
    buckets, in time order; a bucket with no number keeps one NaN so the line breaks there."""
    n = len(values)
    if n <= limit:
        return times, values
    edges = np.linspace(0, n, max(1, limit // 2) + 1).astype(np.int64)
    keep: list[int] = []
    for lo, hi in pairwise(edges):
        if hi <= lo:
            continue
        chunk = values[lo:hi]
        finite = np.flatnonzero(np.isfinite(chunk))
        if finite.size == 0:
            keep.append(int(lo))
            continue
        low = int(lo + finite[np.argmin(chunk[finite])])
        high = int(lo + finite[np.argmax(chunk[finite])])
        keep.extend(sorted({low, high}))
    index = np.asarray(keep, dtype=np.int64)
    return times[index], values[index]


class _PriceFormatter(Formatter):
    """Thousands separators, with as many decimals as the tick spacing needs."""

    def __init__(self) -> None:
        self.decimals = 0

    def format_ticks(self, values: Sequence[float] | npt.ArrayLike) -> list[str]:
        ticks = np.asarray(values, dtype=np.float64)
        steps = np.abs(np.diff(ticks))
        step = float(steps.min()) if steps.size else 0.0
        self.decimals = 0
        if step > 0 and math.isfinite(step):
            # the fewest decimals that write every tick exactly (0.25 steps need two)
            while self.decimals < 12 and np.any(
                np.abs(np.round(ticks, self.decimals) - ticks) > step * 1e-6
            ):
                self.decimals += 1
        return [self(float(v), i) for i, v in enumerate(ticks)]

    def __call__(self, x: float, pos: int | None = None) -> str:  # noqa: ARG002 (matplotlib's)
        return f"{x:,.{self.decimals}f}"


def _series_of(result: ReplayResult, key: PositionKey) -> RunSeries | None:
    """The guard's samples of the position, or the first run's that has them."""
    ordered = sorted(result.runs.values(), key=lambda r: r.name != "guard")
    return next((r.series for r in ordered if key in r.series.positions), None)


def plot_position(result: ReplayResult, key: PositionKey, path: Path) -> None:
    """Draw the chart of the position ``key`` and save it as the PNG ``path``."""
    account, symbol, _ = key
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=(3.0, 1.3))
    top = fig.add_subplot(grid[0])
    bottom = fig.add_subplot(grid[1], sharex=top)
    top.tick_params(labelbottom=False)
    fig.suptitle(_plain(chart_title(result, key, several_accounts=several_accounts(result))))

    series = _series_of(result, key)
    if series is not None and series.times_ms:
        _draw_prices(top, result, key, series)
        _draw_equity(bottom, result, account)
    else:
        top.text(0.5, 0.5, "no samples recorded", ha="center", va="center", transform=top.transAxes)

    # matplotlib.dates ships these two constructors without annotations.
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    dates = mdates.ConciseDateFormatter(locator, tz=UTC, show_offset=False)  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(dates)
    label = "time (UTC)"
    if series is not None and series.times_ms:
        label += f": {format_time(series.times_ms[0])} to {format_time(series.times_ms[-1])}"
    bottom.set_xlabel(label)
    top.set_ylabel(_plain(f"price ({quote(symbol)})"))
    bottom.set_ylabel(_plain(f"equity ({settle(symbol)})"))
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(_PriceFormatter())
        ax.grid(visible=True, alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.savefig(path, dpi=DPI)


def _plain(text: str) -> str:
    """Text for matplotlib as written: a ``$`` from a name would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _price_limits(mark: Floats, others: Iterable[Floats]) -> tuple[float, float] | None:
    """The mark in full view, and the other figures while they stay within
    :data:`OTHER_LINES_SPAN` mark ranges of it (further away, they would flatten the crash)."""
    finite = mark[np.isfinite(mark)]
    if finite.size == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    span = max(hi - lo, abs(hi) * 0.01, 1e-12)
    reach = OTHER_LINES_SPAN * span
    low, high = lo, hi
    for line in others:
        near = line[np.isfinite(line)]
        near = near[(near >= lo - reach) & (near <= hi + reach)]
        if near.size:
            low, high = min(low, float(near.min())), max(high, float(near.max()))
    pad = (high - low) * 0.04
    return low - pad, high + pad


def _off_scale(label: str, values: Floats, limits: tuple[float, float] | None) -> str:
    """``label``, saying so when some of its values fall outside the chart."""
    finite = values[np.isfinite(values)]
    if limits is None or finite.size == 0:
        return label
    outside = int(np.count_nonzero((finite < limits[0]) | (finite > limits[1])))
    if outside == 0:
        return label
    return f"{label}, off scale" if outside == finite.size else f"{label}, partly off scale"


def _draw_prices(ax: Axes, result: ReplayResult, key: PositionKey, series: RunSeries) -> None:
    lines = price_lines(result, key, series)
    track = series.positions[key]
    guard = result.runs.get("guard")
    position = guard.position(key) if guard is not None else None
    points = action_points(position.actions, series.times_ms, track.mark) if position else []
    points += baseline_fills(result.runs.get("static-stop"), key)
    crosses = [p for run in result.runs.values() for p in liquidation_point(run, key)]
    for i, cross in enumerate(crosses):  # shrinking, so crosses at one spot all show
        points.append(replace(cross, style={**cross.style, "s": 240 * 0.6**i}))
    limits = _price_limits(lines[0].values, [line.values for line in lines[1:]])
    for line in lines:
        times, values = thin(line.times, line.values)
        label = _plain(_off_scale(line.label, line.values, limits))
        ax.plot(times, values, label=label, **line.style)
    for group in points:
        label = _plain(_off_scale(group.label, group.values, limits))
        ax.scatter(group.times, group.values, label=label, **group.style)
    if limits is not None:
        ax.set_ylim(*limits)


def _draw_equity(ax: Axes, result: ReplayResult, account: str) -> None:
    for run in result.runs.values():
        equity = run.series.equity.get(account)
        if not equity:
            continue
        values = np.asarray(equity, dtype=np.float64)
        ax.plot(
            *thin(to_times(run.series.times_ms), values),
            color=RUN_COLORS.get(run.name),
            lw=RUN_WIDTHS.get(run.name, 1.4),
            alpha=0.45 if run.name == "none" else 1.0,
            zorder=1 if run.name == "none" else 2,
            label=_plain(f"{run.name} {num(equity[-1], 0)}"),
        )


def chart_title(result: ReplayResult, key: PositionKey, *, several_accounts: bool) -> str:
    """The position, then what each run had left of its margin."""
    account, symbol, side = key
    ref = reference_run(result)
    first = ref.position(key) if ref is not None else None
    head = f"{symbol} {side}"
    if first is not None:
        head += f" {first.leverage:g}x {first.margin_mode}"
    if several_accounts:
        head += f" (account {account})"
    outcomes = []
    for run in result.runs.values():
        position = run.position(key)
        if position is None:
            continue
        text = f"{run.name} {num(position.final_equity, 0)}"
        if position.liquidated:
            text += " (liquidated)"
        outcomes.append(text)
    if first is None or not outcomes:
        return head
    return f"{head}\nleft of its {num(first.initial_margin, 0)} margin: " + " · ".join(outcomes)
