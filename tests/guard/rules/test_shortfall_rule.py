"""``shortfall``: grade the potential shortfall, reduce until every scenario leaves equity >= 0.

Most tests use two scenarios, a 50% crash and a 50% squeeze, and no fees: a 1 BTC long at 100,000
loses 50,000 in the crash, so on collateral ``C`` its shortfall is ``50,000 - C``. With the margin
kept (reduce + put the released margin back) the largest safe size is ``C / 50,000``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.shortfall import CROSS_KEY, ShortfallConfig, ShortfallRule
from riskguard.risk import (
    EquityFloor,
    RiskSettings,
    Scenario,
    assess_account,
    cross_backing,
    evaluate_account,
    get_profile,
    largest_safe_size,
    stress_account,
)
from riskguard.validation import problem_lines
from tests.guard.rules.fills import apply_at_mark as _apply

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
CRASH = Scenario("crash -50%", -0.5)
SQUEEZE = Scenario("squeeze +50%", 0.5)
TWO_WAY = RiskSettings(scenarios=(CRASH, SQUEEZE), slippage=0.0)
KEY = f"{BTC}:long"


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


def _cross(symbol: str = BTC, size: float = 1.0, **fields: Any) -> Position:
    return _position(symbol, size, mode=MarginMode.CROSS, **fields)


def _snapshot(*positions: Position, wallet: float = 0.0) -> AccountSnapshot:
    return testing.snapshot(*positions, wallet_balance=wallet, taken_at=NOW, account="main")


def _rule(**fields: object) -> ShortfallRule:
    return ShortfallRule(ShortfallConfig(type="shortfall", **fields))


def _run(
    rule: ShortfallRule,
    snapshot: AccountSnapshot,
    memory: Memory | None = None,
    risk_settings: RiskSettings = TWO_WAY,
) -> RuleResult:
    evaluation = evaluate_account(snapshot, risk_settings)
    return rule.evaluate(RuleInput(snapshot, evaluation, NOW, 20.0, 0.0), memory or {})


def _shortfall_after(
    snapshot: AccountSnapshot, result: RuleResult, risk_settings: RiskSettings = TWO_WAY
) -> float:
    after = _apply(snapshot, result.actions, risk_settings.slippage)
    return evaluate_account(after, risk_settings).potential_shortfall


def _plan(result: RuleResult) -> list[tuple[object, ...]]:
    return [
        (a.kind, a.symbol, a.margin if a.kind is ActionKind.ADD_MARGIN else a.target_size)
        for a in result.actions
    ]


# --- classification ---------------------------------------------------------------------------

BY_AMOUNT = {"max_shortfall": 1_000.0, "critical": {"amount": 10_000.0}}


@pytest.mark.parametrize(
    ("collateral", "expected"),
    [
        (60_000.0, Level.OK),  # the crash leaves 10,000: no shortfall
        (50_000.0, Level.OK),  # exactly zero left: a zero shortfall is OK
        (49_500.0, Level.WARN),  # 500: any shortfall warns
        (48_000.0, Level.ACT),  # 2,000 > max_shortfall 1,000
        (30_000.0, Level.CRITICAL),  # 20,000 > 10,000
    ],
)
def test_isolated_shortfall_grades_by_amount(collateral: float, expected: Level) -> None:
    result = _run(_rule(**BY_AMOUNT), _snapshot(_position(collateral=collateral)))
    assert result.memory == {KEY: int(expected)}
    assert [f.level for f in result.findings] == ([] if expected is Level.OK else [expected])


@pytest.mark.parametrize(
    ("collateral", "expected"),
    [
        (40_000.0, Level.ACT),  # 10,000 is 25% of 40,000: above max_shortfall 0, below 50%
        (30_000.0, Level.CRITICAL),  # 20,000 is 66.7% of 30,000: above the default 50%
    ],
)
def test_default_thresholds_act_on_any_shortfall_and_are_critical_above_half_the_equity(
    collateral: float, expected: Level
) -> None:
    result = _run(_rule(), _snapshot(_position(collateral=collateral)))
    assert [f.level for f in result.findings] == [expected]


def test_percent_of_equity_wins_when_stricter_than_amount() -> None:
    # 20,000 on 30,000 of equity: only WARN by amount (act at 100,000) but 66.7% >= 50%
    rule = _rule(max_shortfall=100_000.0, critical={"amount": 200_000.0, "equity_pct": 50.0})
    result = _run(rule, _snapshot(_position(collateral=30_000.0)))
    finding = result.findings[0]
    assert finding.level is Level.CRITICAL
    assert finding.metric == "shortfall_equity_pct"
    assert finding.measured == pytest.approx(200.0 / 3.0)
    assert finding.threshold == 50.0


def test_finding_names_the_worst_scenario_and_its_numbers() -> None:
    result = _run(_rule(**BY_AMOUNT), _snapshot(_position(collateral=48_000.0)))
    finding = result.findings[0]
    facts = dict(finding.figures)
    assert (finding.metric, finding.measured, finding.threshold) == ("shortfall", 2_000.0, 1_000.0)
    assert facts["worst_scenario"] == "crash -50%"
    assert facts["equity"] == pytest.approx(48_000.0)
    assert "crash -50%" in finding.message


def test_cross_account_is_graded_once_under_its_own_key() -> None:
    # BTC and ETH longs on 40,000: the crash costs 50,000 + 15,000, shortfall 25,000 = 62.5%
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=40_000.0)
    result = _run(_rule(), snapshot)
    assert result.memory == {CROSS_KEY: int(Level.CRITICAL)}
    findings: list[tuple[object, ...]] = [(f.symbol, f.measured) for f in result.findings]
    assert findings == [(None, pytest.approx(62.5))]
    assert dict(result.findings[0].figures)["shortfall"] == pytest.approx(25_000.0)


# --- hysteresis -------------------------------------------------------------------------------


def test_shortfall_hovering_at_max_does_not_flap() -> None:
    # Arrange: act at 1,000, hysteresis 20%: ACT is left only below 800
    rule = _rule(**BY_AMOUNT)
    memory: Memory = {}
    levels = []
    # Act: shortfalls 1,000 / 900 / 810 / 790
    for collateral in (49_000.0, 49_100.0, 49_190.0, 49_210.0):
        memory = _run(rule, _snapshot(_position(collateral=collateral)), memory).memory
        levels.append(Level(int(memory[KEY] or 0)))
    # Assert
    assert levels == [Level.ACT, Level.ACT, Level.ACT, Level.WARN]


def test_same_shortfall_seen_fresh_is_only_a_warning() -> None:
    result = _run(_rule(**BY_AMOUNT), _snapshot(_position(collateral=49_100.0)))
    assert result.memory == {KEY: int(Level.WARN)}
    assert result.actions == ()


# --- isolated reductions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "entry", "collateral", "margin_back"),
    [
        # equity 40,000 -> keep 40,000 / 50,000 = 0.8; back: 20% of the collateral (+ 20% PnL)
        (Side.LONG, 100_000.0, 40_000.0, 8_000.0),
        (Side.SHORT, 100_000.0, 40_000.0, 8_000.0),  # the squeeze binds
        (Side.LONG, 90_000.0, 30_000.0, 6_000.0 + 2_000.0),  # 10,000 profit is equity too
        (Side.LONG, 105_000.0, 45_000.0, 9_000.0 - 1_000.0),  # a 5,000 loss is not
    ],
)
def test_isolated_position_reduces_to_its_largest_safe_size_and_keeps_its_margin(
    side: Side, entry: float, collateral: float, margin_back: float
) -> None:
    # Arrange
    snapshot = _snapshot(_position(side=side, entry=entry, mark=100_000.0, collateral=collateral))
    # Act
    result = _run(_rule(), snapshot)
    # Assert
    assert _plan(result) == [
        (ActionKind.REDUCE, BTC, pytest.approx(0.8)),
        (ActionKind.ADD_MARGIN, BTC, pytest.approx(margin_back)),
    ]
    assert dict(result.actions[0].figures)["shortfall_after"] == pytest.approx(0.0, abs=1e-6)
    assert _shortfall_after(snapshot, result) == pytest.approx(0.0, abs=1e-6)


def test_reduction_without_the_margin_back_would_leave_the_shortfall_per_unit() -> None:
    # Proportional release: 0.8 BTC on 32,000 still loses 40,000 in the crash
    snapshot = _snapshot(_position(collateral=40_000.0))
    result = _run(_rule(), snapshot)
    reduced_only = replace(result, actions=result.actions[:1])
    assert _shortfall_after(snapshot, reduced_only) == pytest.approx(8_000.0)


def test_isolated_reduction_with_fees_and_span_scenarios_leaves_no_shortfall() -> None:
    # 20x long with fees under the default 22 scenarios (SPAN + gaps down to -50%)
    snapshot = _snapshot(_position(collateral=5_000.0, taker_fee=0.0005))
    defaults = RiskSettings()
    result = _run(_rule(), snapshot, risk_settings=defaults)
    assert result.actions[0].kind is ActionKind.REDUCE
    assert _shortfall_after(snapshot, result, defaults) == pytest.approx(0.0, abs=1e-6)


def test_maintenance_floor_keeps_the_reduced_position_unliquidated_after_the_move() -> None:
    # equity 40,000 - 50,000*q' must cover 0.5% of 50,000*q': q' = 40,000 / 50,250 = 0.79602
    snapshot = _snapshot(_position(collateral=40_000.0))
    result = _run(_rule(equity_floor="maintenance"), snapshot)
    assert result.actions[0].target_size == pytest.approx(40_000 / 50_250)
    after = _apply(snapshot, result.actions)
    crashed = replace(after, positions=(replace(after.positions[0], mark_price=50_000.0),))
    assert assess_account(crashed).positions[0].margin_ratio == pytest.approx(1.0)


def test_position_without_equity_is_closed() -> None:
    # No collateral: any adverse move is a shortfall, nothing can be kept
    result = _run(_rule(), _snapshot(_position(collateral=0.0)))
    assert result.findings[0].level is Level.CRITICAL
    assert _plan(result) == [(ActionKind.CLOSE, BTC, 0.0)]


def test_close_at_critical_closes_instead_of_reducing() -> None:
    result = _run(_rule(close_at_critical=True), _snapshot(_position(collateral=30_000.0)))
    assert _plan(result) == [(ActionKind.CLOSE, BTC, 0.0)]


def test_critical_without_close_at_critical_still_reduces_to_the_safe_size() -> None:
    result = _run(_rule(), _snapshot(_position(collateral=30_000.0)))  # 66.7%: critical
    assert result.findings[0].level is Level.CRITICAL
    assert _plan(result)[0] == (ActionKind.REDUCE, BTC, pytest.approx(0.6))


def test_warn_proposes_nothing() -> None:
    result = _run(_rule(**BY_AMOUNT), _snapshot(_position(collateral=49_500.0)))
    assert result.actions == ()


def test_inverse_position_reduces_in_quote_units_and_keeps_coin_margin() -> None:
    # 100,000 USD of BTC/USD inverse at 100,000 on 0.5 BTC: the crash to 50,000 loses
    # 100,000 * (1/50,000 - 1/100,000) = 1 BTC, so keep 0.5 / 1e-5 = 50,000 USD and put back
    # half the collateral, 0.25 BTC
    position = _position("BTC/USD:BTC", 100_000.0, collateral=0.5, inverse=True)
    snapshot = _snapshot(position)
    result = _run(_rule(), snapshot)
    assert _plan(result) == [
        (ActionKind.REDUCE, "BTC/USD:BTC", pytest.approx(50_000.0)),
        (ActionKind.ADD_MARGIN, "BTC/USD:BTC", pytest.approx(0.25)),
    ]
    assert _shortfall_after(snapshot, result) == pytest.approx(0.0, abs=1e-9)


# --- cross reductions -------------------------------------------------------------------------


def test_cross_positions_are_sized_jointly_largest_loss_first() -> None:
    # Arrange: 40,000 backs BTC (loses 50,000 in the crash) and ETH (loses 15,000).
    # BTC first, against 40,000 - 15,000: keep 25,000 / 50,000 = 0.5; then ETH fits exactly.
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=40_000.0)
    # Act
    result = _run(_rule(), snapshot)
    # Assert
    assert _plan(result) == [(ActionKind.REDUCE, BTC, pytest.approx(0.5))]
    assert _shortfall_after(snapshot, result) == pytest.approx(0.0, abs=1e-6)


def test_sizing_each_cross_position_alone_would_spend_the_wallet_twice() -> None:
    # Why the rule plans jointly: against the unstressed rest, BTC may keep 0.8 and ETH all 10,
    # and together they still lose 55,000 on 40,000
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=40_000.0)
    profile = get_profile("binance")
    alone = [
        largest_safe_size(p, profile, 0.5, slippage=0.0, backing=cross_backing(snapshot, i))
        for i, p in enumerate(snapshot.positions)
    ]
    reduced = replace(
        snapshot,
        positions=tuple(replace(p, size=k) for p, k in zip(snapshot.positions, alone, strict=True)),
    )
    assert alone == [pytest.approx(0.8), pytest.approx(10.0)]
    assert stress_account(reduced, (CRASH,), slippage=0.0).potential_shortfall == pytest.approx(
        15_000.0
    )


def test_hedged_cross_account_counts_the_hedge_in_the_scenario() -> None:
    # BTC long 1 and ETH short 10 on 20,000. Crash: -50,000 + 15,000 -> shortfall 15,000.
    # BTC against 20,000 + 15,000: keep 0.7. The squeeze then nets +35,000 - 15,000: fine.
    snapshot = _snapshot(
        _cross(), _cross(ETH, 10.0, side=Side.SHORT, entry=3_000.0), wallet=20_000.0
    )
    result = _run(_rule(), snapshot)
    assert _plan(result) == [(ActionKind.REDUCE, BTC, pytest.approx(0.7))]
    assert _shortfall_after(snapshot, result) == pytest.approx(0.0, abs=1e-6)


def test_three_cross_positions_with_fees_under_default_scenarios_end_without_shortfall() -> None:
    # Arrange: 3 positions, 25x in total, realistic fees and the 22 default scenarios
    positions = (
        _cross(taker_fee=0.0005),
        _cross(ETH, 20.0, entry=3_000.0, taker_fee=0.0005),
        _cross("SOL/USDT:USDT", 200.0, side=Side.SHORT, entry=200.0, taker_fee=0.0005),
    )
    snapshot = _snapshot(*positions, wallet=8_000.0)
    defaults = RiskSettings()
    # Act
    result = _run(_rule(), snapshot, risk_settings=defaults)
    # Assert
    assert {a.kind for a in result.actions} <= {ActionKind.REDUCE, ActionKind.CLOSE}
    assert _shortfall_after(snapshot, result, defaults) == pytest.approx(0.0, abs=1e-6)


def test_hedge_that_does_not_settle_is_scaled_until_every_scenario_survives() -> None:
    # Arrange: BTC long 300.62 at 100 against ETH short 116.29 at 100, ETH moving 3x as far as
    # BTC, on 123 of wallet with a maintenance floor. Each leg covers the other's scenario, so
    # shrinking one for the crash forces the other down for the squeeze and back: the passes
    # close in geometrically, and the rule finishes by scaling both by one common factor
    snapshot = _snapshot(
        _cross(size=300.62, entry=100.0),
        _cross(ETH, 116.29, side=Side.SHORT, entry=100.0),
        wallet=123.0,
    )
    moves = (-0.3, -0.1, 0.1, 0.3)
    scenarios = tuple(Scenario(f"{m:+.0%}", m, symbol_moves=((ETH, 3 * m),)) for m in moves)
    risk_settings = RiskSettings(scenarios=scenarios, slippage=0.0005)
    # Act
    result = _run(_rule(equity_floor="maintenance"), snapshot, risk_settings=risk_settings)
    # Assert: both legs reduced, and in every scenario the account stays above maintenance
    assert [(a.kind, a.symbol) for a in result.actions] == [
        (ActionKind.REDUCE, BTC),
        (ActionKind.REDUCE, ETH),
    ]
    after = _apply(snapshot, result.actions, slippage=0.0005)
    for move in moves:
        stressed = replace(
            after,
            positions=tuple(
                replace(p, mark_price=p.mark_price * (1 + (3 * move if p.symbol == ETH else move)))
                for p in after.positions
            ),
        )
        ratio = assess_account(stressed).cross_margin_ratio
        assert ratio is not None
        assert ratio <= 1.0


def test_cross_maintenance_floor_leaves_the_account_unliquidated_after_the_crash() -> None:
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=40_000.0)
    result = _run(_rule(equity_floor="maintenance"), snapshot)
    after = _apply(snapshot, result.actions)
    crashed = replace(
        after, positions=tuple(replace(p, mark_price=p.mark_price * 0.5) for p in after.positions)
    )
    assert assess_account(crashed).cross_margin_ratio == pytest.approx(1.0)


def test_out_of_scope_cross_positions_keep_their_size_and_a_residual_is_alerted() -> None:
    # Only BTC is in scope. On 10,000, ETH alone loses 15,000 in the crash: BTC is closed
    # (against 10,000 - 15,000 nothing can be kept) and 5,000 of shortfall remains
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=10_000.0)
    result = _run(_rule(scope={"symbols": ["BTC/*"]}), snapshot)
    assert [(a.kind, a.symbol) for a in result.actions] == [
        (ActionKind.CLOSE, BTC),
        (ActionKind.ALERT, None),
    ]
    assert dict(result.actions[1].figures)["shortfall_after"] == pytest.approx(5_000.0)


def test_cross_close_at_critical_closes_every_cross_position_in_scope() -> None:
    snapshot = _snapshot(_cross(), _cross(ETH, 10.0, entry=3_000.0), wallet=40_000.0)
    result = _run(_rule(close_at_critical=True), snapshot)
    assert _plan(result) == [(ActionKind.CLOSE, BTC, 0.0), (ActionKind.CLOSE, ETH, 0.0)]


# --- scope ------------------------------------------------------------------------------------


def test_isolated_position_outside_the_scope_is_not_graded() -> None:
    result = _run(_rule(scope={"symbols": ["ETH/*"]}), _snapshot(_position(collateral=30_000.0)))
    assert result == RuleResult(memory={})


def test_account_outside_the_scope_gets_nothing() -> None:
    snapshot = replace(_snapshot(_position(collateral=30_000.0)), account="other")
    result = _run(_rule(scope={"accounts": ["main"]}), snapshot)
    assert result == RuleResult(memory={})


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"warn": {"amount": 500.0}}, "max_shortfall: must be above warn.amount"),
        (
            {"max_shortfall": 100.0, "critical": {"amount": 100.0}},
            "critical.amount: must be above max_shortfall",
        ),
        (
            {"max_shortfall_equity_pct": 60.0},
            "critical.equity_pct: must be above max_shortfall_equity_pct",
        ),
        (
            {"warn": {"equity_pct": 30.0}, "max_shortfall_equity_pct": 20.0},
            "max_shortfall_equity_pct: must be above warn.equity_pct",
        ),
        ({"warn": {}}, "warn: give amount and/or equity_pct"),
        ({"max_shortfall": -1.0}, "max_shortfall:"),
        ({"critical": {"equity_pct": 0.0}}, "critical.equity_pct:"),
        ({"equity_floor": "half"}, "equity_floor:"),
        ({"max_shortfal": 5.0}, "max_shortfal:"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ShortfallConfig(type="shortfall", **fields)
    lines = problem_lines(caught.value)
    assert any(line.startswith(path) for line in lines), lines


def test_default_config_acts_on_any_shortfall_with_a_zero_floor() -> None:
    config = ShortfallConfig(type="shortfall")
    assert config.max_shortfall == 0.0
    assert config.equity_floor is EquityFloor.ZERO
    assert _rule().name == "shortfall"


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    isolated=st.booleans(),
    short=st.booleans(),
    size=st.floats(0.01, 20.0),
    entry=st.floats(1_000.0, 200_000.0),
    move=st.floats(-0.3, 0.3),
    money=st.floats(10.0, 1_000_000.0),
    crash=st.floats(0.05, 0.9),
    taker_fee=st.sampled_from([0.0, 0.0002, 0.0005]),
    slippage=st.sampled_from([0.0, 0.0005, 0.002]),
    floor=st.sampled_from(["zero", "maintenance"]),
)
def test_reductions_never_add_exposure_and_leave_no_shortfall(
    isolated: bool,
    short: bool,
    size: float,
    entry: float,
    move: float,
    money: float,
    crash: float,
    taker_fee: float,
    slippage: float,
    floor: str,
) -> None:
    # Arrange
    position = _position(
        size=size,
        side=Side.SHORT if short else Side.LONG,
        entry=entry,
        mark=entry * (1 + move),
        mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        collateral=money if isolated else None,
        taker_fee=taker_fee,
    )
    snapshot = _snapshot(position, wallet=0.0 if isolated else money)
    scenarios = (Scenario("down", -crash, cost_factor=2.0), Scenario("up", crash))
    risk_settings = RiskSettings(scenarios=scenarios, slippage=slippage)
    # Act
    result = _run(_rule(equity_floor=floor), snapshot, risk_settings=risk_settings)
    # Assert
    for action in result.actions:
        if action.kind is ActionKind.ALERT:  # e.g. closing costs more than the equity left
            continue
        assert action.kind in (ActionKind.REDUCE, ActionKind.CLOSE, ActionKind.ADD_MARGIN)
        assert action.target_size is not None
        assert action.size_before is not None
        assert 0.0 <= action.target_size <= action.size_before <= size
    scale = size * entry * 3 + money
    assert _shortfall_after(snapshot, result, risk_settings) <= 1e-9 * scale


@settings(max_examples=50, deadline=None)
@given(
    legs=st.lists(
        st.tuples(
            st.sampled_from([BTC, ETH, "SOL/USDT:USDT"]),
            st.booleans(),
            st.floats(1_000.0, 200_000.0),
        ),
        min_size=2,
        max_size=3,
        unique_by=lambda leg: leg[0],
    ),
    wallet=st.floats(100.0, 200_000.0),
    alt_beta=st.floats(1.0, 3.0),
    floor=st.sampled_from(["zero", "maintenance"]),
)
def test_joint_cross_plan_survives_every_scenario(
    legs: list[tuple[str, bool, float]], wallet: float, alt_beta: float, floor: str
) -> None:
    # Arrange: 2-3 cross positions (notional given, priced at 100), scenarios where the non-BTC
    # symbols move ``alt_beta`` times as far as BTC
    positions = tuple(
        _cross(symbol, notional / 100.0, side=Side.SHORT if short else Side.LONG, entry=100.0)
        for symbol, short, notional in legs
    )
    snapshot = _snapshot(*positions, wallet=wallet)

    def joint(move: float) -> Scenario:
        alts = ((ETH, move * alt_beta), ("SOL/USDT:USDT", move * alt_beta))
        return Scenario(f"{move:+.0%}", move, symbol_moves=alts)

    risk_settings = RiskSettings(
        scenarios=(joint(-0.3), joint(-0.1), joint(0.1), joint(0.3)), slippage=0.0005
    )
    # Act
    result = _run(_rule(equity_floor=floor), snapshot, risk_settings=risk_settings)
    # Assert
    assert all(
        a.target_size is not None and a.size_before is not None and a.target_size <= a.size_before
        for a in result.actions
        if a.kind is not ActionKind.ALERT
    )
    kinds = [a.kind for a in result.actions]
    if ActionKind.ALERT in kinds:  # all in scope: only when closing costs more than the equity
        assert kinds.count(ActionKind.CLOSE) == len(positions)
    assert _shortfall_after(snapshot, result, risk_settings) <= 1e-9 * (wallet + 1e6)
