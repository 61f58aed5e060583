"""What ``riskguard run`` shows on the terminal: a live table of positions, the guard's actions as
they happen, and a summary when it stops.

Rendering only: the figures come from each account's last :class:`~riskguard.guard.CycleReport`.
On a terminal the table redraws in place (rich ``Live``); elsewhere actions are printed as lines
and the table once at the end, so logs stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from riskguard.clock import iso8601
from riskguard.daemon import AccountRun


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return format(value, spec)


def positions_table(runs: Iterable[AccountRun], title: str = "riskguard") -> Table:
    """One row per position of every account, from its last cycle."""
    table = Table(title=title)
    for name in (
        "account",
        "symbol",
        "side",
        "size",
        "mark",
        "liquidation",
        "distance %",
        "σ-dist",
        "shortfall",
        "equity",
        "guard actions",
    ):
        table.add_column(name)
    for run in runs:
        report = run.last_report
        actions = ", ".join(f"{k} {v}" for k, v in sorted(run.actions.items())) or "-"
        if run.stopped:
            table.add_row(run.acct.account, "[red]stopped[/red]", run.stopped[:60])
            continue
        if report is None or report.snapshot is None or report.evaluation is None:
            table.add_row(run.acct.account, "-", "waiting for data", *["-"] * 7, actions)
            continue
        equity = report.evaluation.risk.equity
        if not report.snapshot.positions:
            table.add_row(run.acct.account, "no positions", *["-"] * 7, f"{equity:,.2f}", actions)
        for p, e in zip(report.snapshot.positions, report.evaluation.positions, strict=True):
            distance = None if e.risk.distance is None else e.risk.distance * 100
            table.add_row(
                run.acct.account,
                p.symbol,
                p.side.value,
                f"{p.size:g}",
                _fmt(p.mark_price, ",.2f"),
                _fmt(e.risk.liquidation_price, ",.2f"),
                _fmt(distance, ".2f"),
                _fmt(e.sigma_distance, ".1f"),
                _fmt(e.shortfall, ",.2f"),
                f"{equity:,.2f}",
                actions,
            )
    return table


def action_lines(run: AccountRun) -> list[str]:
    """One line per step the account's last cycle carried out (or journalled, in dry run)."""
    report = run.last_report
    if report is None or report.plan is None:
        return []
    lines = []
    for step, outcome in zip(report.plan.steps, report.outcomes, strict=False):
        lines.append(
            f"{iso8601(report.time_ms)} {run.acct.account} {outcome.kind.value} "
            f"{outcome.symbol or ''} {step.action.side.value if step.action.side else ''} "
            f"-> {outcome.status}: {step.action.reason}"
        )
    return lines


def summary_table(runs: Iterable[AccountRun], extra: Mapping[str, Mapping[str, Any]]) -> Table:
    """Per account: cycles, actions by kind, equity, and what ``extra`` adds (paper results)."""
    table = Table(title="summary")
    extra_columns = sorted({k for v in extra.values() for k in v})
    for name in ("account", "cycles", "actions", "equity", *extra_columns):
        table.add_column(name)
    for run in runs:
        report = run.last_report
        equity = (
            report.evaluation.risk.equity
            if report is not None and report.evaluation is not None
            else None
        )
        actions = ", ".join(f"{k} {v}" for k, v in sorted(run.actions.items())) or "none"
        row = [run.acct.account, str(run.cycles), actions, _fmt(equity, ",.2f")]
        row += [str(extra.get(run.acct.account, {}).get(c, "-")) for c in extra_columns]
        table.add_row(*row)
    return table


def console_for_output() -> Console:
    """A console on stdout, wide enough for the table when stdout is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)
