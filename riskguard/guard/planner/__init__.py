"""The planner: the rules' proposals for one account -> one plan of orders (pure).

The whole procedure is described in :mod:`riskguard.guard.planner.plan`. This package may import
the shared ground and :mod:`riskguard.guard.rules` only.
"""

from riskguard.guard.planner.plan import (
    PLANNER,
    Alert,
    Dropped,
    MarketRules,
    OrderSide,
    Plan,
    PlannedStep,
    PlannerConfig,
    PlannerState,
    PositionMemory,
    ReductionSizing,
    plan,
    position_key,
    size_reduction,
    split_order,
)

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
