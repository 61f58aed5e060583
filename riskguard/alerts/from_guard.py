"""What one guard cycle says to people, in the alert center's terms. Pure.

* Conditions (:class:`~riskguard.alerts.hysteresis.Condition`): every finding at WARN or above
  (topic ``finding``), every alert the planner passed on (topic ``alert``: a remedy that cannot
  be found, a bot fighting the guard, a re-opened position), every action a dry run or an
  alert-only account would have taken (topic ``dry_run:<kind>``), and stale data (topic
  ``stale``). A finding about the distance to liquidation carries it, which drives the "halved"
  alert; with the positions the cycle saw, a position that is gone ends its episodes.
* Events: each action the guard really sent (an order, a stop, a leverage change, added margin)
  is one event alert with the figures that justified it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from riskguard.alerts.hysteresis import Condition
from riskguard.guard.enforce.executor import AlertFn
from riskguard.guard.planner import Alert as PlannerAlert
from riskguard.guard.rules.base import Action, ActionKind, Figures, Finding, Level, RuleInput

ConditionFn = Callable[[str, Sequence[Condition], bool, Collection[tuple[str, str]] | None], object]
"""``(account, conditions, complete, held)``: one cycle's conditions; ``complete=False`` when
the cycle could not see the account (stale data) and reports only what it could; ``held`` the
(symbol, side) positions it saw, ``None`` when it does not know."""


def conditions_as_alerts(alert: AlertFn) -> ConditionFn:
    """A condition function without hysteresis: every condition to ``alert``, every cycle."""

    def forward(
        account: str,
        conditions: Sequence[Condition],
        complete: bool,  # noqa: ARG001 - the signature
        held: Collection[tuple[str, str]] | None,  # noqa: ARG001
    ) -> None:
        for c in conditions:
            payload: dict[str, Any] = {
                "account": account,
                "symbol": c.symbol,
                "side": c.side,
                "rule": c.rule,
                "figures": dict(c.figures),
            }
            alert(c.level, c.message or c.title, payload)

    return forward


def position_distance_pct(data: RuleInput, symbol: str | None, side: str | None) -> float | None:
    """The position's distance to liquidation in percent of the mark, when the guard knows it."""
    if symbol is None:
        return None
    for p in data.evaluation.positions:
        if p.risk.symbol == symbol and (side is None or p.risk.side == side):
            distance = p.risk.distance
            if distance is None or math.isnan(distance):
                return None
            return distance * 100.0
    return None


def finding_condition(finding: Finding) -> Condition:
    """A finding at WARN or above as a condition."""
    side = finding.side.value if finding.side else None
    figures: Figures = (
        (finding.metric, finding.measured),
        ("threshold", finding.threshold),
        *finding.figures,
    )
    return Condition(
        account=finding.account,
        rule=finding.rule,
        topic="finding",
        level=finding.level,
        title=finding.message,
        symbol=finding.symbol,
        side=side,
        figures=_unique(figures),
        # Only a finding about the distance itself follows it ("halved"); the other rules'
        # findings on the same position would repeat the same news.
        distance_pct=finding.measured if finding.metric == "distance_pct" else None,
    )


def planner_alert_condition(alert: PlannerAlert, data: RuleInput) -> Condition:
    """An alert the planner passed on as a condition."""
    side = alert.side.value if alert.side else None
    return Condition(
        account=alert.account,
        rule=alert.source,
        topic="alert",
        level=alert.level,
        title=alert.message,
        symbol=alert.symbol,
        side=side,
        figures=(*alert.figures, ("distance_pct", position_distance_pct(data, alert.symbol, side))),
    )


def cycle_conditions(
    account: str,
    data: RuleInput,
    findings: Sequence[Finding],
    alerts: Sequence[PlannerAlert],
) -> list[Condition]:
    """The conditions of one cycle's findings and planner alerts for ``account``; figures from an
    approximate venue profile say so in the title (:func:`approximate_title`)."""
    out = [finding_condition(f) for f in findings if f.level >= Level.WARN]
    out.extend(planner_alert_condition(a, data) for a in alerts if a.level >= Level.WARN)
    risk = data.evaluation.risk
    return [
        replace(c, title=approximate_title(c.title, risk.venue)) if risk.approximate else c
        for c in out
        if c.account == account
    ]


def approximate_title(title: str, profile: str) -> str:
    """A title whose figures come from an approximate venue profile, saying so."""
    return f"{title} [approximate: {profile} venue profile]"


def dry_run_condition(action: Action) -> Condition:
    """An action a dry run (or an alert-only account) would have sent, as a condition."""
    return Condition(
        account=action.account,
        rule=action.rule,
        topic=f"dry_run:{action.kind.value}",
        level=max(action.level, Level.WARN),
        title=f"would {acted_verb(action)} (dry run: nothing sent)",
        message=f"{acted_message(action)} (dry run: nothing sent). Why: {action.reason}",
        symbol=action.symbol,
        side=action.side.value if action.side else None,
        figures=action_figures(action),
    )


def acted_verb(action: Action) -> str:
    """``reduce from 2 to 1.2``, ``close 2``, ``place a stop at 61,250``..."""
    kind = action.kind
    if kind is ActionKind.REDUCE:
        return f"reduce from {action.size_before:g} to {action.target_size:g}"
    if kind is ActionKind.CLOSE:
        return f"close {action.size_before:g}"
    if kind is ActionKind.PLACE_STOP:
        return f"place a reduce-only stop at {action.stop_price:g}"
    if kind is ActionKind.ADD_MARGIN:
        return f"add {action.margin:g} margin"
    if kind is ActionKind.SET_LEVERAGE:
        return f"lower leverage to {action.leverage:g}x"
    return kind.value


def acted_message(action: Action) -> str:
    """One line: what the guard did to which position and why."""
    where = " ".join(p for p in (action.symbol, action.side.value if action.side else None) if p)
    return f"guard {acted_verb(action)} {where} [{action.rule}]: {action.reason}".replace("  ", " ")


def action_figures(action: Action) -> Figures:
    """The numbers an action carries (sizes, prices, the rule's own figures)."""
    figures: list[tuple[str, Any]] = [
        ("size_before", action.size_before),
        ("size_after", action.target_size),
        ("stop_price", action.stop_price),
        ("margin", action.margin),
        ("leverage", action.leverage),
    ]
    figures = [(k, v) for k, v in figures if v is not None]
    figures.extend(action.figures)
    return _unique(tuple(figures))


def fact_description(
    action: Action, kind: str, payload: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The alert of one fact of an action (an order sent or found, margin added, leverage
    lowered): :func:`acted_message` and what the venue said, with the action's figures."""
    said = {
        k: payload[k]
        for k in ("status", "filled", "average", "after", "amount", "leverage")
        if payload.get(k) is not None
    }
    words = ", ".join(f"{k} {v}" for k, v in said.items())
    message = acted_message(action)
    if kind in ("order_sent", "order_found"):
        message += f" (order {payload.get('client_id')}: {words})" if words else ""
    figures = dict(action_figures(action))
    figures.update({k: v for k, v in said.items() if isinstance(v, int | float)})
    return message, {
        "account": action.account,
        "symbol": action.symbol,
        "side": action.side.value if action.side else None,
        "rule": action.rule,
        "figures": figures,
        "client_ids": str(payload.get("client_id") or ""),
    }


def _unique(figures: Figures) -> Figures:
    seen: dict[str, Any] = {}
    for name, value in figures:
        seen.setdefault(name, value)
    return tuple(seen.items())
