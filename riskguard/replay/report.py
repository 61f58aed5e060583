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

The parts live beside this module: which positions and what their files are called in
:mod:`~riskguard.replay.report_positions`, the chart in :mod:`~riskguard.replay.report_chart`
(what it shows in :mod:`~riskguard.replay.report_chart_data`), the page in
:mod:`~riskguard.replay.report_page`, and how both write numbers in
:mod:`~riskguard.replay.report_numbers`.
"""

from __future__ import annotations

from pathlib import Path

from riskguard.replay.report_chart import DPI, FIGSIZE_IN, MAX_POINTS, plot_position
from riskguard.replay.report_chart import chart_title as _chart_title
from riskguard.replay.report_chart import thin as _thin
from riskguard.replay.report_chart_data import liquidation_time as _liquidation_time
from riskguard.replay.report_page import index_html
from riskguard.replay.report_positions import chart_names, position_keys
from riskguard.replay.result import ReplayResult

__all__ = [
    "DPI",
    "FIGSIZE_IN",
    "MAX_POINTS",
    # the tests' names for these from before the split
    "_chart_title",
    "_liquidation_time",
    "_thin",
    "write_report",
]


def write_report(result: ReplayResult, folder: Path | str) -> Path:
    """Write one PNG per position and ``index.html`` into ``folder`` (created if missing).

    Positions are those of the guard run (of the first run when there is no guard run).
    Returns the path of ``index.html``.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    keys = position_keys(result)
    names = chart_names(keys)
    for key in keys:
        plot_position(result, key, out / names[key])
    index = out / "index.html"
    index.write_text(index_html(result, keys, names), encoding="utf-8")
    return index
