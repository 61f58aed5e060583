"""The planner: the rules' proposals for one account → one :class:`Plan` of orders to send.

Pure: values in (the rules' results, the snapshot they read, the markets' order rules, the
planner's memory, ``now``), values out (the plan and the memory for the next cycle).

How a plan is made, per position ``(account, symbol, side)``:

1. **Alerts** (``ALERT`` proposals) always pass through to :attr:`Plan.alerts`.
2. **Validate** (:mod:`~riskguard.guard.planner.screening`). A proposal is dropped, with the
   reason, when a number is negative, NaN or infinite, or a required one is missing; when its
   position is not in the snapshot; when it would not reduce exposure (a ``REDUCE`` whose target
   is at or above the current size); when a ``SET_LEVERAGE`` would not lower the position's
   leverage (or the current leverage is unknown, so lowering cannot be verified); when an
   ``ADD_MARGIN`` is for a cross position; when a ``PLACE_STOP`` is on the wrong side of the mark
   (it would trigger at once).
3. **Cooldown** (:mod:`~riskguard.guard.planner.cooldowns`). ``REDUCE``, ``CLOSE`` and
   ``ADD_MARGIN`` move size or money; after the guard planned one of them for a position, further
   non-``CRITICAL`` proposals of these kinds for it are dropped for ``cooldown_s``, so a bot
   re-opening does not make the guard thrash. ``CRITICAL`` proposals always pass.
   ``SET_LEVERAGE`` and ``PLACE_STOP`` are idempotent standing settings that only protect (the
   stop is the backstop between cycles and must follow the size), so they neither start a
   cooldown nor wait for one.
4. **Merge** (the most protective wins; the losers are dropped as less protective):
   ``CLOSE`` beats any ``REDUCE``; among ``REDUCE`` the smallest ``target_size`` wins. The winner
   is sized to the market (:mod:`~riskguard.guard.planner.sizing`, then split into orders by
   :mod:`~riskguard.guard.planner.splitting`), which can turn it into a ``CLOSE``. If the position
   is being closed, its ``ADD_MARGIN`` and ``PLACE_STOP`` proposals are dropped (nothing left to
   protect). Otherwise the largest ``ADD_MARGIN`` is kept, and the stop closest to the mark. An
   ``ADD_MARGIN`` from a rule that also proposed reducing the position is that rule's pair (it
   puts back the margin the reduction releases, so its amount was not capped by free balance): it
   is kept only when a reduction is planned (another rule's winning REDUCE is the smaller target,
   so it releases at least as much), and dropped when none is (its REDUCE was invalid or in
   cooldown). The lowest ``SET_LEVERAGE`` is kept, also when the position is closed: the setting
   stays on the symbol and governs what the bot opens next.
5. **Order** the steps: positions by their most severe step (``CRITICAL`` first), then by
   notional (largest first), then by account, symbol and side; within a position: the reduction
   first (it frees margin), then leverage, then margin, then the stop. Steps, alerts and the new
   state do not depend on the order in which the proposals arrive; dropped proposals are sorted
   by position, kind, rule and reason (proposals equal in all of these keep their arrival order).

The steps are built by :mod:`~riskguard.guard.planner.steps` (every order is reduce-only, in the
closing direction); the planner's memory between cycles is :mod:`~riskguard.guard.planner.memory`,
and the critical "bot is fighting the guard" alert is raised by
:mod:`~riskguard.guard.planner.fights`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from riskguard.domain import AccountSnapshot, MarketRules, Position, Side
from riskguard.guard.planner.cooldowns import start_cooldown
from riskguard.guard.planner.fights import remember_reduction
from riskguard.guard.planner.memory import PlannerState, PositionMemory, prune
from riskguard.guard.planner.model import (
    PLANNER,
    Alert,
    Dropped,
    Plan,
    PlannedStep,
    PlannerConfig,
    position_key,
)
from riskguard.guard.planner.screening import given, screen
from riskguard.guard.planner.steps import plain_step, reduction_step, stop_step
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import Action, ActionKind, Level, RuleResult

_EXPOSURE = frozenset({ActionKind.REDUCE, ActionKind.CLOSE})
_KIND_RANK = {
    ActionKind.CLOSE: 0,
    ActionKind.REDUCE: 0,
    ActionKind.SET_LEVERAGE: 1,
    ActionKind.ADD_MARGIN: 2,
    ActionKind.PLACE_STOP: 3,
}


def plan(
    results: Sequence[RuleResult],
    snapshot: AccountSnapshot,
    markets: Mapping[str, MarketRules],
    state: PlannerState,
    now: datetime,
    config: PlannerConfig,
) -> tuple[Plan, PlannerState]:
    """Merge the rules' proposals for ``snapshot``'s account into a plan; see the module doc."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    t = now.timestamp()
    if not any(result.actions for result in results):
        # Nothing proposed (most cycles): no steps, alerts or drops; the memory is pruned.
        kept = prune(state.positions, t, config)
        findings = tuple(f for result in results for f in result.findings)
        return Plan(steps=(), alerts=(), dropped=(), findings=findings), (
            state if not kept and not state.positions else PlannerState(kept)
        )
    account = snapshot.account
    positions: dict[str, Position] = {}
    for position in snapshot.positions:
        positions.setdefault(position_key(account, position.symbol, position.side), position)

    alerts: list[Alert] = []
    dropped: list[Dropped] = []
    proposals: dict[str, list[Action]] = {}
    reducers: dict[str, set[str]] = {}  # the rules that proposed a reduction, by position key
    for action in (a for result in results for a in result.actions):
        if action.kind in _EXPOSURE and action.symbol is not None and action.side is not None:
            key = position_key(action.account, action.symbol, action.side)
            reducers.setdefault(key, set()).add(action.rule)
        if action.kind is ActionKind.ALERT:
            alerts.append(_alert_from(action))
            continue
        key, reason = screen(action, account, positions, state, t, config)
        if reason is not None:
            dropped.append(Dropped(action, reason))
        else:
            proposals.setdefault(key, []).append(action)

    memory = dict(state.positions)
    steps: list[PlannedStep] = []
    for key in sorted(proposals):
        position = positions[key]
        outcome = _plan_position(
            proposals[key],
            position,
            markets.get(position.symbol),
            memory.get(key),
            t,
            config,
            reducers.get(key, set()),
        )
        steps.extend(outcome.steps)
        dropped.extend(outcome.dropped)
        alerts.extend(outcome.alerts)
        if outcome.memory is not None:
            memory[key] = outcome.memory

    severity: dict[tuple[str, Side], Level] = {}
    for step in steps:
        where = (step.symbol, step.side)
        severity[where] = max(severity.get(where, Level.OK), step.level)
    steps.sort(
        key=lambda s: (
            -severity[s.symbol, s.side],
            -s.size_before * s.mark_price,
            s.symbol,
            s.side.value,
            _KIND_RANK[s.kind],
        )
    )
    new_plan = Plan(
        steps=tuple(steps),
        alerts=tuple(sorted(alerts, key=_alert_order)),
        dropped=tuple(sorted(dropped, key=_dropped_order)),
        findings=tuple(f for result in results for f in result.findings),
    )
    return new_plan, PlannerState(prune(memory, t, config))


