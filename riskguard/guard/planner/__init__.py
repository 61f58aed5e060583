"""The planner: the rules' proposals for one account -> one plan of orders (pure).

The whole procedure is described in :mod:`riskguard.guard.planner.plan`; the modules beside it
hold its parts (screening, cooldowns, sizing, splitting, steps, memory, fights) and its values
(:mod:`riskguard.guard.planner.model`). This package may import the shared ground and
:mod:`riskguard.guard.rules` only.

``MarketRules`` is a domain value (:mod:`riskguard.domain`); it is re-exported here only so that
older imports keep working.
"""

from riskguard.domain import MarketRules
from riskguard.guard.planner.memory import PlannerState, PositionMemory
from riskguard.guard.planner.model import (
    PLANNER,
    Alert,
    Dropped,
    OrderSide,
    Plan,
    PlannedStep,
    PlannerConfig,
    position_key,
)
from riskguard.guard.planner.plan import plan
from riskguard.guard.planner.sizing import ReductionSizing, size_reduction
from riskguard.guard.planner.splitting import split_order

__all__ = [
    "PLANNER",
    "Alert",
    "Dropped",
    "MarketRules",
    "OrderSide",
    "Plan",
    "PlannedStep",
    "PlannerConfig",
    "PlannerState",
    "PositionMemory",
    "ReductionSizing",
    "plan",
    "position_key",
    "size_reduction",
    "split_order",
]
