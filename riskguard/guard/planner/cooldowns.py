"""Cooldowns: after the guard moved size or money for a position, the proposals that would do so
again wait, unless critical (step 3 of the procedure in :mod:`riskguard.guard.planner.plan`)."""

from __future__ import annotations

from riskguard.guard.planner.memory import PositionMemory
from riskguard.guard.planner.model import PlannerConfig
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import Action, ActionKind, Level

COOLDOWN_KINDS = frozenset({ActionKind.REDUCE, ActionKind.CLOSE, ActionKind.ADD_MARGIN})
"""The kinds that move size or money: they start a cooldown and wait for one."""


def cooldown_reason(
    action: Action, memory: PositionMemory | None, t: float, config: PlannerConfig
) -> str | None:
    """Why ``action`` waits for the cooldown its position's ``memory`` started (``None``: not)."""
    if action.kind in COOLDOWN_KINDS and action.level < Level.CRITICAL:
        last = (memory or PositionMemory()).last_acted_s
        if last is not None and t - last < config.cooldown_s:
            return (
                f"cooldown: the guard acted {num(t - last)} s ago "
                f"(cooldown {num(config.cooldown_s)} s, level below critical)"
            )
    return None


def start_cooldown(memory: PositionMemory | None, t: float) -> PositionMemory:
    """``memory`` with the guard having acted at ``t``: the cooldown runs from ``t``."""
    m = memory or PositionMemory()
    return PositionMemory(last_acted_s=t, left_size=m.left_size, reopened_s=m.reopened_s)
