"""A replay's report: one chart per position and an ``index.html`` that explains them.

:func:`write_report` writes into a folder:

- ``replay-BTC-USDT-USDT-long.png`` (the account is in the name when there are several): on
  top, the mark price, the guard's liquidation price and stop, the ``none`` baseline's
  liquidation price, the ``static-stop`` baseline's stop and where it filled, the guard's
  actions (one marker per kind) and a cross where a run was liquidated; below, each run's
  account equity;
- ``index.html``: what was replayed, each run's totals, what the guard saved against each
  baseline, each position's figures per run, the charts, and the guard's actions per position.
  Self-contained (inline CSS, no script, no external file but the charts beside it); every text
  from the result is escaped.

Charts are drawn with matplotlib's Agg canvas on a fresh :class:`~matplotlib.figure.Figure`,
so nothing touches pyplot's global state. A line longer than :data:`MAX_POINTS` keeps the
lowest and highest sample of each of ``MAX_POINTS / 2`` even buckets, so a one-minute wick
survives the thinning.
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from riskguard.replay.result import Action, PositionResult, ReplayResult, RunResult, RunSeries
from riskguard.replay.runner import format_time

PositionKey = tuple[str, str, str]
Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]

MAX_POINTS = 4000
"""Most points drawn per line (see the module docstring)."""

FIGSIZE_IN = (12.0, 7.0)
DPI = 110

RUN_COLORS = {"guard": "#1f77b4", "none": "#d62728", "static-stop": "#ff7f0e"}
"""One colour per run, shared by its equity line, its stop and its liquidation cross."""

RUN_WIDTHS = {"guard": 1.4, "none": 3.4, "static-stop": 1.2}
"""Equity line widths: ``none`` is a wide pale band under the others, so it still shows where
``static-stop`` runs along it (until a stop fires they are the same line)."""

ACTION_STYLES: dict[str, tuple[str, str, float]] = {
    "reduce": ("v", "#9467bd", 55.0),
    "close": ("s", "#8c564b", 55.0),
    "place_stop": ("P", "#1f77b4", 60.0),
    "move_stop": (">", "#17becf", 50.0),
    "replace_stop": (">", "#17becf", 50.0),
    "cancel_stop": ("d", "#7f7f7f", 45.0),
    "stop_filled": ("*", "#2ca02c", 150.0),
    "add_margin": ("o", "#8a8a00", 70.0),
    "set_leverage": ("D", "#e377c2", 40.0),
    "failed": ("x", "#000000", 60.0),
}
"""Marker, colour and size of each kind of action on the price chart."""

HOLLOW_ACTIONS = frozenset({"add_margin", "cancel_stop"})
"""Kinds drawn as rings: they have no price and sit on the mark, often over a reduction."""

OTHER_ACTION = (".", "#555555", 40.0)

OTHER_LINES_SPAN = 2.0
"""How far (in ranges of the mark) a liquidation price, stop or marker may lie from the mark
and still stretch the price axis; beyond, its label says it is off scale."""


def write_report(result: ReplayResult, folder: Path | str) -> Path:
    """Write one PNG per position and ``index.html`` into ``folder`` (created if missing).

    Positions are those of the guard run (of the first run when there is no guard run).
    Returns the path of ``index.html``.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    keys = _position_keys(result)
    names = _chart_names(keys)
    for key in keys:
        _plot_position(result, key, out / names[key])
    index = out / "index.html"
    index.write_text(_index_html(result, keys, names), encoding="utf-8")
    return index


# ---------------------------------------------------------------------- positions and names


def _reference_run(result: ReplayResult) -> RunResult | None:
    if "guard" in result.runs:
        return result.runs["guard"]
    return next(iter(result.runs.values()), None)


def _position_keys(result: ReplayResult) -> list[PositionKey]:
    run = _reference_run(result)
    return [p.key for p in run.positions] if run is not None else []


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or "x"


def _chart_names(keys: Sequence[PositionKey]) -> dict[PositionKey, str]:
    """``replay-[ACCOUNT-]BASE-QUOTE-SETTLE-SIDE.png``, unique even when two names clean alike."""
    several_accounts = len({k[0] for k in keys}) > 1
    names: dict[PositionKey, str] = {}
    used: set[str] = set()
    for key in keys:
        account, symbol, side = key
        parts = [account, symbol, side] if several_accounts else [symbol, side]
        stem = "replay-" + "-".join(_safe(p) for p in parts)
        name, n = f"{stem}.png", 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}.png"
        used.add(name.lower())
        names[key] = name
    return names