# --- merging one position ----------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    steps: list[PlannedStep] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    memory: PositionMemory | None = None


def _plan_position(
    actions: list[Action],
    position: Position,
    market: MarketRules | None,
    memory: PositionMemory | None,
    t: float,
    config: PlannerConfig,
    reducers: set[str],
) -> _Outcome:
    """Merge one position's screened proposals. ``reducers`` are the rules that proposed a
    reduction of it (before screening): their ADD_MARGIN puts back the margin that reduction
    releases, so it is kept only if a reduction is planned."""
    out = _Outcome()
    by_kind: dict[ActionKind, list[Action]] = {}
    for action in actions:
        group = ActionKind.CLOSE if action.kind in _EXPOSURE else action.kind
        by_kind.setdefault(group, []).append(action)

    size_after = position.size
    reducing = closing = False
    exposure = by_kind.get(ActionKind.CLOSE, [])
    if exposure and market is None:
        for action in exposure:
            out.dropped.append(Dropped(action, f"no market rules for {position.symbol}"))
        out.alerts.append(_unplannable(position, exposure))
    elif exposure and market is not None:
        ranked = _ranked(exposure, _exposure_rank)
        winner = ranked[0]
        _drop_losers(out, ranked, _describe(winner))
        step = reduction_step(winner, ranked, position, market, config)
        out.steps.append(step)
        size_after = step.size_after
        reducing = True
        closing = step.kind is ActionKind.CLOSE
        out.memory, fight = remember_reduction(memory, position, step, market, t, config)
        if fight is not None:
            out.alerts.append(fight)

    leverages = _ranked(by_kind.get(ActionKind.SET_LEVERAGE, []), _leverage_rank)
    if leverages:
        _drop_losers(out, leverages, _describe(leverages[0]))
        out.steps.append(plain_step(ActionKind.SET_LEVERAGE, leverages, position, size_after))

    margins = _ranked(by_kind.get(ActionKind.ADD_MARGIN, []), _margin_rank)
    if margins and closing:
        out.dropped.extend(Dropped(a, "position is being closed") for a in margins)
        margins = []
    elif not reducing:
        unpaired = [a.rule in reducers for a in margins]
        out.dropped.extend(
            Dropped(a, "its paired reduction is not planned, so no margin is released")
            for a, drop in zip(margins, unpaired, strict=True)
            if drop
        )
        margins = [a for a, drop in zip(margins, unpaired, strict=True) if not drop]
    if margins:
        _drop_losers(out, margins, _describe(margins[0]))
        out.steps.append(plain_step(ActionKind.ADD_MARGIN, margins, position, size_after))
        if out.memory is None:
            out.memory = start_cooldown(memory, t)

    stops = _ranked(by_kind.get(ActionKind.PLACE_STOP, []), _stop_rank(position.side))
    if stops and closing:
        out.dropped.extend(Dropped(a, "position is being closed") for a in stops)
    elif stops and market is None:
        out.dropped.extend(Dropped(a, f"no market rules for {position.symbol}") for a in stops)
    elif stops and market is not None:
        _add_stop(out, stops, position, market, size_after)
    return out


