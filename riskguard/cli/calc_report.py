"""How ``riskguard calc`` presents an evaluation: a JSON document or a rich table."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table

from riskguard.risk.evaluation import AccountEvaluation
from riskguard.risk.volatility import daily


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an infinite figure is reported as null next to a flag saying why."""
    if value is None or not math.isfinite(value):
        return None
    return value


def to_json(evaluation: AccountEvaluation) -> dict[str, Any]:
    """The calc output document: ``{"account": {...}, "positions": [...]}`` (input order)."""
    risk = evaluation.risk
    settings = evaluation.settings
    account = {
        "venue": risk.venue,
        "approximate": risk.approximate,
        "wallet_balance": risk.wallet_balance,
        "equity": risk.equity,
        "cross_equity": risk.cross_equity,
        "maintenance_margin": risk.maintenance_margin,
        "margin_ratio": _finite(risk.margin_ratio),
        "cross_margin_ratio": _finite(risk.cross_margin_ratio),
        "effective_leverage": _finite(risk.effective_leverage),
        "total_notional": risk.total_notional,
        "liquidatable": risk.margin_ratio >= 1.0,
        "potential_shortfall": evaluation.potential_shortfall,
        "worst_scenario": evaluation.worst_scenario,
        "daily_volatility_pct": daily(settings.sigma_per_sqrt_s) * 100,
        "horizon_s": settings.horizon_s,
        "scenarios": len(evaluation.stress.outcomes),
    }
    positions = []
    for ev in evaluation.positions:
        p = ev.risk
        positions.append(
            {
                "symbol": p.symbol,
                "side": p.side,
                "margin_mode": p.margin_mode.value,
                "size": p.size,
                "mark_price": p.mark_price,
                "notional": p.notional,
                "unrealized_pnl": p.unrealized_pnl,
                "collateral": p.collateral,
                "equity": p.equity,
                "liquidation_price": p.liquidation_price,
                "bankruptcy_price": p.bankruptcy_price,
                "maintenance_margin": p.maintenance_margin,
                "margin_ratio": _finite(p.margin_ratio),
                "liquidatable": not p.safe,
                "distance_pct": None if p.distance is None else p.distance * 100,
                "sigma_distance": _finite(ev.sigma_distance),
                "touch_probability": ev.touch_probability,
                "effective_leverage": _finite(p.effective_leverage),
                "shortfall": ev.shortfall,
                "shortfall_scope": ev.shortfall_scope,
                "worst_scenario": ev.worst_scenario,
            }
        )
    return {"account": account, "positions": positions}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:,.{digits}f}"


def print_table(evaluation: AccountEvaluation, console: Console) -> None:
    """A table of every position and a line for the account."""
    risk = evaluation.risk
    title = f"{risk.venue} account" + (" (approximate profile)" if risk.approximate else "")
    table = Table(title=title, header_style="bold")
    for column in (
        "symbol",
        "side",
        "mode",
        "size",
        "mark",
        "liq. price",
        "bankruptcy",
        "distance %",
        "σ-dist",
        "P(touch)",
        "margin ratio",
        "eff. lev.",
        "shortfall",
    ):
        table.add_column(
            column, justify="left" if column in ("symbol", "side", "mode") else "right"
        )
    for ev in evaluation.positions:
        p = ev.risk
        ratio_style = "red" if not p.safe else ("yellow" if p.margin_ratio > 0.5 else "")
        table.add_row(
            p.symbol,
            p.side,
            p.margin_mode.value,
            _num(p.size, 4),
            _num(p.mark_price),
            _num(p.liquidation_price),
            _num(p.bankruptcy_price),
            _num(None if p.distance is None else p.distance * 100),
            _num(ev.sigma_distance, 1),
            f"{ev.touch_probability:.2%}",
            f"[{ratio_style}]{_num(p.margin_ratio, 3)}[/]"
            if ratio_style
            else _num(p.margin_ratio, 3),
            _num(p.effective_leverage, 1),
            _num(ev.shortfall) + (" (acct)" if ev.shortfall_scope == "account" else ""),
        )
    console.print(table)
    console.print(
        f"equity {_num(risk.equity)}  maintenance margin {_num(risk.maintenance_margin)}  "
        f"margin ratio {_num(risk.margin_ratio, 3)}  effective leverage "
        f"{_num(risk.effective_leverage, 1)}  potential shortfall "
        f"{_num(evaluation.potential_shortfall)}"
        + (f" ({evaluation.worst_scenario})" if evaluation.potential_shortfall > 0 else "")
    )
