"""Detecting a bot fighting the guard, from the reductions the planner remembers.

A reduction that finds the position larger than the guard's previous reduction left it means
something re-opened it. When that has happened ``fight_threshold`` times within
``fight_window_s``, the plan carries a ``CRITICAL`` alert with the count and the window (again at
every further such reduction inside the window). Progressive reductions of a position that never
grows back (a crash) do not count. The planner sees planned reductions, not fills: a reduction
that did not fill (dry run, rejection) also leaves the position above what the guard left and
counts; the alert's figures show the sizes so an operator can tell.
"""

from __future__ import annotations

from riskguard.domain import MarketRules, Position
from riskguard.guard.planner.memory import PositionMemory
from riskguard.guard.planner.model import PLANNER, Alert, PlannedStep, PlannerConfig
from riskguard.guard.planner.wording import num
from riskguard.guard.rules.base import Level


def remember_reduction(
    memory: PositionMemory | None,
    position: Position,
    step: PlannedStep,
    market: MarketRules,
    t: float,
    config: PlannerConfig,
) -> tuple[PositionMemory, Alert | None]:
    """The position's memory after the guard planned the reduction ``step`` at ``t`` (the
    cooldown starts, the size it leaves is kept), and the fight alert if it is due."""
    m = memory or PositionMemory()
    recent = tuple(x for x in m.reopened_s if t - x < config.fight_window_s)
    tolerance = 0.5 * market.amount_step * market.contract_size
    regrown = m.left_size is not None and position.size > m.left_size + tolerance
    if regrown:
        recent = (*recent, t)
    new = PositionMemory(last_acted_s=t, left_size=step.size_after, reopened_s=recent)
    if not (regrown and len(recent) >= config.fight_threshold):
        return new, None
    alert = Alert(
        level=Level.CRITICAL,
        account=step.account,
        symbol=position.symbol,
        side=position.side,
        source=PLANNER,
        message=(
            f"bot is fighting the guard: {position.symbol} {position.side.value} was re-opened "
            f"and reduced {len(recent)} times in {num(config.fight_window_s)} s"
        ),
        figures=(
            ("count", len(recent)),
            ("window_s", config.fight_window_s),
            ("threshold", config.fight_threshold),
            ("size_before", position.size),
            ("guard_left_size", m.left_size),
            ("size_after", step.size_after),
        ),
    )
    return new, alert