Rank = tuple[float, int, str, str]


def _rank(value: float, action: Action) -> Rank:
    """Sort key: ``value`` first, then the more severe, then the rule and its reason."""
    return (value, -action.level, action.rule, action.reason)


def _ranked(actions: Sequence[Action], rank: Callable[[Action], Rank]) -> list[Action]:
    """``actions``, best first; when ranks tie, the whole proposal's ``repr`` decides, so the
    result never depends on the order the proposals came in (and ``repr`` is only paid then)."""
    ranked = sorted(actions, key=rank)
    if len(ranked) > 1 and len({rank(a) for a in ranked}) < len(ranked):
        ranked.sort(key=lambda a: (rank(a), repr(a)))
    return ranked


def _exposure_rank(action: Action) -> Rank:
    target = 0.0 if action.kind is ActionKind.CLOSE else (action.target_size or 0.0)
    return _rank(max(target, 0.0), action)


def _leverage_rank(action: Action) -> Rank:
    return _rank(action.leverage or 0.0, action)


def _margin_rank(action: Action) -> Rank:
    return _rank(-(action.margin or 0.0), action)


def _stop_rank(side: Side) -> Callable[[Action], Rank]:
    def rank(action: Action) -> Rank:
        # Closest to the mark first: the highest stop for a long, the lowest for a short.
        return _rank(-side.sign * (action.stop_price or 0.0), action)

    return rank


def _describe(action: Action) -> str:
    if action.kind is ActionKind.CLOSE or (
        action.kind is ActionKind.REDUCE and not action.target_size
    ):
        what = "close"
    elif action.kind is ActionKind.REDUCE:
        what = f"reduce to {num(action.target_size)}"
    elif action.kind is ActionKind.SET_LEVERAGE:
        what = f"leverage {num(action.leverage)}"
    elif action.kind is ActionKind.ADD_MARGIN:
        what = f"add margin {num(action.margin)}"
    else:
        what = f"stop at {num(action.stop_price)}"
    return f"{what} by {action.rule}"


def _drop_losers(out: _Outcome, ranked: Sequence[Action], winner: str) -> None:
    out.dropped.extend(Dropped(a, f"less protective than {winner}") for a in ranked[1:])


def _add_stop(
    out: _Outcome,
    ranked: Sequence[Action],
    position: Position,
    market: MarketRules,
    size_after: float,
) -> None:
    for index, action in enumerate(ranked):
        price = market.stop_price(given(action.stop_price), position.side, position.mark_price)
        if price is None:
            out.dropped.append(Dropped(action, "stop would trigger at once after tick rounding"))
            continue
        _drop_losers(out, ranked[index:], _describe(action))
        out.steps.append(stop_step(ranked[index:], price, position, market, size_after))
        return


# --- alerts and sort orders --------------------------------------------------------------


def _alert_from(action: Action) -> Alert:
    return Alert(
        level=action.level,
        account=action.account,
        symbol=action.symbol,
        side=action.side,
        source=action.rule,
        message=action.reason,
        figures=action.figures,
    )


def _unplannable(position: Position, actions: Sequence[Action]) -> Alert:
    return Alert(
        level=max(a.level for a in actions),
        account=actions[0].account,
        symbol=position.symbol,
        side=position.side,
        source=PLANNER,
        message=(
            f"cannot size a reduction of {position.symbol} {position.side.value}: "
            "no market rules (amount step, minimum) for it"
        ),
        figures=(("size", position.size), ("rules", ",".join(sorted({a.rule for a in actions})))),
    )


def _alert_order(alert: Alert) -> tuple[int, str, str, str, str, str]:
    side = alert.side.value if alert.side else ""
    return (-alert.level, alert.account, alert.symbol or "", side, alert.source, alert.message)


def _dropped_order(item: Dropped) -> tuple[str, str, str, str, str, str]:
    a = item.action
    side = a.side.value if a.side else ""
    return (a.account, a.symbol or "", side, a.kind.value, a.rule, item.reason)
