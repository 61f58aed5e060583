"""Specification of sizing a reduction to its market (steps, minimums, dust).

The numbers are worked by hand in the comments beside them (contracts = base units / contract
size; the amount sold rounds up to the step).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given

from riskguard.domain import MarketRules, Position
from riskguard.guard.planner import PlannerConfig, size_reduction
from riskguard.guard.rules.base import Action, ActionKind
from tests.guard.planner.builders import (
    BTC,
    PROPERTY,
    _market,
    _plan,
    _position,
    _reductions,
    _scenarios,
)

# --- sizing to the market ----------------------------------------------------------------


def test_sizing_rounds_the_amount_sold_up_to_the_step() -> None:
    # 10 contracts, keep 7.25 -> sell 2.75 -> up to the 0.1 step: 2.8, keeping 7.2 (<= 7.25).
    sizing = size_reduction(_position(size=10.0), 7.25, _market(step=0.1))

    assert (sizing.kind, sizing.contracts, sizing.size_after) == (ActionKind.REDUCE, 2.8, 7.2)
    assert sizing.notes == ("sell 2.75 rounded up to the step 0.1",)


def test_sizing_an_exact_multiple_of_the_step_does_not_round_float_noise_up() -> None:
    # 0.3 - 0.1 is 0.19999999999999998 in floats: still two steps of 0.1, not three.
    sizing = size_reduction(_position(size=0.3), 0.1, _market(step=0.1))

    assert (sizing.contracts, sizing.size_after, sizing.notes) == (0.2, 0.1, ())


def test_sizing_counts_in_contracts_of_size_0_01() -> None:
    # 0.5 BTC = 50 contracts of 0.01; keep 0.237 BTC = 23.7 contracts -> sell 26.3 -> 27
    # (step 1), keeping 23 contracts = 0.23 BTC.
    position = _position(size=0.5, mark=60_000.0, contract_size=0.01)
    market = _market(contract_size=0.01, step=1.0, min_amount=1.0)

    sizing = size_reduction(position, 0.237, market)

    assert (sizing.kind, sizing.contracts, sizing.size_after) == (ActionKind.REDUCE, 27.0, 0.23)


def test_sizing_raises_a_small_reduction_to_the_minimum_amount() -> None:
    # sell 0.3 < minimum 1.0 -> sell 1.0, keeping 9.0.
    sizing = size_reduction(_position(size=10.0), 9.7, _market(step=0.1, min_amount=1.0))

    assert (sizing.kind, sizing.contracts, sizing.size_after) == (ActionKind.REDUCE, 1.0, 9.0)


def test_sizing_raises_a_small_reduction_to_the_minimum_notional() -> None:
    # min notional 150 at mark 100 = 1.5 contracts; sell 0.3 -> 1.5, keeping 8.5.
    market = _market(step=0.1, min_amount=0.1, min_notional=150.0)

    sizing = size_reduction(_position(size=10.0, mark=100.0), 9.7, market)

    assert (sizing.contracts, sizing.size_after) == (1.5, 8.5)


def test_sizing_closes_when_the_minimum_exceeds_the_position() -> None:
    # 0.8 contracts held, minimum order 1.0: the only valid order is the whole position.
    sizing = size_reduction(_position(size=0.8), 0.5, _market(step=0.1, min_amount=1.0))

    assert (sizing.kind, sizing.contracts, sizing.size_after) == (ActionKind.CLOSE, 0.8, 0.0)


def test_sizing_closes_instead_of_leaving_a_dust_remainder() -> None:
    # keep 0.5 < minimum 1.0: a remainder that cannot be reduced later is closed too.
    sizing = size_reduction(_position(size=10.0), 0.5, _market(step=0.1, min_amount=1.0))

    assert (sizing.kind, sizing.contracts, sizing.size_after) == (ActionKind.CLOSE, 10.0, 0.0)
    assert sizing.notes[-1] == "0.5 contracts left would be below the minimum: close it all"


def test_sizing_closes_when_the_remainder_is_below_the_minimum_notional() -> None:
    # keep 1.2 contracts x 100 = 120 < min notional 150: close all 10.
    market = _market(step=0.1, min_amount=0.1, min_notional=150.0)

    sizing = size_reduction(_position(size=10.0, mark=100.0), 1.25, market)

    assert (sizing.kind, sizing.contracts) == (ActionKind.CLOSE, 10.0)


def test_sizing_refuses_a_target_that_is_not_a_reduction() -> None:
    with pytest.raises(ValueError, match="not below the size"):
        size_reduction(_position(size=10.0), 10.0, _market())


# --- the market's order rules ------------------------------------------------------------


def test_amount_rounding_helpers_round_the_size_kept_down_and_the_amount_sold_up() -> None:
    market = _market(contract_size=0.01, step=1.0)

    # 0.237 BTC = 23.7 contracts: keep 23, sell 24; 0.07 / 0.01 = 7.000000000000001 stays 7.
    assert market.amount_down(market.to_contracts(0.237)) == 23.0
    assert market.amount_up(market.to_contracts(0.237)) == 24.0
    assert market.amount_up(market.to_contracts(0.07)) == 7.0
    assert market.to_size(23.0) == 0.23


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount_step": 0.0},
        {"contract_size": -1.0},
        {"min_amount": -0.1},
        {"min_notional": math.inf},
    ],
)
def test_market_rules_reject_invalid_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MarketRules(symbol=BTC, **kwargs)


# --- properties --------------------------------------------------------------------------


@PROPERTY
@given(_scenarios())
def test_property_planned_reductions_keep_size_between_zero_and_current(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
) -> None:
    position, market, actions, config = scenario

    result, _ = _plan(*actions, positions=(position,), markets={BTC: market}, config=config)

    for step in _reductions(result):
        sold = math.fsum(step.amounts) * market.contract_size
        assert 0.0 <= step.size_after <= position.size
        assert step.size_after == pytest.approx(position.size - sold, rel=1e-9, abs=1e-9)
        assert step.size_after == 0.0 or step.size_after >= market.to_size(market.min_amount) * (
            1 - 1e-9
        )
        wanted = min(
            (a.target_size or 0.0) if a.kind is ActionKind.REDUCE else 0.0
            for a in actions
            if a.kind is ActionKind.CLOSE or (a.target_size or 0.0) < position.size
        )
        assert step.size_after <= wanted * (1 + 1e-9) + 1e-12
