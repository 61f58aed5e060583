"""What a replay's chart of one position shows: its lines and markers, with their styles.

The price chart's lines are the mark price, the guard's liquidation price and stop, the
``none`` baseline's liquidation price and the ``static-stop`` baseline's stop; its markers are
the guard's actions (one group per kind, at the action's price, else on the mark), where the
``static-stop`` baseline's stop filled, and a cross where a run was liquidated.
:mod:`riskguard.replay.report_chart` draws them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from riskguard.replay.report_positions import PositionKey
from riskguard.replay.result import Action, ReplayResult, RunResult, RunSeries

Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]

RUN_COLORS = {"guard": "#1f77b4", "none": "#d62728", "static-stop": "#ff7f0e"}
"""One colour per run, shared by its equity line, its stop and its liquidation cross."""

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


def to_times(times_ms: Sequence[int]) -> Times:
    """Epoch milliseconds as numpy datetimes, for matplotlib's time axis."""
    return np.asarray(times_ms, dtype="datetime64[ms]")


def liquidation_time(run: RunResult, key: PositionKey) -> int | None:
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


@dataclass(frozen=True, slots=True)
class Line:
    """A line on the price chart: its samples, legend label and matplotlib style."""

    times: Times
    values: Floats
    label: str
    style: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Points:
    """A group of markers on the price chart: where, legend label and matplotlib style."""

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
    return to_times(run.series.times_ms), values


def price_lines(result: ReplayResult, key: PositionKey, series: RunSeries) -> list[Line]:
    """The mark, then the runs' liquidation prices and stops that have a number."""
    mark = np.asarray(series.positions[key].mark, dtype=np.float64)
    lines = [Line(to_times(series.times_ms), mark, "mark price", {"color": "#333333", "lw": 1.0})]
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
            lines.append(Line(found[0], found[1], label, style))
    return lines


def action_points(
    actions: Iterable[Action], times_ms: Sequence[int], marks: Sequence[float]
) -> list[Points]:
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
            Points(
                to_times([t for t, _ in points]),
                np.asarray([y for _, y in points], dtype=np.float64),
                f"{kind.replace('_', ' ')} ({len(points)})",
                style,
            )
        )
    return groups


def baseline_fills(run: RunResult | None, key: PositionKey) -> list[Points]:
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
        Points(
            to_times([t for t, _ in found]),
            np.asarray([p for _, p in found], dtype=np.float64),
            f"stop filled ({run.name})",
            style,
        )
    ]


def liquidation_point(run: RunResult, key: PositionKey) -> list[Points]:
    """A cross on the mark where ``run`` lost the position to the venue."""
    t_ms = liquidation_time(run, key)
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
        Points(to_times([t_ms]), np.asarray([y], dtype=np.float64), f"{run.name} liquidated", style)
    ]
