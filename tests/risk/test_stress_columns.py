"""The stress test computed per position over all scenarios equals the scenario-by-scenario sum.

``reference_stress`` below is the straightforward reading of RISK_MATH.md's stress formula
(the risk core's implementation before it kept results as columns): each scenario marks every
position at ``M * (1 + w * x)``, closes it there at the taker fee plus slippage, adds the cross
positions to the wallet and keeps each isolated position on its own collateral. The columnar
:func:`stress_account` must give the same outcomes, float for float, on both its paths (the
per-position loop and the numpy broadcast of riskguard.risk.stress_arrays), and the same worst
figures per position, for linear and inverse accounts, cross and isolated, with per-symbol
moves, loss weights and cost factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import riskguard.risk.shortfall as stress_module
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.risk import (
    Scenario,
    ScenarioOutcome,
    StressResult,
    isolated_collateral,
    position_shortfall,
    stress_account,
)

TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
INVERSE_SYMBOLS = ("BTC/USD:BTC",)


def reference_value(p: Position, scenario: Scenario, slippage: float) -> float:
    """PnL at the stressed price minus the cost of closing there (coins for inverse)."""
    stressed = p.mark_price * (1.0 + scenario.loss_weight * scenario.move_for(p.symbol))
    if p.inverse:
        coin_value = p.size / stressed
        pnl_coin = p.side.sign * p.size * (1.0 / p.entry_price - 1.0 / stressed)
        return pnl_coin - coin_value * (p.taker_fee + slippage * scenario.cost_factor)
    pnl = p.side.sign * p.size * (stressed - p.entry_price)
    cost = p.size * stressed * (p.taker_fee + slippage * scenario.cost_factor)
    return pnl - cost


def reference_stress(
    snapshot: AccountSnapshot, scenarios: Sequence[Scenario], slippage: float
) -> tuple[ScenarioOutcome, ...]:
    """Every scenario's outcome, one scenario at a time."""
    positions = snapshot.positions
    cross_mode = [p.margin_mode is MarginMode.CROSS for p in positions]
    has_cross = any(cross_mode)
    outcomes = []
    for scenario in scenarios:
        cross_equity = snapshot.wallet_balance
        own: list[float] = []
        for p, is_cross in zip(positions, cross_mode, strict=True):
            value = reference_value(p, scenario, slippage)
            if is_cross:
                cross_equity += value
                own.append(0.0)
            else:
                own.append(isolated_collateral(p) + value)
        equities = tuple(cross_equity if c else e for c, e in zip(cross_mode, own, strict=True))
        shortfalls = tuple(max(0.0, -e) for e in equities)
        iso_total = sum(e for c, e in zip(cross_mode, own, strict=True) if not c)
        iso_short = sum(s for c, s in zip(cross_mode, shortfalls, strict=True) if not c)
        outcomes.append(
            ScenarioOutcome(
                scenario=scenario,
                equity_after=(cross_equity if has_cross else snapshot.wallet_balance) + iso_total,
                cross_equity_after=cross_equity if has_cross else None,
                shortfall=(max(0.0, -cross_equity) if has_cross else 0.0) + iso_short,
                position_equity=equities,
                position_shortfall=shortfalls,
            )
        )
    return tuple(outcomes)


moves = st.floats(-0.9, 3.0)


@st.composite
def scenario_sets(draw: st.DrawFn, symbols: Sequence[str]) -> tuple[Scenario, ...]:
    count = draw(st.integers(0, 24))
    out = []
    for i in range(count):
        overrides = draw(st.lists(st.sampled_from(list(symbols)), max_size=2))
        out.append(
            Scenario(
                name=f"s{i}",
                move=draw(moves),
                symbol_moves=tuple((s, draw(moves)) for s in overrides),
                loss_weight=draw(st.sampled_from([1.0, 1.0, 0.35, 0.0])),
                cost_factor=draw(st.sampled_from([1.0, 2.0, 0.0])),
            )
        )
    return tuple(out)


@st.composite
def positions(draw: st.DrawFn, symbols: Sequence[str], inverse: bool) -> Position:
    mode = draw(st.sampled_from(list(MarginMode)))
    entry = draw(st.floats(1.0, 100_000.0))
    size = draw(st.floats(0.001, 1_000.0)) * (entry if inverse else 1.0)
    value = size / entry if inverse else size * entry
    return Position(
        symbol=draw(st.sampled_from(list(symbols))),
        side=draw(st.sampled_from(list(Side))),
        size=size,
        entry_price=entry,
        mark_price=entry * draw(st.floats(0.7, 1.4)),
        margin_mode=mode,
        collateral=value * draw(st.floats(0.01, 1.2)) if mode is MarginMode.ISOLATED else None,
        maintenance_margin_rate=0.005,
        taker_fee=draw(st.sampled_from([0.0, 0.0005, 0.001])),
        inverse=inverse,
    )