def _quote(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``USDT`` (the currency prices are in)."""
    _, _, rest = symbol.partition("/")
    return rest.partition(":")[0] or "quote"


def _settle(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``USDT`` (the currency money figures are in)."""
    _, sep, settle = symbol.partition(":")
    return settle if sep and settle else _quote(symbol)


# ---------------------------------------------------------------------- the chart


def _times(times_ms: Sequence[int]) -> Times:
    return np.asarray(times_ms, dtype="datetime64[ms]")


def _thin(times: Times, values: Floats, limit: int = MAX_POINTS) -> tuple[Times, Floats]:
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


def _liquidation_time(run: RunResult, key: PositionKey) -> int | None:
    """When ``run`` lost the position to the venue: the last sample where its size fell to 0."""
    position = run.position(key)
    track = run.series.positions.get(key)
    if position is None or not position.liquidated or track is None:
        return None
    sizes = track.size
    drops = [i for i in range(1, len(sizes)) if sizes[i - 1] > 0 and sizes[i] == 0]
    return run.series.times_ms[drops[-1]] if drops else None


def _value_at(times_ms: Sequence[int], values: Sequence[float], t_ms: int) -> float:
    """The last sample at or before ``t_ms`` (the first one before the series starts)."""
    if not times_ms:
        return math.nan
    i = max(0, bisect_right(times_ms, t_ms) - 1)
    return values[i]


def _plot_position(result: ReplayResult, key: PositionKey, path: Path) -> None:
    account, symbol, _ = key
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 1, height_ratios=(3.0, 1.3))
    top = fig.add_subplot(grid[0])
    bottom = fig.add_subplot(grid[1], sharex=top)
    top.tick_params(labelbottom=False)
    fig.suptitle(_plain(_chart_title(result, key, several_accounts=_several_accounts(result))))

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
    top.set_ylabel(_plain(f"price ({_quote(symbol)})"))
    bottom.set_ylabel(_plain(f"equity ({_settle(symbol)})"))
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(_PriceFormatter())
        ax.grid(visible=True, alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    fig.savefig(path, dpi=DPI)


def _plain(text: str) -> str:
    """Text for matplotlib as written: a ``$`` from a name would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _several_accounts(result: ReplayResult) -> bool:
    return len({k[0] for k in _position_keys(result)}) > 1


@dataclass(frozen=True, slots=True)
class _Line:
    times: Times
    values: Floats
    label: str
    style: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Points:
    times: Times
    values: Floats
    label: str
    style: Mapping[str, Any]


def _line(run: RunResult | None, key: PositionKey, field: str) -> tuple[Times, Floats] | None:
    track = run.series.positions.get(key) if run is not None else None
    if run is None or track is None:
        return None
    values = np.asarray(getattr(track, field), dtype=np.float64)
    if not np.isfinite(values).any():
        return None
    return _times(run.series.times_ms), values


def _price_lines(result: ReplayResult, key: PositionKey, series: RunSeries) -> list[_Line]:
    mark = np.asarray(series.positions[key].mark, dtype=np.float64)
    lines = [_Line(_times(series.times_ms), mark, "mark price", {"color": "#333333", "lw": 1.0})]
    wanted: list[tuple[str, str, str, dict[str, Any]]] = [
        ("guard", "liquidation", "liquidation (guard)", {"color": "#d62728", "lw": 1.3}),
        (
            "guard",
            "stop",
            "stop (guard)",
            {"color": RUN_COLORS["guard"], "lw": 1.5, "drawstyle": "steps-post"},
        ),
        (
            "none",
            "liquidation",
            "liquidation (none)",
            {"color": "#d62728", "lw": 1.0, "ls": ":", "alpha": 0.8},
        ),
        (
            "static-stop",
            "stop",
            "stop (static-stop)",
            {"color": RUN_COLORS["static-stop"], "lw": 1.3, "ls": "--", "drawstyle": "steps-post"},
        ),
    ]
    for run_name, field, label, style in wanted:
        found = _line(result.runs.get(run_name), key, field)
        if found is not None:
            lines.append(_Line(found[0], found[1], label, style))
    return lines


def _action_points(
    actions: Iterable[Action], times_ms: Sequence[int], marks: Sequence[float]
) -> list[_Points]:
    """The guard's actions, one group per kind: at the action's price, else on the mark."""
    by_kind: dict[str, list[tuple[int, float]]] = {}
    for action in actions:
        price = action.price
        y = price if price is not None and math.isfinite(price) and price > 0 else math.nan
        if math.isnan(y):
            y = _value_at(times_ms, marks, action.time_ms)
        by_kind.setdefault(action.kind, []).append((action.time_ms, y))
    groups = []
    for kind, points in by_kind.items():
        marker, color, size = ACTION_STYLES.get(kind, OTHER_ACTION)
        style: dict[str, Any] = {"marker": marker, "s": size}
        if marker == "x":
            style |= {"c": color, "linewidths": 1.5, "zorder": 6}
        elif kind in HOLLOW_ACTIONS:
            style |= {"facecolors": "none", "edgecolors": color, "linewidths": 1.4, "zorder": 6}
        else:
            style |= {"c": color, "edgecolors": "white", "linewidths": 0.6, "zorder": 5}
        groups.append(
            _Points(
                _times([t for t, _ in points]),
                np.asarray([y for _, y in points], dtype=np.float64),
                f"{kind.replace('_', ' ')} ({len(points)})",
                style,
            )
        )
    return groups


def _baseline_fills(run: RunResult | None, key: PositionKey) -> list[_Points]:
    """Where a baseline's stop filled: hollow stars in its colour, beside the guard's."""
    position = run.position(key) if run is not None else None
    if run is None or position is None:
        return []
    points = [(a.time_ms, a.price) for a in position.actions if a.kind == "stop_filled"]
    found = [(t, p) for t, p in points if p is not None]
    if not found:
        return []
    style = {
        "marker": "*",
        "s": 150,
        "facecolors": "none",
        "edgecolors": RUN_COLORS.get(run.name, "#ff7f0e"),
        "linewidths": 1.3,
        "zorder": 5,
    }
    return [
        _Points(
            _times([t for t, _ in found]),
            np.asarray([p for _, p in found], dtype=np.float64),
            f"stop filled ({run.name})",
            style,
        )
    ]


def _liquidation_point(run: RunResult, key: PositionKey) -> list[_Points]:
    """A cross on the mark where ``run`` lost the position to the venue."""
    t_ms = _liquidation_time(run, key)
    track = run.series.positions.get(key)
    if t_ms is None or track is None:
        return []
    style = {
        "marker": "X",
        "c": RUN_COLORS.get(run.name, "#d62728"),
        "edgecolors": "black",
        "linewidths": 1.0,
        "zorder": 7,
    }
    y = _value_at(run.series.times_ms, track.mark, t_ms)
    return [
        _Points(_times([t_ms]), np.asarray([y], dtype=np.float64), f"{run.name} liquidated", style)
    ]


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
    lines = _price_lines(result, key, series)
    track = series.positions[key]
    guard = result.runs.get("guard")
    position = guard.position(key) if guard is not None else None
    points = _action_points(position.actions, series.times_ms, track.mark) if position else []
    points += _baseline_fills(result.runs.get("static-stop"), key)
    crosses = [p for run in result.runs.values() for p in _liquidation_point(run, key)]
    for i, cross in enumerate(crosses):  # shrinking, so crosses at one spot all show
        points.append(replace(cross, style={**cross.style, "s": 240 * 0.6**i}))
    limits = _price_limits(lines[0].values, [line.values for line in lines[1:]])
    for line in lines:
        times, values = _thin(line.times, line.values)
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
            *_thin(_times(run.series.times_ms), values),
            color=RUN_COLORS.get(run.name),
            lw=RUN_WIDTHS.get(run.name, 1.4),
            alpha=0.45 if run.name == "none" else 1.0,
            zorder=1 if run.name == "none" else 2,
            label=_plain(f"{run.name} {_num(equity[-1], 0)}"),
        )


def _chart_title(result: ReplayResult, key: PositionKey, *, several_accounts: bool) -> str:
    account, symbol, side = key
    ref = _reference_run(result)
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
        text = f"{run.name} {_num(position.final_equity, 0)}"
        if position.liquidated:
            text += " (liquidated)"
        outcomes.append(text)
    if first is None or not outcomes:
        return head
    return f"{head}\nleft of its {_num(first.initial_margin, 0)} margin: " + " · ".join(outcomes)


# ---------------------------------------------------------------------- index.html


def _num(value: float | None, decimals: int = 2) -> str:
    """``12,345.68``; ``—`` for nothing; no ``-0.00``."""
    if value is None or not math.isfinite(value):
        return "—" if value is None or math.isnan(value) else ("∞" if value > 0 else "-∞")
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0
    return f"{value:,.{decimals}f}"


def _signed(value: float, decimals: int = 2) -> str:
    text = _num(value, decimals)
    return text if text.startswith("-") or text in ("—", _num(0.0, decimals)) else "+" + text


def _count(value: int) -> str:
    return f"{value:+,d}" if value else "0"


def _price(value: float | None) -> str:
    """Prices keep six significant digits below 1 (LUNA fell to 0.00004)."""
    if value is None or not math.isfinite(value):
        return "—"
    size = abs(value)
    if size >= 1000:
        return _num(value, 2)
    if size >= 1:
        return _num(value, 4)
    if size == 0:
        return "0"
    return _num(value, 5 - math.floor(math.log10(size)))


def _amount(value: float | None) -> str:
    return "—" if value is None else f"{value:,.8g}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Callable[[int], bool]
) -> str:
    """A table whose cells are already escaped; ``numeric(i)`` right-aligns column ``i``."""
    cls = [' class="num"' if numeric(i) else "" for i in range(len(head))]
    lines = ["<table>", "<thead><tr>"]
    lines += [f"<th{c}>{_e(h)}</th>" for h, c in zip(head, cls, strict=True)]
    lines.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cls, strict=True))
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.bad { color: #b00020; font-weight: 600; } .good { color: #1b7a1b; }
details { margin: 0.5em 0 2em; } summary { cursor: pointer; font-weight: 600; }
"""


def _index_html(
    result: ReplayResult, keys: Sequence[PositionKey], names: Mapping[PositionKey, str]
) -> str:
    symbols = sorted({k[1] for k in keys})
    title = "riskguard replay" + (f": {', '.join(symbols)}" if symbols else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _inputs_html(result),
        "<h2>Runs</h2>",
        _runs_html(result),
        "<h2>What the guard saved</h2>",
        _saved_html(result),
        "<h2>Positions</h2>",
        _positions_html(result, keys),
    ]
    several = len({k[0] for k in keys}) > 1
    parts += [_position_section(result, k, names[k], several_accounts=several) for k in keys]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _window(result: ReplayResult) -> str:
    inputs = result.inputs
    start, end = inputs.get("from"), inputs.get("to")
    run = _reference_run(result)
    times = run.series.times_ms if run is not None else []
    first = format_time(times[0]) + " UTC" if times else "the start of the file"
    last = format_time(times[-1]) + " UTC" if times else "its end"
    return f"{start or first} to {end or last}"


def _inputs_html(result: ReplayResult) -> str:
    inputs = result.inputs
    rows: list[tuple[str, str]] = []
    if "venue" in inputs:
        rows.append(("venue", _e(inputs["venue"])))
    if "poll_interval_s" in inputs:
        rows.append(("poll interval", f"{_e(inputs['poll_interval_s'])} s"))
    rows.append(("window", _e(_window(result))))
    prices = inputs.get("prices")
    if isinstance(prices, Mapping) and prices:
        files = "<br>".join(f"{_e(s)}: <code>{_e(f)}</code>" for s, f in prices.items())
        rows.append(("price files", files))
    known = {"venue", "poll_interval_s", "prices", "from", "to", "accounts", "notes"}
    rows += [(str(k), _e(v)) for k, v in inputs.items() if k not in known]
    rows.append(("replay took", f"{result.wall_s:,.1f} s"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    out = [f"<h2>What was replayed</h2>\n<dl>{dl}</dl>"]

    position_rows: list[list[str]] = []
    accounts = inputs.get("accounts")
    for account in accounts if isinstance(accounts, Sequence) else []:
        if not isinstance(account, Mapping):
            continue
        for p in account.get("positions", []) or []:
            if not isinstance(p, Mapping):
                continue
            notional, size = p.get("notional"), p.get("size")
            position_rows.append(
                [
                    _e(account.get("id", "")),
                    _num(_float(account.get("balance"))),
                    _e(p.get("symbol", "")),
                    _e(p.get("side", "")),
                    _e(f"{_float(p.get('leverage')) or 0:g}x"),
                    _e(p.get("margin_mode", "")),
                    _num(_float(notional)) if notional is not None else "—",
                    _amount(_float(size)) if size is not None else "—",
                ]
            )
    if position_rows:
        head = ["account", "balance", "symbol", "side", "leverage", "mode", "notional", "size"]
        out.append("<h3>Opened at the first price</h3>")
        out.append(_table(head, position_rows, lambda i: i in (1, 4, 6, 7)))
    notes = inputs.get("notes")
    if isinstance(notes, Sequence) and not isinstance(notes, str) and notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes)
        out.append(f"<h3>Notes</h3>\n<ul>{items}</ul>")
    return "\n".join(out)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _runs_html(result: ReplayResult) -> str:
    head = [
        "run",
        "liquidations",
        "shortfall",
        "start equity",
        "final equity",
        "fees",
        "funding",
        "alerts",
        "cycles",
    ]
    rows = []
    for run in result.runs.values():
        t = run.totals
        liq = f'<span class="bad">{t.liquidations}</span>' if t.liquidations else "0"
        rows.append(
            [
                _e(run.name),
                liq,
                _num(t.shortfall),
                _num(t.start_equity),
                _num(t.final_equity),
                _num(t.fees),
                _num(t.funding),
                f"{run.alerts:,}",
                f"{run.cycles:,}",
            ]
        )
    note = (
        "<p>Money in the settlement currency. Shortfall: losses past a position's collateral, "
        "paid by the venue's insurance fund (a debt on some venues).</p>"
    )
    return note + _table(head, rows, lambda i: i > 0)


def _saved_html(result: ReplayResult) -> str:
    saved = result.saved()
    if not saved:
        return "<p>No guard run or no baseline: nothing to compare.</p>"
    head = [
        "against",
        "final equity (more)",
        "shortfall avoided",
        "liquidations avoided",
        "fees (less)",
    ]
    rows = []
    for name, figures in saved.items():
        equity = float(figures["final_equity"])
        cls = "good" if equity > 0 else "bad" if equity < 0 else ""
        rows.append(
            [
                _e(name),
                f'<span class="{cls}">{_signed(equity)}</span>' if cls else _signed(equity),
                _signed(float(figures["shortfall"])),
                _count(int(figures["liquidations"])),
                _signed(float(figures["fees"])),
            ]
        )
    note = "<p>Positive: the guard did better than the baseline.</p>"
    return note + _table(head, rows, lambda i: i > 0)


def _positions_html(result: ReplayResult, keys: Sequence[PositionKey]) -> str:
    head = [
        "account",
        "symbol",
        "side",
        "run",
        "liquidated",
        "margin",
        "shortfall",
        "final equity",
        "min distance %",
        "actions",
    ]
    rows = []
    for key in keys:
        for run in result.runs.values():
            p = run.position(key)
            if p is None:
                continue
            rows.append(
                [
                    _e(p.account),
                    _e(p.symbol),
                    _e(p.side),
                    _e(run.name),
                    '<span class="bad">yes</span>' if p.liquidated else "no",
                    _num(p.initial_margin),
                    _num(p.shortfall),
                    _num(p.final_equity),
                    _num(p.min_distance_pct),
                    f"{len(p.actions):,}",
                ]
            )
    note = (
        "<p>Margin: put into the position when it was opened. Final equity: what is left of "
        "it (below zero when the loss went past it and no shortfall covered it). Min distance: "
        "the smallest distance from the mark to the liquidation price at any poll "
        "(0 when liquidated).</p>"
    )
    return note + _table(head, rows, lambda i: i >= 5)


def _position_section(
    result: ReplayResult, key: PositionKey, png: str, *, several_accounts: bool
) -> str:
    account, symbol, side = key
    heading = f"{symbol} {side}" + (f" (account {account})" if several_accounts else "")
    alt = f"{symbol} {side}, account {account}: mark, liquidation and stop prices, the guard's "
    alt += "actions, and each run's equity over time"
    out = [
        f"<h2>{_e(heading)}</h2>",
        f'<p><img src="{_e(png)}" alt="{_e(alt)}" width="{int(FIGSIZE_IN[0] * DPI)}" '
        f'height="{int(FIGSIZE_IN[1] * DPI)}"></p>',
    ]
    guard = result.runs.get("guard")
    position: PositionResult | None = guard.position(key) if guard is not None else None
    if position is None:
        return "\n".join(out)
    rows = [
        [
            _e(format_time(a.time_ms)),
            _e(a.kind),
            _e(a.rule or ""),
            _amount(a.contracts),
            _price(a.price),
            _e(a.detail),
        ]
        for a in position.actions
    ]
    out.append(f"<details><summary>The guard's actions ({len(rows):,})</summary>")
    if rows:
        head = ["time (UTC)", "kind", "rule", "contracts", "price", "detail"]
        out.append(_table(head, rows, lambda i: i in (3, 4)))
    else:
        out.append("<p>The guard did nothing to this position.</p>")
    out.append("</details>")
    return "\n".join(out)
