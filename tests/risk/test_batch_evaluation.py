"""The batch evaluation over arrays gives evaluate_position's figures for every position.

Reference: :func:`riskguard.risk.evaluate_position`, one position at a time. Liquidation prices,
distances and shortfalls must be the same floats, and the worst scenario the same one; sigma
distances and touch probabilities agree to 1e-9 (numpy's logarithm is not libm's).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import Position
from riskguard.risk import (
    Scenario,
    evaluate_position,
    get_profile,
    per_sqrt_second,
    span_scenarios,
)
from riskguard.risk.batch_evaluation import evaluate_positions
from tests.risk.test_properties import VENUES, cases
from tests.risk.test_stress_columns import scenario_sets


def _as_inverse(p: Position) -> Position:
    """A coin-margined twin with a flat rate, its collateral in the coin."""
    assert p.collateral is not None
    return replace(
        p,
        symbol="BTC/USD:BTC",
        size=p.size * p.entry_price,
        collateral=p.collateral / p.entry_price,
        tiers=(),
        maintenance_margin_rate=0.005,
        inverse=True,
    )


@st.composite
def evaluated_batches(
    draw: st.DrawFn,
) -> tuple[str, list[Position], tuple[Scenario, ...], float, float]:
    venue = draw(st.sampled_from(VENUES))
    drawn = [c.position for c in draw(st.lists(cases(venues=[venue]), min_size=1, max_size=8))]
    inverse = draw(st.booleans())
    batch = [_as_inverse(p) for p in drawn] if inverse else drawn
    symbols = sorted({p.symbol for p in batch})
    if draw(st.booleans()):
        scenarios = span_scenarios(per_sqrt_second(draw(st.floats(0.01, 0.3))), 60.0)
    else:
        scenarios = draw(scenario_sets(symbols))
    sigma = draw(st.sampled_from([0.0, per_sqrt_second(0.05), per_sqrt_second(0.8)]))
    return venue, batch, scenarios, sigma, draw(st.sampled_from([0.0, 0.0005]))


@settings(max_examples=150, deadline=None)
@given(case=evaluated_batches())
def test_batch_evaluation_gives_evaluate_position_figures_per_position(
    case: tuple[str, list[Position], tuple[Scenario, ...], float, float],
) -> None:
    venue, batch, scenarios, sigma, slippage = case
    profile = get_profile(venue)

    result = evaluate_positions(batch, profile, sigma, 60.0, scenarios, slippage=slippage)

    for i, p in enumerate(batch):
        expected = evaluate_position(p, profile, sigma, 60.0, scenarios, slippage=slippage)
        lp = result.liquidation_price[i]
        assert (None if math.isnan(lp) else lp) == expected.risk.liquidation_price
        distance = result.distance[i]
        assert (None if math.isnan(distance) else distance) == expected.risk.distance
        assert result.safe[i] == expected.risk.safe
        sd = result.sigma_distance[i]
        if expected.sigma_distance is None:
            assert math.isnan(sd)
        else:
            assert sd == pytest.approx(expected.sigma_distance, rel=1e-9)
        assert result.touch_probability[i] == pytest.approx(
            expected.touch_probability, rel=1e-9, abs=1e-300
        )
        assert result.shortfall[i] == expected.shortfall
        worst = result.worst_scenario[i]
        assert (None if worst < 0 else scenarios[worst].name) == expected.worst_scenario
