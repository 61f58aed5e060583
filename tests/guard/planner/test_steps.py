"""Specification of the steps a plan carries: every order reduce-only, in the closing direction."""

from __future__ import annotations

import pytest
from hypothesis import given

from riskguard.domain import MarketRules, Position, Side
from riskguard.guard.planner import PlannerConfig
from riskguard.guard.rules.base import Action
from tests.guard.planner.builders import (
    BTC,
    PROPERTY,
    _plan,
    _position,
    _reduce,
    _reductions,
    _scenarios,
)


@pytest.mark.parametrize(("side", "order_side"), [(Side.LONG, "sell"), (Side.SHORT, "buy")])
def test_reduction_is_reduce_only_in_the_closing_direction(side: Side, order_side: str) -> None:
    result, _ = _plan(_reduce(4.0, side=side), positions=(_position(side=side),))

    (step,) = result.steps
    assert (step.order_side, step.reduce_only) == (order_side, True)


# --- properties --------------------------------------------------------------------------


@PROPERTY
@given(_scenarios())
def test_property_every_order_is_reduce_only_in_the_closing_direction(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
) -> None:
    position, market, actions, config = scenario

    result, _ = _plan(*actions, positions=(position,), markets={BTC: market}, config=config)

    closing = "sell" if position.side is Side.LONG else "buy"
    assert all(s.reduce_only and s.order_side == closing for s in _reductions(result))
    assert len(_reductions(result)) <= 1
