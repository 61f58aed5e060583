"""``liquidation_distance`` (the reference rule): levels, hysteresis, and the remedies it proposes.

Numbers: on Binance a 1 BTC long at 100,000 with a flat 0.5% maintenance rate and collateral ``C``
liquidates at ``LP = (100,000 - C) / 0.995``, so a distance ``d`` needs
``C = 100,000 - 99,500 * (1 - d)``: 20% -> 20,400, 10% -> 10,450, 6% -> 6,470, 3% -> 3,485.
In sigmas, with ``sigma * sqrt(h) = 0.002 * sqrt(100) = 0.02``: 10% is ln(1/0.9) / 0.02 = 5.27,
6% is 3.09, 3% is 1.52.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.liquidation_distance import (
    DistanceThreshold,
    LiquidationDistanceConfig,
    LiquidationDistanceRule,
)
from riskguard.risk import RiskSettings, assess_account, evaluate_account
from riskguard.validation import problem_lines
from tests.guard.rules.fills import apply_at_mark as _apply

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
HORIZON_S = 100.0
SIGMA = 0.002  # per sqrt(second): 0.02 over the 100 s horizon
NO_SLIPPAGE = RiskSettings(sigma_per_sqrt_s=SIGMA, horizon_s=HORIZON_S, slippage=0.0)
KEY = f"{BTC}:long"

PCT_ONLY = {
    "warn": {"distance_pct": 15.0},
    "act": {"distance_pct": 8.0},
    "critical": {"distance_pct": 4.0},
    "target": {"distance_pct": 12.0},
}
SIGMA_ONLY = {
    "warn": {"sigma": 8.0},
    "act": {"sigma": 5.0},
    "critical": {"sigma": 3.0},
    "target": {"sigma": 7.0},
}


def _collateral_for(distance: float) -> float:
    return 100_000.0 - 99_500.0 * (1.0 - distance)


def _position(
    symbol: str = BTC,
    size: float = 1.0,
    *,
    entry: float = 100_000.0,
    mark: float | None = None,
    mode: MarginMode = MarginMode.ISOLATED,
    **fields: Any,
) -> Position:
    """A flat 0.5% maintenance rate and no leverage setting, so an isolated position holds only
    the collateral it is given."""
    return testing.position(
        symbol=symbol,
        size=size,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        leverage=None,
        maintenance_margin_rate=0.005,
        **fields,
    )


def _isolated(distance: float, **fields: Any) -> Position:
    return _position(collateral=_collateral_for(distance), **fields)


def _snapshot(*positions: Position, wallet: float = 0.0, account: str = "main") -> AccountSnapshot:
    return testing.snapshot(*positions, wallet_balance=wallet, taken_at=NOW, account=account)


def _rule(**fields: object) -> LiquidationDistanceRule:
    config = LiquidationDistanceConfig(type="liquidation_distance", **fields)
    return LiquidationDistanceRule(config)


def _run(
    rule: LiquidationDistanceRule,
    snapshot: AccountSnapshot,
    memory: Memory | None = None,
    *,
    sigma: float = SIGMA,
    free_balance: float = 0.0,
    risk_settings: RiskSettings = NO_SLIPPAGE,
) -> RuleResult:
    evaluation = evaluate_account(snapshot, risk_settings)
    data = RuleInput(
        snapshot,
        evaluation,
        NOW,
        HORIZON_S,
        free_balance,
        sigma_per_sqrt_s={p.symbol: sigma for p in snapshot.positions},
    )
    return rule.evaluate(data, memory or {})


def _distance_after(
    snapshot: AccountSnapshot, result: RuleResult, slippage: float = 0.0, index: int = 0
) -> float:
    distance = assess_account(_apply(snapshot, result.actions, slippage)).positions[index].distance
    assert distance is not None
    return distance


def _plan(result: RuleResult) -> list[tuple[object, ...]]:
    return [
        (a.kind, a.margin if a.kind is ActionKind.ADD_MARGIN else a.target_size)
        for a in result.actions
    ]


# --- levels -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "expected"),
    [(0.20, Level.OK), (0.10, Level.WARN), (0.06, Level.ACT), (0.03, Level.CRITICAL)],
)
def test_levels_by_percent_of_the_mark(distance: float, expected: Level) -> None:
    result = _run(_rule(**PCT_ONLY), _snapshot(_isolated(distance)))
    assert result.memory == {KEY: int(expected)}
    assert [f.level for f in result.findings] == ([] if expected is Level.OK else [expected])


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (0.20, Level.OK),  # 11.2 sigma
        (0.10, Level.WARN),  # 5.27 sigma
        (0.06, Level.ACT),  # 3.09 sigma
        (0.03, Level.CRITICAL),  # 1.52 sigma
    ],
)
def test_levels_by_sigma_over_the_reaction_horizon(distance: float, expected: Level) -> None:
    result = _run(_rule(**SIGMA_ONLY), _snapshot(_isolated(distance)))
    assert result.memory == {KEY: int(expected)}


def test_finding_carries_distance_sigma_and_prices() -> None:
    result = _run(_rule(**PCT_ONLY), _snapshot(_isolated(0.06)))
    facts = dict(result.findings[0].figures)
    assert facts["distance_pct"] == pytest.approx(6.0)
    assert facts["sigma_distance"] == pytest.approx(math.log(1 / 0.94) / 0.02)
    assert facts["liquidation_price"] == pytest.approx(94_000.0)
    assert result.findings[0].threshold == 8.0


def test_sigma_wins_when_the_market_is_fast() -> None:
    # 10% is only WARN by percent, but with sigma*sqrt(h) = 0.025 it is 0.10536 / 0.025 = 4.2
    # sigma: ACT
    result = _run(_rule(), _snapshot(_isolated(0.10)), sigma=0.0025)
    assert result.findings[0].level is Level.ACT


def test_percent_wins_when_the_market_is_calm() -> None:
    # 6% is ACT by percent; with sigma 0.0001 it is 61.9 sigma, which alone would be OK
    result = _run(_rule(), _snapshot(_isolated(0.06)), sigma=0.0001)
    assert result.findings[0].level is Level.ACT


# --- hysteresis -------------------------------------------------------------------------------


def test_distance_hovering_at_act_does_not_flap() -> None:
    # Arrange: act at 8%, hysteresis 20%: ACT is left only above 9.6%
    rule = _rule(**PCT_ONLY)
    memory: Memory = {}
    levels = []
    # Act
    for distance in (0.079, 0.09, 0.095, 0.097):
        memory = _run(rule, _snapshot(_isolated(distance)), memory).memory
        levels.append(Level(int(memory[KEY] or 0)))
    # Assert
    assert levels == [Level.ACT, Level.ACT, Level.ACT, Level.WARN]


def test_same_distance_seen_fresh_is_only_a_warning() -> None:
    result = _run(_rule(**PCT_ONLY), _snapshot(_isolated(0.09)))
    assert result.memory == {KEY: int(Level.WARN)}
    assert result.actions == ()


# --- add margin -------------------------------------------------------------------------------


def test_add_margin_restores_the_target_distance() -> None:
    # Target 12%: LP 88,000 needs 0.5% * 88,000 + 12,000 = 12,440 of collateral: add 5,970
    snapshot = _snapshot(_isolated(0.06))
    rule = _rule(**PCT_ONLY, remedies=("add_margin", "reduce"), max_margin_add=10_000.0)
    result = _run(rule, snapshot, free_balance=20_000.0)
    assert _plan(result) == [(ActionKind.ADD_MARGIN, pytest.approx(5_970.0))]
    assert _distance_after(snapshot, result) == pytest.approx(0.12)


@pytest.mark.parametrize(
    ("cap", "free"),
    [(5_000.0, 20_000.0), (10_000.0, 3_000.0)],  # capped by max_margin_add / by free balance
)
def test_add_margin_beyond_its_caps_falls_back_to_reducing(cap: float, free: float) -> None:
    rule = _rule(**PCT_ONLY, remedies=("add_margin", "reduce"), max_margin_add=cap)
    result = _run(rule, _snapshot(_isolated(0.06)), free_balance=free)
    assert [a.kind for a in result.actions] == [ActionKind.REDUCE, ActionKind.ADD_MARGIN]


def test_add_margin_alone_beyond_its_cap_only_alerts() -> None:
    rule = _rule(**PCT_ONLY, remedies=("add_margin",), max_margin_add=5_000.0)
    result = _run(rule, _snapshot(_isolated(0.06)), free_balance=20_000.0)
    assert [a.kind for a in result.actions] == [ActionKind.ALERT]


def test_add_margin_is_never_proposed_for_a_cross_position() -> None:
    snapshot = _snapshot(_position(mode=MarginMode.CROSS), wallet=_collateral_for(0.06))
    rule = _rule(**PCT_ONLY, remedies=("add_margin",), max_margin_add=50_000.0)
    result = _run(rule, snapshot, free_balance=50_000.0)
    assert [a.kind for a in result.actions] == [ActionKind.ALERT]


# --- reduce -----------------------------------------------------------------------------------


def test_cross_reduce_restores_the_target_distance_after_fees() -> None:
    # Arrange: cross 1 BTC on 6,470 (6%), taker fee and slippage 5 bp each
    snapshot = _snapshot(_position(mode=MarginMode.CROSS, taker_fee=0.0005), wallet=6_470.0)
    costly = RiskSettings(sigma_per_sqrt_s=SIGMA, horizon_s=HORIZON_S, slippage=0.0005)
    # Act
    result = _run(_rule(**PCT_ONLY), snapshot, risk_settings=costly)
    # Assert: the solver also reserves the cost of closing at the target price, so the
    # recomputed distance is at or just beyond 12%
    assert [a.kind for a in result.actions] == [ActionKind.REDUCE]
    assert 0.12 - 1e-9 <= _distance_after(snapshot, result, slippage=0.0005) < 0.125


def test_cross_reduce_counts_the_other_positions() -> None:
    # ETH 10 x 3,000 holds 150 of maintenance margin, so BTC is at 6% on 6,620
    snapshot = _snapshot(
        _position(mode=MarginMode.CROSS),
        _position(ETH, 10.0, entry=3_000.0, mode=MarginMode.CROSS),
        wallet=6_620.0,
    )
    result = _run(_rule(**PCT_ONLY), snapshot)
    assert [(a.kind, a.symbol) for a in result.actions] == [(ActionKind.REDUCE, BTC)]
    assert _distance_after(snapshot, result) == pytest.approx(0.12)


def test_isolated_reduce_with_margin_back_keeps_the_target() -> None:
    # Equity 6,470 kept: 6,470 = q' * (12,000 + 440) at 88,000 -> q' = 0.52010; the closed
    # 47.99% released 3,105.0 of margin, put back
    snapshot = _snapshot(_isolated(0.06))
    result = _run(_rule(**PCT_ONLY), snapshot)
    assert _plan(result) == [
        (ActionKind.REDUCE, pytest.approx(6_470 / 12_440)),
        (ActionKind.ADD_MARGIN, pytest.approx(6_470 * (1 - 6_470 / 12_440))),
    ]
    assert _distance_after(snapshot, result) == pytest.approx(0.12)


def test_isolated_reduce_of_a_losing_position_ends_at_the_target() -> None:
    # Entry 101,000, collateral 7,470: equity 6,470 as above, same size. The venue books the
    # 480 realised loss of the closed part to the wallet; the margin put back is the released
    # margin less that loss, so the kept part ends exactly at the 12% target
    position = _position(entry=101_000.0, mark=100_000.0, collateral=7_470.0)
    snapshot = _snapshot(position)
    result = _run(_rule(**PCT_ONLY), snapshot)
    assert _distance_after(snapshot, result) == pytest.approx(0.12, rel=1e-9)


def test_isolated_reduce_of_a_winning_position_keeps_the_target() -> None:
    # Entry 99,000, collateral 5,470: equity 6,470, 6% away. Same q' = 0.5201 as above, but
    # only 2,625 goes back: LP = (0.5201 * 99,000 - 5,470) / (0.5201 * 0.995) = 88,928, 11.1%
    position = _position(entry=99_000.0, mark=100_000.0, collateral=5_470.0)
    snapshot = _snapshot(position)
    result = _run(_rule(**PCT_ONLY), snapshot)
    assert _distance_after(snapshot, result) >= 0.12 - 1e-9


def test_sigma_target_is_met_for_a_short() -> None:
    # Short cross 1 BTC on 8,000: 3.6 sigma (ACT). Target 7 sigma = 0.14 in log price; the rule
    # puts LP at 1 + (1 - e^-0.14) = 1.1306 of the mark, which is ln(1.1306) / 0.02 = 6.14 sigma
    snapshot = _snapshot(_position(side=Side.SHORT, mode=MarginMode.CROSS), wallet=8_000.0)
    result = _run(_rule(**SIGMA_ONLY), snapshot)
    after = evaluate_account(_apply(snapshot, result.actions), NO_SLIPPAGE)
    sigma_after = after.positions[0].sigma_distance
    assert sigma_after is not None
    assert sigma_after >= 7.0 - 1e-9


def test_sigma_target_is_met_for_a_long() -> None:
    # The long mirror of the case above lands on its 7 sigma
    snapshot = _snapshot(_position(mode=MarginMode.CROSS), wallet=8_000.0)
    result = _run(_rule(**SIGMA_ONLY), snapshot)
    after = evaluate_account(_apply(snapshot, result.actions), NO_SLIPPAGE)
    assert after.positions[0].sigma_distance == pytest.approx(7.0)


def test_add_margin_for_an_inverse_isolated_position() -> None:
    # 100,000 USD of BTC/USD at 100,000 on 0.07 BTC: about 6% from liquidation
    position = _position("BTC/USD:BTC", 100_000.0, collateral=0.07, inverse=True)
    rule = _rule(**PCT_ONLY, remedies=("add_margin",), max_margin_add=1.0)
    result = _run(rule, _snapshot(position, wallet=1.0), free_balance=1.0)
    assert [a.kind for a in result.actions] == [ActionKind.ADD_MARGIN]


# --- critical ---------------------------------------------------------------------------------


def test_critical_closes_the_position() -> None:
    result = _run(_rule(**PCT_ONLY), _snapshot(_isolated(0.03)))
    assert _plan(result) == [(ActionKind.CLOSE, 0.0)]
    assert result.actions[0].size_before == 1.0


def test_critical_without_close_at_critical_restores_the_target() -> None:
    snapshot = _snapshot(_isolated(0.03))
    result = _run(_rule(**PCT_ONLY, close_at_critical=False), snapshot)
    assert [a.kind for a in result.actions] == [ActionKind.REDUCE, ActionKind.ADD_MARGIN]
    assert _distance_after(snapshot, result) == pytest.approx(0.12)


def test_warn_proposes_nothing() -> None:
    assert _run(_rule(**PCT_ONLY), _snapshot(_isolated(0.10))).actions == ()


# --- scope ------------------------------------------------------------------------------------


def test_positions_outside_the_scope_are_ignored() -> None:
    snapshot = _snapshot(_isolated(0.03), _position(ETH, 10.0, entry=3_000.0, collateral=5_000.0))
    result = _run(_rule(**PCT_ONLY, scope={"symbols": ["ETH/*"]}), snapshot)
    assert result.findings == ()
    assert result.memory == {f"{ETH}:long": 0}


def test_account_outside_the_scope_gets_nothing() -> None:
    snapshot = _snapshot(_isolated(0.03), account="sub-9")
    assert _run(_rule(scope={"accounts": ["main"]}), snapshot) == RuleResult(memory={})


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"act": {"distance_pct": 20.0, "sigma": 5.0}}, "act.distance_pct: must be below warn"),
        ({"critical": {"distance_pct": 4.0, "sigma": 6.0}}, "critical.sigma: must be below act"),
        ({"target": {"distance_pct": 7.0}}, "target.distance_pct: must be above act.distance_pct"),
        ({"target": {"sigma": 4.0}}, "target.sigma: must be above act.sigma"),
        ({"warn": {}}, "warn: give distance_pct and/or sigma"),
        ({"act": {"distance_pct": 150.0}}, "act.distance_pct:"),
        ({"remedies": []}, "remedies:"),
        ({"remedies": ["pray"]}, "remedies[0]:"),
        ({"max_margin_add": -1.0}, "max_margin_add:"),
        ({"hysteresis_pct": 120.0}, "hysteresis_pct:"),
        ({"scope": {"symbols": []}}, "scope.symbols:"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LiquidationDistanceConfig(type="liquidation_distance", **fields)
    lines = problem_lines(caught.value)
    assert any(line.startswith(path) for line in lines), lines


def test_threshold_fraction_takes_the_stricter_of_percent_and_sigma() -> None:
    threshold = DistanceThreshold(distance_pct=5.0, sigma=3.0)
    # 3 sigma of 0.02 = 0.06 in log price: 1 - e^-0.06 = 5.82% > 5%
    assert threshold.fraction(0.002, 100.0, Side.LONG) == pytest.approx(-math.expm1(-0.06))
    assert threshold.fraction(0.0, 100.0, Side.LONG) == pytest.approx(0.05)
    # above the mark (a short's liquidation) 3 sigma is e^0.06 - 1 = 6.18%
    assert threshold.fraction(0.002, 100.0, Side.SHORT) == pytest.approx(math.expm1(0.06))


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    cross=st.booleans(),
    short=st.booleans(),
    distance=st.floats(0.005, 0.2),
    move=st.floats(-0.1, 0.1),
    remedies=st.sampled_from([("reduce",), ("add_margin",), ("add_margin", "reduce")]),
    cap=st.floats(0.0, 20_000.0),
    free=st.floats(0.0, 20_000.0),
)
def test_no_action_adds_exposure_and_cross_reductions_reach_the_target(
    cross: bool,
    short: bool,
    distance: float,
    move: float,
    remedies: tuple[str, ...],
    cap: float,
    free: float,
) -> None:
    # Arrange: collateral for ``distance`` at entry, then the mark moves
    money = _collateral_for(distance)
    position = _position(
        side=Side.SHORT if short else Side.LONG,
        mark=100_000.0 * (1 + move),
        mode=MarginMode.CROSS if cross else MarginMode.ISOLATED,
        collateral=None if cross else money,
    )
    snapshot = _snapshot(position, wallet=money if cross else 0.0)
    rule = _rule(**PCT_ONLY, remedies=remedies, max_margin_add=cap)
    # Act
    result = _run(rule, snapshot, free_balance=free)
    # Assert
    reduced = False
    for action in result.actions:
        if action.kind in (ActionKind.REDUCE, ActionKind.CLOSE):
            assert action.target_size is not None
            assert action.size_before is not None
            assert 0.0 <= action.target_size < action.size_before
            reduced = True
        elif action.kind is ActionKind.ADD_MARGIN:
            assert not cross
            assert action.margin is not None
            assert action.margin > 0
            # margin comes from free balance within the cap, or is the margin the reduction freed
            assert reduced or action.margin <= min(cap, free) + 1e-9
        else:
            assert action.kind is ActionKind.ALERT
    if cross and [a.kind for a in result.actions] == [ActionKind.REDUCE]:
        assert _distance_after(snapshot, result) >= 0.12 - 1e-9
