"""What ``riskguard run`` shows on the terminal: a live table of positions, the guard's actions as
they happen, and a summary when it stops.

Rendering only: the figures come from each account's last
:class:`~riskguard.guard.cycle.CycleReport`. On a terminal the table redraws in place (rich
``Live``); elsewhere actions are printed as lines and the table once at the end, so logs stay
readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from riskguard.cli.check import figure
from riskguard.clock import iso8601
from riskguard.daemon.scheduler import AccountRun

_SHORT = {"reduce": "R", "close": "C", "place_stop": "S", "add_margin": "M", "set_leverage": "L"}
ACTIONS_LEGEND = "actions: R reduce, C close, S stop placed, M margin added, L leverage lowered"


def short_actions(actions: Mapping[str, int]) -> str:
    """``{'reduce': 3, 'place_stop': 1}`` as ``R3 S1``."""
    return " ".join(f"{_SHORT.get(k, k)}{v}" for k, v in sorted(actions.items())) or "-"


def positions_table(runs: Iterable[AccountRun], title: str = "riskguard") -> Table:
    """One row per position of every account, from its last cycle."""
    table = Table(title=title, caption=ACTIONS_LEGEND)
    for name in (
        "account",
        "symbol",
        "side",
        "mark",
        "liq. price",
        "dist %",
        "shortfall",
        "equity",
        "actions",
    ):
        table.add_column(name, no_wrap=True)
    for run in runs:
        report = run.last_report
        actions = short_actions(run.actions)
        if run.stopped:
            table.add_row(run.acct.account, "[red]stopped[/red]", run.stopped[:60])
            continue
        if report is None or report.snapshot is None or report.evaluation is None:
            table.add_row(run.acct.account, "waiting for data", *["-"] * 6, actions)
            continue
        equity = report.evaluation.risk.equity
        if not report.snapshot.positions:
            table.add_row(run.acct.account, "no positions", *["-"] * 5, f"{equity:,.0f}", actions)
        for p, e in zip(report.snapshot.positions, report.evaluation.positions, strict=True):
            distance = None if e.risk.distance is None else e.risk.distance * 100
            table.add_row(
                run.acct.account,
                p.symbol.split(":")[0],
                p.side.value,
                figure(p.mark_price, ",.2f"),
                figure(e.risk.liquidation_price, ",.2f"),
                figure(distance, ".1f"),
                figure(e.shortfall, ",.0f"),
                f"{equity:,.0f}",
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
    table = Table(title="summary", caption=ACTIONS_LEGEND)
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
        row = [
            run.acct.account,
            str(run.cycles),
            short_actions(run.actions),
            figure(equity, ",.2f"),
        ]
        row += [str(extra.get(run.acct.account, {}).get(c, "-")) for c in extra_columns]
        table.add_row(*row)
    return table


def console_for_output() -> Console:
    """A console on stdout, wide enough for the table when stdout is not a terminal."""
    console = Console()
    return console if console.is_terminal else Console(width=160)
