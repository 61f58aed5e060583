"""Building the plan's steps from a position's winning proposal and the ones it beat.

Every REDUCE/CLOSE step is a reduce-only market order in the closing direction (a long sells, a
short buys), recorded in :attr:`PlannedStep.order_side` and :attr:`PlannedStep.reduce_only`; so
is a stop, for the size the position has after the plan's reduction. A step credits the rules of
the proposals it satisfies and carries their figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from riskguard.domain import MarketRules, Position, Side, clean_float
from riskguard.guard.planner.model import PlannedStep, PlannerConfig
from riskguard.guard.planner.sizing import size_reduction
from riskguard.guard.planner.splitting import split_order
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import Action, ActionKind, Figures, FigureValue


def reduction_step(
    winner: Action,
    ranked: Sequence[Action],
    position: Position,
    market: MarketRules,
    config: PlannerConfig,
) -> PlannedStep:
    """The REDUCE or CLOSE that carries out ``winner``, sized to ``market`` and split."""
    target = 0.0 if winner.kind is ActionKind.CLOSE else (winner.target_size or 0.0)
    sizing = size_reduction(position, target, market)
    amounts = split_order(
        sizing.contracts,
        market,
        position.mark_price,
        config.max_order_notional,
        inverse=position.inverse,
    )
    notes = list(sizing.notes)
    value = market.contract_value(position.mark_price, inverse=position.inverse)
    if len(amounts) > 1:
        largest = market.max_market_amount
        by_notional = config.max_order_notional
        if largest is not None and (by_notional is None or largest * value < by_notional):
            cap = f"{num(largest)} contracts (the venue's largest market order)"
        else:
            cap = num(by_notional)
        notes.append(f"split into {len(amounts)} orders of at most {cap}")
    return PlannedStep(
        kind=sizing.kind,
        action=winner,
        level=max(a.level for a in ranked),
        rules=_rules(ranked),
        account=winner.account,
        symbol=position.symbol,
        side=position.side,
        order_side="sell" if position.side is Side.LONG else "buy",
        reduce_only=True,
        amounts=amounts,
        size_before=position.size,
        size_after=sizing.size_after,
        mark_price=position.mark_price,
        notional=clean_float(sizing.contracts * value),
        notes=tuple(notes),
        figures=_merged_figures(ranked),
    )


def plain_step(
    kind: ActionKind, ranked: Sequence[Action], position: Position, size_after: float
) -> PlannedStep:
    """A SET_LEVERAGE or ADD_MARGIN step (no order) carrying out ``ranked[0]``."""
    winner = ranked[0]
    return PlannedStep(
        kind=kind,
        action=winner,
        level=max(a.level for a in ranked),
        rules=_rules(ranked),
        account=winner.account,
        symbol=position.symbol,
        side=position.side,
        order_side=None,
        reduce_only=False,
        amounts=(),
        size_before=position.size,
        size_after=size_after,
        mark_price=position.mark_price,
        notional=0.0,
        margin=winner.margin if kind is ActionKind.ADD_MARGIN else None,
        leverage=winner.leverage if kind is ActionKind.SET_LEVERAGE else None,
        figures=_merged_figures(ranked),
    )


def stop_step(
    ranked: Sequence[Action],
    price: float,
    position: Position,
    market: MarketRules,
    size_after: float,
) -> PlannedStep:
    """A PLACE_STOP at ``price`` (``ranked[0]``'s stop rounded to the tick) for ``size_after``."""
    action = ranked[0]
    contracts = clean_float(market.to_contracts(size_after))
    value = market.contract_value(position.mark_price, inverse=position.inverse)
    notes = () if price == action.stop_price else (f"stop price rounded to {num(price)}",)
    return PlannedStep(
        kind=ActionKind.PLACE_STOP,
        action=action,
        level=max(a.level for a in ranked),
        rules=_rules(ranked),
        account=action.account,
        symbol=position.symbol,
        side=position.side,
        order_side="sell" if position.side is Side.LONG else "buy",
        reduce_only=True,
        amounts=(contracts,),
        size_before=position.size,
        size_after=size_after,
        mark_price=position.mark_price,
        notional=clean_float(contracts * value),
        stop_price=price,
        notes=notes,
        figures=_merged_figures(ranked),
    )


def _rules(ranked: Sequence[Action]) -> tuple[str, ...]:
    names = [ranked[0].rule]
    for action in sorted(ranked[1:], key=lambda a: a.rule):
        if action.rule not in names:
            names.append(action.rule)
    return tuple(names)


def _merged_figures(ranked: Sequence[Action]) -> Figures:
    """The winner's figures, then each other proposal's prefixed by its rule (when new)."""
    merged: list[tuple[str, FigureValue]] = list(ranked[0].figures)
    seen = set(merged)
    for action in ranked[1:]:
        for name, value in action.figures:
            item = (f"{action.rule}.{name}", value)
            if (name, value) not in seen and item not in seen:
                merged.append(item)
                seen.add(item)
    return tuple(merged)
