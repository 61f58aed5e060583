"""Specification of splitting a reduction into orders of at most ``max_order_notional``.

The numbers are worked by hand in the comments beside them (contracts = base units / contract
size; each part is a whole number of steps).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from riskguard.domain import MarketRules, Position
from riskguard.guard.planner import PlannerConfig, split_order
from riskguard.guard.rules.base import Action
from tests.guard.planner.builders import (
    BTC,
    PROPERTY,
    _close,
    _market,
    _plan,
    _reductions,
    _scenarios,
)

# --- splitting by max_order_notional -----------------------------------------------------


def test_split_close_into_equal_parts_under_the_cap() -> None:
    # 10 contracts x 100 = 1000; cap 300 -> 3 contracts = 30 steps; 100 steps need 4 parts of 25.
    config = PlannerConfig(cooldown_s=0.0, max_order_notional=300.0)

    result, _ = _plan(_close(), config=config)

    (step,) = result.steps
    assert step.amounts == (2.5, 2.5, 2.5, 2.5)
    assert (step.contracts, step.notional) == (10.0, 1000.0)
    assert step.notes == ("close the whole position", "split into 4 orders of at most 300")


def test_split_reduce_puts_the_extra_step_first() -> None:
    # sell 7.3 = 73 steps; cap 250 -> 25 steps; 3 parts: 73 = 25 + 24 + 24.
    parts = split_order(7.3, _market(step=0.1), 100.0, 250.0)

    assert parts == (2.5, 2.4, 2.4)
    assert math.fsum(parts) == pytest.approx(7.3, abs=1e-12)


def test_split_with_contract_size_0_01() -> None:
    # one contract = 0.01 BTC x 60000 = 600; cap 10000 -> 16 contracts; 50 = 13 + 13 + 12 + 12.
    market = _market(contract_size=0.01, step=1.0, min_amount=1.0)

    assert split_order(50.0, market, 60_000.0, 10_000.0) == (13.0, 13.0, 12.0, 12.0)


def test_split_under_the_cap_is_one_order() -> None:
    assert split_order(2.0, _market(step=0.1), 100.0, 300.0) == (2.0,)
    assert split_order(7.0, _market(step=0.1), 100.0, None) == (7.0,)


def test_split_with_a_cap_near_the_minimum_makes_fewer_larger_parts() -> None:
    # 31 steps, cap 30 steps, minimum 20 steps: two parts would be 16 + 15 < 20, so one order.
    market = _market(step=0.1, min_amount=2.0)

    assert split_order(3.1, market, 100.0, 300.0) == (3.1,)


def test_split_keeps_each_order_within_the_venues_largest_market_order() -> None:
    # Binance refuses a market order above MARKET_LOT_SIZE maxQty (-4005): 7.3 = 73 steps with
    # at most 3.0 = 30 steps an order -> 3 parts, 25 + 24 + 24; no notional cap needed.
    market = _market(step=0.1, max_market_amount=3.0)

    assert split_order(7.3, market, 100.0, None) == (2.5, 2.4, 2.4)
    # Both caps: the smaller one wins (notional 150 at 100 = 1.5 = 15 steps -> 5 parts).
    assert split_order(7.3, market, 100.0, 150.0) == (1.5, 1.5, 1.5, 1.4, 1.4)


# --- properties --------------------------------------------------------------------------


@PROPERTY
@given(_scenarios())
def test_property_split_parts_respect_the_cap_and_the_step(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
) -> None:
    position, market, actions, config = scenario

    result, _ = _plan(*actions, positions=(position,), markets={BTC: market}, config=config)

    value = market.contract_value(position.mark_price)
    for step in _reductions(result):
        for amount in step.amounts:
            assert amount > 0
            steps = amount / market.amount_step
            assert steps == pytest.approx(round(steps), abs=1e-6)
            if config.max_order_notional is not None:
                assert amount * value <= config.max_order_notional * (1 + 1e-9)
            if len(step.amounts) > 1:
                assert amount >= market.min_order(position.mark_price) * (1 - 1e-9)
