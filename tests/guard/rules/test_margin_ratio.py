"""``margin_ratio``: account requirement / equity, reduce the largest maintenance margin first.

Numbers: 1 BTC at 100,000 with a flat 2% maintenance rate carries 2,000 of maintenance margin; on
a 2,500 cross wallet its ratio is 0.8 (1.0 is liquidation). Reducing it to ``q`` leaves
``2,000 q`` against the same equity (no fees), so the target 0.4 is reached at
``q = 0.4 * 2,500 / 2,000 = 0.5``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.margin_ratio import (
    ACCOUNT_KEY,
    MarginRatioConfig,
    MarginRatioRule,
    RatioThreshold,
)
from riskguard.risk import RiskSettings, assess_account, evaluate_account
from riskguard.validation import problem_lines
from tests.guard.rules.fills import apply_at_mark as _apply

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
NO_SLIPPAGE = RiskSettings(slippage=0.0)


def _position(
    symbol: str = BTC,
    size: float = 1.0,
    *,
    entry: float = 100_000.0,
    mark: float | None = None,
    mode: MarginMode = MarginMode.CROSS,
    mmr: float | None = 0.02,
    **fields: Any,
) -> Position:
    """Cross by default, a flat 2% maintenance rate, no leverage setting."""
    return testing.position(
        symbol=symbol,
        size=size,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        maintenance_margin_rate=mmr,
        leverage=None,
        **fields,
    )


def _eth(size: float = 10.0, mmr: float = 0.02) -> Position:
    return _position(ETH, size, entry=3_000.0, mmr=mmr)


def _snapshot(*positions: Position, wallet: float, account: str = "main") -> AccountSnapshot:
    return testing.snapshot(*positions, wallet_balance=wallet, taken_at=NOW, account=account)


def _rule(**fields: object) -> MarginRatioRule:
    return MarginRatioRule(MarginRatioConfig(type="margin_ratio", **fields))


def _run(
    rule: MarginRatioRule,
    snapshot: AccountSnapshot,
    memory: Memory | None = None,
    risk_settings: RiskSettings = NO_SLIPPAGE,
) -> RuleResult:
    evaluation = evaluate_account(snapshot, risk_settings)
    return rule.evaluate(RuleInput(snapshot, evaluation, NOW, 20.0, 0.0), memory or {})


def _ratio_after(snapshot: AccountSnapshot, result: RuleResult, slippage: float = 0.0) -> float:
    return assess_account(_apply(snapshot, result.actions, slippage)).margin_ratio


def _plan(result: RuleResult) -> list[tuple[object, ...]]:
    return [
        (a.kind, a.symbol, a.margin if a.kind is ActionKind.ADD_MARGIN else a.target_size)
        for a in result.actions
    ]


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wallet", "expected"),
    [
        (8_000.0, Level.OK),  # 2,000 / 8,000 = 0.25
        (4_000.0, Level.WARN),  # 0.5 exactly: entered at the threshold
        (2_500.0, Level.ACT),  # 0.8
        (2_200.0, Level.CRITICAL),  # 0.909
    ],
)
def test_account_ratio_grades_by_default_thresholds(wallet: float, expected: Level) -> None:
    result = _run(_rule(), _snapshot(_position(), wallet=wallet))
    assert result.memory == {ACCOUNT_KEY: int(expected)}
    assert [f.level for f in result.findings] == ([] if expected is Level.OK else [expected])


def test_finding_reports_the_ratio_and_the_part_nearest_liquidation() -> None:
    result = _run(_rule(), _snapshot(_position(), wallet=2_500.0))
    finding = result.findings[0]
    facts = dict(finding.figures)
    assert finding.measured == pytest.approx(0.8)
    assert finding.threshold == 0.7
    assert facts["worst_part"] == "cross"
    assert facts["cross_requirement"] == pytest.approx(2_000.0)
    assert "0.80" in finding.message


def test_worst_isolated_position_sets_the_account_ratio() -> None:
    # Cross BTC at 2,000 / 10,000 = 0.2, but an isolated ETH of 10 x 3,000 at 2% (600) on 750
    # of collateral is at 0.8
    isolated = replace(_eth(), margin_mode=MarginMode.ISOLATED, collateral=750.0)
    result = _run(_rule(), _snapshot(_position(), isolated, wallet=10_000.0))
    facts = dict(result.findings[0].figures)
    assert result.findings[0].level is Level.ACT
    assert facts["worst_part"] == f"{ETH} long (isolated)"


def test_equity_gone_is_critical_and_closes() -> None:
    # 10% down on 1 BTC is -10,000 on a 5,000 wallet: ratio infinite
    snapshot = _snapshot(_position(mark=90_000.0), wallet=5_000.0)
    result = _run(_rule(), snapshot)
    assert result.findings[0].measured == math.inf
    assert result.findings[0].level is Level.CRITICAL
    assert _plan(result) == [(ActionKind.CLOSE, BTC, 0.0)]


# --- hysteresis -------------------------------------------------------------------------------


def test_ratio_hovering_at_act_does_not_flap() -> None:
    # Arrange: act at 0.7, hysteresis 20%: ACT is left only below 0.56
    rule = _rule()
    memory: Memory = {}
    levels = []
    # Act
    for ratio in (0.72, 0.6, 0.57, 0.55):
        memory = _run(rule, _snapshot(_position(), wallet=2_000.0 / ratio), memory).memory
        levels.append(Level(int(memory[ACCOUNT_KEY] or 0)))
    # Assert
    assert levels == [Level.ACT, Level.ACT, Level.ACT, Level.WARN]


def test_same_ratio_seen_fresh_is_only_a_warning() -> None:
    result = _run(_rule(), _snapshot(_position(), wallet=2_000.0 / 0.6))
    assert result.memory == {ACCOUNT_KEY: int(Level.WARN)}
    assert result.actions == ()


# --- reductions, re-checked with the risk core ------------------------------------------------


def test_act_reduces_the_largest_maintenance_margin_first_to_the_target() -> None:
    # Arrange: BTC 2,000 + ETH 600 on 3,500 = 0.743. Target 0.4 allows 1,400: 1,200 must go,
    # all from BTC: 1 -> 1 - 1,200 / 2,000 = 0.4
    snapshot = _snapshot(_position(), _eth(), wallet=3_500.0)
    # Act
    result = _run(_rule(), snapshot)
    # Assert
    assert _plan(result) == [(ActionKind.REDUCE, BTC, pytest.approx(0.4))]
    assert _ratio_after(snapshot, result) == pytest.approx(0.4)


def test_reduction_pays_for_its_closing_cost() -> None:
    # f = 0.1%, cost per unit of requirement c = 100,000 * 0.001 / 2,000 = 0.05.
    # removed = (2,000 - 0.4 * 2,500) / (1 - 0.4 * 0.05) = 1,020.41 -> keep 0.4898
    snapshot = _snapshot(_position(taker_fee=0.0005), wallet=2_500.0)
    costly = RiskSettings(slippage=0.0005)
    result = _run(_rule(), snapshot, risk_settings=costly)
    assert result.actions[0].target_size == pytest.approx(1 - 1_000 / 0.98 / 2_000)
    assert _ratio_after(snapshot, result, slippage=0.0005) == pytest.approx(0.4)


def test_tiered_margin_makes_the_estimate_conservative() -> None:
    # Binance-style brackets: 1% to 50,000, 2% (cum 500) to 250,000. 2 BTC: 200,000 * 2% - 500
    # = 3,500 on 4,500 = 0.778. Scaling assumes 3,500 -> 1,800 at q = 1.0286, but the real
    # margin there is 102,857 * 2% - 500 = 1,557: ratio 0.346, below the 0.4 target
    tiers = (
        Tier(0.0, 50_000.0, 0.01, 0.0),
        Tier(50_000.0, 250_000.0, 0.02, 500.0),
        Tier(250_000.0, math.inf, 0.05, 8_000.0),
    )
    snapshot = _snapshot(_position(size=2.0, mmr=None, tiers=tiers), wallet=4_500.0)
    result = _run(_rule(), snapshot)
    assert result.actions[0].target_size == pytest.approx(2 * (1 - 1_700 / 3_500))
    assert _ratio_after(snapshot, result) == pytest.approx(1_557.142857 / 4_500)


def test_critical_closes_the_largest_and_reduces_the_next_when_needed() -> None:
    # BTC 2,000 + ETH 40 x 3,000 at 1.5% = 1,800 on 4,400: 0.864, critical. BTC is closed;
    # 1,800 against 0.4 * 4,400 = 1,760 still needs 40 off ETH: 40 * (1 - 40 / 1,800)
    snapshot = _snapshot(_position(), _eth(40.0, mmr=0.015), wallet=4_400.0)
    result = _run(_rule(), snapshot)
    assert result.findings[0].level is Level.CRITICAL
    assert _plan(result) == [
        (ActionKind.CLOSE, BTC, 0.0),
        (ActionKind.REDUCE, ETH, pytest.approx(40 * (1 - 40 / 1_800))),
    ]
    assert _ratio_after(snapshot, result) == pytest.approx(0.4)


def test_critical_without_close_at_critical_reduces_like_act() -> None:
    # 2,600 on 3,000 = 0.867; 1,400 must go from BTC: keep 0.3
    snapshot = _snapshot(_position(), _eth(), wallet=3_000.0)
    closing = _run(_rule(), snapshot)
    reducing = _run(_rule(close_at_critical=False), snapshot)
    assert _plan(closing) == [(ActionKind.CLOSE, BTC, 0.0)]
    assert _plan(reducing) == [(ActionKind.REDUCE, BTC, pytest.approx(0.3))]
    assert _ratio_after(snapshot, reducing) == pytest.approx(0.4)


def test_isolated_position_reduces_and_keeps_its_margin() -> None:
    # 2,000 on 2,500 of collateral: keep 0.4 * 2,500 / 2,000 = 0.5 and put back the 1,250 the
    # closed half released
    position = _position(mode=MarginMode.ISOLATED, collateral=2_500.0)
    snapshot = _snapshot(position, wallet=0.0)
    result = _run(_rule(), snapshot)
    assert _plan(result) == [
        (ActionKind.REDUCE, BTC, pytest.approx(0.5)),
        (ActionKind.ADD_MARGIN, BTC, pytest.approx(1_250.0)),
    ]
    assert _ratio_after(snapshot, result) == pytest.approx(0.4)


def test_isolated_position_at_critical_is_closed() -> None:
    result = _run(
        _rule(), _snapshot(_position(mode=MarginMode.ISOLATED, collateral=2_200.0), wallet=0)
    )
    assert _plan(result) == [(ActionKind.CLOSE, BTC, 0.0)]


def test_only_parts_above_the_target_are_reduced() -> None:
    # Cross BTC at 0.2 stays; the isolated ETH at 0.8 is halved
    isolated = replace(_eth(), margin_mode=MarginMode.ISOLATED, collateral=750.0)
    snapshot = _snapshot(_position(), isolated, wallet=10_000.0)
    result = _run(_rule(), snapshot)
    assert [(a.kind, a.symbol) for a in result.actions] == [
        (ActionKind.REDUCE, ETH),
        (ActionKind.ADD_MARGIN, ETH),
    ]
    assert _ratio_after(snapshot, result) == pytest.approx(0.4)


def test_warn_proposes_nothing() -> None:
    # 2,000 / 3,600 = 0.556: above warn (0.5), below act (0.7)
    result = _run(_rule(), _snapshot(_position(), wallet=3_600.0))
    assert result.findings[0].level is Level.WARN
    assert result.actions == ()


# --- scope ------------------------------------------------------------------------------------


def test_account_outside_the_scope_gets_nothing() -> None:
    result = _run(
        _rule(scope={"accounts": ["main"]}), _snapshot(_position(), wallet=2_000.0, account="bot-7")
    )
    assert result == RuleResult()


def test_positions_outside_the_symbol_scope_are_not_reduced() -> None:
    # BTC out of scope: ETH (600) is all the rule may remove; 2,000 / 3,500 = 0.571 remains
    snapshot = _snapshot(_position(), _eth(), wallet=3_500.0)
    result = _run(_rule(scope={"symbols": ["ETH/*"]}), snapshot)
    assert _plan(result) == [(ActionKind.CLOSE, ETH, 0.0)]
    assert _ratio_after(snapshot, result) == pytest.approx(2_000 / 3_500)


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"act": {"ratio": 0.5}}, "act.ratio: must be above warn.ratio"),
        ({"critical": {"ratio": 0.6}}, "critical.ratio: must be above act.ratio"),
        ({"target_ratio": 0.7}, "target_ratio: must be below act.ratio"),
        ({"act": None, "target_ratio": 0.9}, "target_ratio: must be below critical.ratio"),
        ({"critical": {"ratio": 1.5}}, "critical.ratio:"),
        ({"target_ratio": 0.0}, "target_ratio:"),
        ({"warn": {"ratio_pct": 50}}, "warn.ratio_pct:"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MarginRatioConfig(type="margin_ratio", **fields)
    lines = problem_lines(caught.value)
    assert any(line.startswith(path) for line in lines), lines


def test_default_config_is_ordered() -> None:
    config = MarginRatioConfig(type="margin_ratio")
    assert config.warn == RatioThreshold(ratio=0.5)
    assert config.target_ratio < 0.7 * (1 - config.hysteresis_pct / 100)


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.tuples(st.floats(0.01, 5.0), st.floats(0.1, 100.0)),
    moves=st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)),
    shorts=st.tuples(st.booleans(), st.booleans()),
    rates=st.tuples(st.floats(0.004, 0.05), st.floats(0.004, 0.05)),
    wallet=st.floats(100.0, 50_000.0),
    isolated_collateral=st.none() | st.floats(50.0, 20_000.0),
)
def test_reductions_never_add_exposure_and_bring_the_ratio_to_the_target(
    sizes: tuple[float, float],
    moves: tuple[float, float],
    shorts: tuple[bool, bool],
    rates: tuple[float, float],
    wallet: float,
    isolated_collateral: float | None,
) -> None:
    # Arrange: a cross BTC position and an ETH position, cross or isolated
    btc = _position(
        size=sizes[0],
        side=Side.SHORT if shorts[0] else Side.LONG,
        mark=100_000.0 * (1 + moves[0]),
        mmr=rates[0],
    )
    eth = _position(
        ETH,
        sizes[1],
        side=Side.SHORT if shorts[1] else Side.LONG,
        entry=3_000.0,
        mark=3_000.0 * (1 + moves[1]),
        mmr=rates[1],
        mode=MarginMode.CROSS if isolated_collateral is None else MarginMode.ISOLATED,
        collateral=isolated_collateral,
    )
    snapshot = _snapshot(btc, eth, wallet=wallet)
    # Act
    result = _run(_rule(), snapshot)
    # Assert
    for action in result.actions:
        assert action.kind in (ActionKind.REDUCE, ActionKind.CLOSE, ActionKind.ADD_MARGIN)
        assert action.target_size is not None
        assert action.size_before is not None
        assert 0.0 <= action.target_size <= action.size_before
    if result.findings and result.findings[0].level >= Level.ACT:
        assert _ratio_after(snapshot, result) <= 0.4 * (1 + 1e-9)
