"""Screening: why a proposal is dropped before merging (steps 2 and 3 of the procedure in
:mod:`riskguard.guard.planner.plan`): a bad or missing number, no such position, no protection
(more exposure, no lower leverage, margin for a cross position, a stop that would trigger at
once), or a cooldown."""

from __future__ import annotations

import math
from collections.abc import Mapping

from riskguard.domain import MarginMode, Position
from riskguard.guard.planner.cooldowns import cooldown_reason
from riskguard.guard.planner.memory import PlannerState
from riskguard.guard.planner.model import PlannerConfig, position_key
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import Action, ActionKind


def screen(
    action: Action,
    account: str,
    positions: Mapping[str, Position],
    state: PlannerState,
    t: float,
    config: PlannerConfig,
) -> tuple[str, str | None]:
    """The position key of ``action`` and why it is dropped before merging (``None``: kept)."""
    bad = _bad_number(action)
    if bad is not None:
        return "", bad
    if action.symbol is None or action.side is None or action.account != account:
        return "", "no such position"
    key = position_key(action.account, action.symbol, action.side)
    position = positions.get(key)
    if position is None:
        return key, "no such position"
    reason = _against_position(action, position)
    if reason is not None:
        return key, reason
    return key, cooldown_reason(action, state.positions.get(key), t, config)


def _bad_number(action: Action) -> str | None:
    for name in ("size_before", "target_size", "margin", "leverage", "stop_price"):
        value = getattr(action, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"invalid number: {name}={value}"
    required = {
        ActionKind.REDUCE: "target_size",
        ActionKind.ADD_MARGIN: "margin",
        ActionKind.SET_LEVERAGE: "leverage",
        ActionKind.PLACE_STOP: "stop_price",
    }.get(action.kind)
    if required is not None:
        value = getattr(action, required)
        if value is None:
            return f"invalid number: {required} is missing"
        if required != "target_size" and value <= 0:
            return f"invalid number: {required}={value} must be positive"
    return None


def given(value: float | None) -> float:
    """A number :func:`screen` has already checked is there."""
    if value is None:  # pragma: no cover - screened out before
        raise ValueError("a required number is missing")
    return value


def _against_position(action: Action, position: Position) -> str | None:
    if action.kind is ActionKind.REDUCE:
        if given(action.target_size) >= position.size:
            return (
                f"would add exposure: target {num(action.target_size)} >= size {num(position.size)}"
            )
    elif action.kind is ActionKind.SET_LEVERAGE:
        if position.leverage is None:
            return "would not lower: the current leverage is unknown"
        if given(action.leverage) >= position.leverage:
            return (
                f"would not lower: leverage {num(action.leverage)} "
                f">= current {num(position.leverage)}"
            )
    elif action.kind is ActionKind.ADD_MARGIN:
        if position.margin_mode is not MarginMode.ISOLATED:
            return "add margin applies to isolated positions only"
    elif action.kind is ActionKind.PLACE_STOP:
        beyond_mark = position.side.sign * (position.mark_price - given(action.stop_price)) <= 0
        if beyond_mark:
            return (
                f"stop {num(action.stop_price)} would trigger at once "
                f"(mark {num(position.mark_price)})"
            )
    return None