@st.composite
def stressed_accounts(draw: st.DrawFn) -> tuple[AccountSnapshot, tuple[Scenario, ...], float]:
    inverse = draw(st.booleans())
    symbols = INVERSE_SYMBOLS if inverse else SYMBOLS
    held = draw(st.lists(positions(symbols, inverse), max_size=8))
    wallet = draw(st.floats(0.0, 1e6))
    slippage = draw(st.sampled_from([0.0, 0.0005, 0.01]))
    snapshot = AccountSnapshot("binance", wallet, tuple(held), TAKEN_AT)
    return snapshot, draw(scenario_sets(symbols)), slippage


@settings(max_examples=300, deadline=None)
@given(case=stressed_accounts())
def test_columnar_stress_equals_the_scenario_by_scenario_reference(
    case: tuple[AccountSnapshot, tuple[Scenario, ...], float],
) -> None:
    snapshot, scenarios, slippage = case

    result = stress_account(snapshot, scenarios, slippage=slippage)

    expected = reference_stress(snapshot, scenarios, slippage)
    assert result.outcomes == expected
    reference = StressResult(expected)
    assert result.potential_shortfall == reference.potential_shortfall
    for i in range(len(snapshot.positions)):
        assert result.position_shortfall(i) == max(
            (o.position_shortfall[i] for o in expected), default=0.0
        )
        worst = min(expected, key=lambda o: o.position_equity[i], default=None)
        assert result.position_worst(i) == worst
        assert result.position_worst_scenario(i) == (worst.scenario if worst else None)
    if expected:
        assert result.worst == max(expected, key=lambda o: (o.shortfall, -o.equity_after))


@settings(max_examples=150, deadline=None)
@given(case=stressed_accounts())
def test_single_position_shortfall_equals_the_first_lowest_scenario_of_the_reference(
    case: tuple[AccountSnapshot, tuple[Scenario, ...], float],
) -> None:
    snapshot, scenarios, slippage = case
    isolated = [p for p in snapshot.positions if p.margin_mode is MarginMode.ISOLATED]
    for p in isolated:
        equities = [isolated_collateral(p) + reference_value(p, s, slippage) for s in scenarios]

        shortfall, which = position_shortfall(p, scenarios, slippage=slippage)

        lowest = min(equities, default=None)
        assert shortfall == (0.0 if lowest is None else max(0.0, -lowest))
        assert which == (None if lowest is None else scenarios[equities.index(lowest)])


@settings(max_examples=200, deadline=None)
@given(case=stressed_accounts(), on_arrays=st.booleans())
def test_both_stress_paths_equal_the_reference(
    case: tuple[AccountSnapshot, tuple[Scenario, ...], float], on_arrays: bool
) -> None:
    # The loop below STRESS_ARRAY_MIN position-scenario pairs, the broadcast from it on: the
    # threshold moved to 0 or out of reach sends every account down one path.
    snapshot, scenarios, slippage = case

    with patch.object(stress_module, "STRESS_ARRAY_MIN", 0 if on_arrays else 10**9):
        result = stress_account(snapshot, scenarios, slippage=slippage)

    assert result.outcomes == reference_stress(snapshot, scenarios, slippage)


def test_a_result_built_from_outcomes_reads_the_same_as_the_computed_one() -> None:
    btc = Position(
        "BTC/USDT:USDT", Side.LONG, 1.0, 100.0, 100.0, MarginMode.CROSS, taker_fee=0.0005
    )
    snapshot = AccountSnapshot("binance", 10.0, (btc,), TAKEN_AT)
    computed = stress_account(snapshot, (Scenario("down", -0.2), Scenario("up", 0.2)))

    rebuilt = StressResult(computed.outcomes)

    assert rebuilt == computed
    # Down 20%: 10 - 20 - 80 x (0.05% fee + 0.05% slippage) = -10.08.
    assert rebuilt.potential_shortfall == computed.potential_shortfall == pytest.approx(10.08)
    assert rebuilt.position_worst(0) == computed.position_worst(0)
