"""``riskguard check CONFIG``: one cycle of every account, a table, and an exit code for cron.

The cycle is the daemon's own, with every account in alert-only mode: the rules judge and the
planner plans, but nothing is sent and the daemon's journal is not touched (a check runs in a
memory journal). The exit code summarises the worst finding: 0 nothing to report, 1 warnings,
2 the guard would act now (or could not get fresh data for an account), so a monitoring system
can page on 2. ``--json`` prints the same figures as one JSON document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from riskguard.guard.cycle import CycleReport, GuardAccount
from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.cycle import MarginCycleReport

EXIT_OK = 0
EXIT_WARN = 1
EXIT_ACT = 2


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one check found: the report of each account and the exit code."""

    reports: tuple[tuple[GuardAccount, CycleReport], ...]
    margin: tuple[MarginCycleReport, ...] = ()
    """The reports of ``kind: spot_margin`` accounts."""

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warnings, 2 action needed or no fresh data."""
        worst = Level.OK
        for _, report in self.reports:
            if not report.actionable:
                return EXIT_ACT
            worst = max([worst, *(f.level for f in report.findings)])
        for margin in self.margin:
            if not margin.actionable or margin.verdict is None:
                return EXIT_ACT
            worst = max(worst, margin.verdict.level)
        if worst >= Level.ACT:
            return EXIT_ACT
        return EXIT_WARN if worst >= Level.WARN else EXIT_OK


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def to_json(result: CheckResult) -> dict[str, Any]:
    """The check as a JSON-ready document."""
    accounts = []
    for acct, report in result.reports:
        evaluation = report.evaluation
        positions = []
        if report.snapshot is not None and evaluation is not None:
            for p, e in zip(report.snapshot.positions, evaluation.positions, strict=True):
                fired = [
                    {"rule": f.rule, "level": f.level.name, "message": f.message}
                    for f in report.findings
                    if f.symbol == p.symbol and (f.side is None or f.side is p.side)
                ]
                positions.append(
                    {
                        "symbol": p.symbol,
                        "side": p.side.value,
                        "margin_mode": p.margin_mode.value,
                        "size": p.size,
                        "mark_price": p.mark_price,
                        "exchange_liquidation_price": acct.exchange_liquidation_prices.get(
                            (p.symbol, p.side.value)
                        ),
                        "liquidation_price": e.risk.liquidation_price,
                        "approximate": evaluation.risk.approximate,
                        "distance_pct": _number(
                            None if e.risk.distance is None else e.risk.distance * 100
                        ),
                        "sigma_distance": _number(e.sigma_distance),
                        "margin_ratio": _number(e.risk.margin_ratio),
                        "shortfall": e.shortfall,
                        "rules": fired,
                    }
                )
        accounts.append(
            {
                "account": acct.account,
                "exchange": acct.exchange_id,
                "actionable": report.actionable,
                "error": report.error,
                "settle": None if report.snapshot is None else report.snapshot.settle,
                "account_type": None if report.snapshot is None else report.snapshot.account_type,
                "profile": None if evaluation is None else evaluation.risk.venue,
                "approximate": None if evaluation is None else evaluation.risk.approximate,
                "sources": {} if report.snapshot is None else dict(report.snapshot.sources),
                "notes": [] if report.snapshot is None else list(report.snapshot.notes),
                "wallet_balance": None
                if report.snapshot is None
                else report.snapshot.wallet_balance,
                "equity": None if evaluation is None else evaluation.risk.equity,
                "potential_shortfall": None
                if evaluation is None
                else evaluation.potential_shortfall,
                "positions": positions,
                "findings": [
                    {
                        "rule": f.rule,
                        "level": f.level.name,
                        "symbol": f.symbol,
                        "side": f.side.value if f.side else None,
                        "message": f.message,
                    }
                    for f in report.findings
                ],
                "planned": [
                    {"kind": s.kind.value, "symbol": s.action.symbol, "reason": s.action.reason}
                    for s in (report.plan.steps if report.plan is not None else ())
                ],
            }
        )
    return {
        "exit_code": result.exit_code,
        "accounts": accounts,
        "spot_margin_accounts": [margin_json(m) for m in result.margin],
    }


def margin_json(report: MarginCycleReport) -> dict[str, Any]:
    """A spot margin account's check: its verdict's figures and the repayment it would make."""
    verdict = report.verdict
    remedy = verdict.remedy if verdict is not None else None
    return {
        "account": report.account,
        "actionable": report.actionable,
        "error": report.error,
        "level": None if verdict is None else verdict.level.name,
        "message": None if verdict is None else verdict.message,
        "figures": {} if verdict is None else verdict.figures(),
        "planned": None
        if remedy is None or verdict is None or verdict.level < Level.ACT
        else {
            "side": remedy.side,
            "asset": remedy.asset,
            "amount": remedy.amount,
            "distance_after_pct": remedy.distance_after_pct,
        },
    }


def figure(value: float | None, spec: str) -> str:
    """A figure for a table: ``-`` when missing, ``inf`` when infinite, else ``spec``."""
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return format(value, spec)


def print_table(result: CheckResult, console: Console) -> None:
    """Every position with both liquidation prices, distance, sigma distance and shortfall."""
    document = to_json(result)
    table = Table(title="riskguard check", show_lines=False)
    for name, justify in (
        ("account", "left"),
        ("symbol", "left"),
        ("side", "left"),
        ("mode", "left"),
        ("mark", "right"),
        ("liq (exchange)", "right"),
        ("liq (riskguard)", "right"),
        ("distance %", "right"),
        ("σ-distance", "right"),
        ("shortfall", "right"),
        ("rules firing", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for account in document["accounts"]:
        if account["error"]:
            table.add_row(account["account"], "-", "-", "-", "-", "-", "-", "-", "-", "-",
                          f"[red]no fresh data: {account['error']}[/red]")  # fmt: skip
        for p in account["positions"]:
            rules = ", ".join(f"{r['rule']}:{r['level']}" for r in p["rules"]) or "-"
            table.add_row(
                account["account"],
                p["symbol"],
                p["side"],
                p["margin_mode"],
                figure(p["mark_price"], ",.6g"),
                figure(p["exchange_liquidation_price"], ",.6g"),
                figure(p["liquidation_price"], ",.6g") + ("≈" if p["approximate"] else ""),
                figure(p["distance_pct"], ".2f"),
                figure(p["sigma_distance"], ".1f"),
                figure(p["shortfall"], ",.2f"),
                rules,
            )
    console.print(table)
    for line in account_lines(document):
        console.print(line, highlight=False, markup=False)
    for margin in document["spot_margin_accounts"]:
        said = margin["message"] if margin["actionable"] else f"no fresh data: {margin['error']}"
        line = f"{margin['account']} (spot margin): {margin['level'] or '-'}: {said}"
        if margin["planned"] is not None:
            plan = margin["planned"]
            line += f"; would {plan['side']} {plan['amount']:.6g} {plan['asset']} to repay"
        console.print(line, highlight=False, markup=False)
    labels = {EXIT_OK: "ok", EXIT_WARN: "warnings", EXIT_ACT: "action needed"}
    console.print(f"result: {labels[result.exit_code]} (exit code {result.exit_code})")


def account_lines(document: dict[str, Any]) -> list[str]:
    """Per account: its type, settle currency and profile (an approximate one said so), the
    figures not read from ccxt's own fields with their sources, and the snapshot's notes."""
    lines: list[str] = []
    for account in document["accounts"]:
        if account["account_type"] is None:
            continue
        profile = account["profile"] or "-"
        if account["approximate"]:
            profile += " (approximate profile: liquidation figures marked ≈ are estimates)"
        lines.append(
            f"{account['account']}: {account['account_type']}, settle {account['settle']}, "
            f"venue profile {profile}"
        )
        lines.extend(f"  {name}: {source}" for name, source in account["sources"].items())
        lines.extend(f"  note: {note}" for note in account["notes"])
    return lines


def summarise(
    reports: Sequence[tuple[GuardAccount, CycleReport]],
    margin: Sequence[MarginCycleReport] = (),
) -> CheckResult:
    """Bundle the reports of one check."""
    return CheckResult(tuple(reports), tuple(margin))
