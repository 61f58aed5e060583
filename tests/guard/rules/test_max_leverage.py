"""``max_leverage``: effective leverage per position and account; reduce; cap the setting.

Effective leverage = notional / equity: 1 BTC at 100,000 on a 4,000 cross wallet is 25x. With no
fees, reducing a cross position leaves the equity where it is, so the size for a target ``T`` is
``T * equity / mark``: 10 * 4,000 / 100,000 = 0.4 BTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.max_leverage import (
    ACCOUNT_KEY,
    LeverageThreshold,
    MaxLeverageConfig,
    MaxLeverageRule,
)
from riskguard.risk import RiskSettings, assess_account, evaluate_account
from riskguard.validation import problem_lines
from tests.guard.rules.fills import apply_at_mark as _apply

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
NO_SLIPPAGE = RiskSettings(slippage=0.0)
KEY = f"{BTC}:long"


def _position(
    symbol: str = BTC,
    size: float = 1.0,
    *,
    entry: float = 100_000.0,
    mark: float | None = None,
    mode: MarginMode = MarginMode.CROSS,
    leverage: float | None = None,
    **fields: Any,
) -> Position:
    """Cross by default, a flat 0.5% maintenance rate, no leverage setting unless given."""
    return testing.position(
        symbol=symbol,
        size=size,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        leverage=leverage,
        maintenance_margin_rate=0.005,
        **fields,
    )


def _snapshot(*positions: Position, wallet: float, account: str = "main") -> AccountSnapshot:
    return testing.snapshot(*positions, wallet_balance=wallet, taken_at=NOW, account=account)


def _rule(**fields: object) -> MaxLeverageRule:
    return MaxLeverageRule(MaxLeverageConfig(type="max_leverage", **fields))


def _run(
    rule: MaxLeverageRule,
    snapshot: AccountSnapshot,
    memory: Memory | None = None,
    risk_settings: RiskSettings = NO_SLIPPAGE,
) -> RuleResult:
    evaluation = evaluate_account(snapshot, risk_settings)
    data = RuleInput(snapshot, evaluation, NOW, 20.0, free_balance=0.0)
    return rule.evaluate(data, memory or {})


def _targets(result: RuleResult) -> list[tuple[object, ...]]:
    return [(a.symbol, a.target_size) for a in result.actions]


def _kinds(result: RuleResult) -> list[ActionKind]:
    return [a.kind for a in result.actions]


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wallet", "expected"),
    [
        (10_000.0, Level.OK),  # 100,000 / 10,000 = 10x
        (100_000.0 / 15, Level.WARN),  # exactly 15x: a level is entered at its threshold
        (5_000.0, Level.ACT),  # 20x
        (3_000.0, Level.CRITICAL),  # 33.3x
    ],
)
def test_position_leverage_grades_by_default_thresholds(wallet: float, expected: Level) -> None:
    # Arrange
    snapshot = _snapshot(_position(), wallet=wallet)
    # Act
    result = _run(_rule(per_account=False), snapshot)
    # Assert
    assert result.memory == {KEY: int(expected)}
    assert [f.level for f in result.findings] == ([] if expected is Level.OK else [expected])


def test_position_leverage_just_below_act_is_only_a_warning() -> None:
    # 100,000 / 5,001 = 19.996x: below the act threshold of 20x
    result = _run(_rule(per_account=False), _snapshot(_position(), wallet=5_001.0))
    assert [f.level for f in result.findings] == [Level.WARN]
    assert result.actions == ()


def test_cross_position_leverage_uses_the_whole_cross_equity() -> None:
    # BTC 100,000 and ETH 10 x 3,000 = 30,000 share a 10,000 wallet: BTC is 10x, ETH 3x, the
    # account 13x; each is below warn (15x)
    snapshot = _snapshot(_position(), _position(ETH, 10.0, entry=3_000.0), wallet=10_000.0)
    result = _run(_rule(), snapshot)
    assert result.findings == ()
    assert result.memory == {KEY: 0, f"{ETH}:long": 0, ACCOUNT_KEY: 0}


def test_isolated_position_leverage_uses_its_own_equity() -> None:
    # 1 BTC bought at 98,000, mark 100,000, on 2,000 collateral: equity 2,000 + 2,000 = 4,000,
    # so 25x even though the big wallet keeps the account at 100,000 / 104,000 < 1x
    position = _position(entry=98_000.0, mark=100_000.0, mode=MarginMode.ISOLATED, collateral=2_000)
    result = _run(_rule(), _snapshot(position, wallet=100_000.0))
    assert [(f.metric, f.level) for f in result.findings] == [("effective_leverage", Level.ACT)]
    assert result.findings[0].measured == pytest.approx(25.0)


def test_finding_carries_the_numbers_that_justify_it() -> None:
    result = _run(_rule(per_account=False), _snapshot(_position(), wallet=4_000.0))
    finding = result.findings[0]
    facts = dict(finding.figures)
    assert finding.threshold == 20.0
    assert facts["effective_leverage"] == pytest.approx(25.0)
    assert facts["notional"] == pytest.approx(100_000.0)
    assert facts["equity"] == pytest.approx(4_000.0)
    assert "25.00x" in finding.message


def test_account_without_equity_is_critical_and_closes() -> None:
    # A 60,000 loss on a 50,000 wallet: equity -10,000, leverage infinite
    snapshot = _snapshot(_position(entry=100_000.0, mark=40_000.0), wallet=50_000.0)
    result = _run(_rule(per_account=False), snapshot)
    assert [f.level for f in result.findings] == [Level.CRITICAL]
    assert _kinds(result) == [ActionKind.CLOSE]
    assert result.actions[0].target_size == 0.0


# --- hysteresis -------------------------------------------------------------------------------


def _wallet_for(leverage: float) -> float:
    return 100_000.0 / leverage


def test_leverage_hovering_at_act_does_not_flap() -> None:
    # Arrange: act at 20x, hysteresis 20%: ACT is left only below 20 * 0.8 = 16x
    rule = _rule(per_account=False)
    memory: Memory = {}
    levels = []
    # Act
    for leverage in (20.0, 19.9, 20.1, 19.5, 16.5, 15.9):
        result = _run(rule, _snapshot(_position(), wallet=_wallet_for(leverage)), memory)
        memory = result.memory
        levels.append(Level(int(memory[KEY] or 0)))
    # Assert: 15.9x is back beyond 16x, and still above warn (15x): WARN
    assert levels == [Level.ACT] * 5 + [Level.WARN]


def test_leverage_between_exit_and_threshold_without_memory_is_lower_level() -> None:
    # The same 19.9x seen fresh is only WARN: the stickiness comes from memory alone
    result = _run(_rule(per_account=False), _snapshot(_position(), wallet=_wallet_for(19.9)))
    assert result.memory == {KEY: int(Level.WARN)}


def test_account_level_hysteresis_is_remembered_under_its_own_key() -> None:
    rule = _rule(per_position=False)
    first = _run(rule, _snapshot(_position(), wallet=_wallet_for(21.0)))
    second = _run(rule, _snapshot(_position(), wallet=_wallet_for(17.0)), first.memory)
    assert first.memory == {ACCOUNT_KEY: int(Level.ACT)}
    assert second.memory == {ACCOUNT_KEY: int(Level.ACT)}


# --- reductions, re-checked with the risk core -----------------------------------------------


def test_cross_position_reduces_to_target_leverage() -> None:
    # Arrange: 25x; target 10x -> 10 * 4,000 / 100,000 = 0.4 BTC
    snapshot = _snapshot(_position(), wallet=4_000.0)
    # Act
    result = _run(_rule(per_account=False), snapshot)
    # Assert
    assert _kinds(result) == [ActionKind.REDUCE]
    action = result.actions[0]
    assert action.size_before == 1.0
    assert action.target_size == pytest.approx(0.4)
    after = assess_account(_apply(snapshot, result.actions))
    assert after.positions[0].effective_leverage == pytest.approx(10.0)


def test_cross_reduction_pays_for_its_own_closing_cost() -> None:
    # Taker 5 bp + slippage 5 bp = 0.1%. q' = T*(E - q*M*f) / (M*(1 - T*f))
    #   = 10 * (4,000 - 100) / (100,000 * 0.99) = 0.393939...; closing 0.606 BTC costs 60.61,
    # leaving 3,939.39 of equity behind 39,393.9 of notional: 10x
    snapshot = _snapshot(_position(taker_fee=0.0005), wallet=4_000.0)
    costly = RiskSettings(slippage=0.0005)
    result = _run(_rule(per_account=False), snapshot, risk_settings=costly)
    assert result.actions[0].target_size == pytest.approx(39_000 / 99_000)
    after = assess_account(_apply(snapshot, result.actions, slippage=0.0005))
    assert after.positions[0].effective_leverage == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("entry", "collateral", "margin_back"),
    [
        # equity 4,000 either way; q' = 10 * 4,000 / 100,000 = 0.4. Margin back: released
        # collateral 60% plus 60% of the PnL: 2,400 + 0 / 1,200 + 1,200
        (100_000.0, 4_000.0, 2_400.0),
        (98_000.0, 2_000.0, 2_400.0),
    ],
)
def test_isolated_position_reduces_and_puts_the_released_money_back(
    entry: float, collateral: float, margin_back: float
) -> None:
    # Arrange
    position = _position(
        entry=entry, mark=100_000.0, mode=MarginMode.ISOLATED, collateral=collateral
    )
    snapshot = _snapshot(position, wallet=0.0)
    # Act
    result = _run(_rule(per_account=False), snapshot)
    # Assert
    assert _kinds(result) == [ActionKind.REDUCE, ActionKind.ADD_MARGIN]
    reduce, add = result.actions
    assert reduce.target_size == pytest.approx(0.4)
    assert add.margin == pytest.approx(margin_back)
    after = assess_account(_apply(snapshot, result.actions))
    assert after.positions[0].effective_leverage == pytest.approx(10.0)
    assert after.wallet_balance == pytest.approx(0.0)  # the money put back was the money freed


def test_isolated_reduce_without_margin_back_would_not_lower_leverage() -> None:
    # Why the ADD_MARGIN is there: proportional release keeps collateral per unit, so 0.4 BTC on
    # 1,600 is still 25x
    position = _position(mode=MarginMode.ISOLATED, collateral=4_000.0)
    snapshot = _snapshot(position, wallet=0.0)
    result = _run(_rule(per_account=False), snapshot)
    after = assess_account(_apply(snapshot, result.actions[:1]))
    assert after.positions[0].effective_leverage == pytest.approx(25.0)


def test_account_breach_reduces_positions_proportionally_by_default() -> None:
    # BTC 100,000 + ETH 60,000 on 8,000: 20x (BTC alone 12.5x, ETH 7.5x: no position breach).
    # k = 10 * 8,000 / 160,000 = 0.5 for both: BTC 0.5, ETH 10
    snapshot = _snapshot(_position(), _position(ETH, 20.0, entry=3_000.0), wallet=8_000.0)
    result = _run(_rule(), snapshot)
    assert [(f.metric, f.level) for f in result.findings] == [("account_leverage", Level.ACT)]
    assert _targets(result) == [
        (BTC, pytest.approx(0.5)),
        (ETH, pytest.approx(10.0)),
    ]
    assert assess_account(_apply(snapshot, result.actions)).effective_leverage == pytest.approx(
        10.0
    )


def test_account_breach_largest_first_takes_the_excess_from_the_largest() -> None:
    # Excess notional 160,000 - 10 * 8,000 = 80,000, all from BTC: 1 -> 0.2; ETH untouched
    snapshot = _snapshot(_position(), _position(ETH, 20.0, entry=3_000.0), wallet=8_000.0)
    result = _run(_rule(account_reduce="largest_first"), snapshot)
    assert _targets(result) == [(BTC, pytest.approx(0.2))]
    assert assess_account(_apply(snapshot, result.actions)).effective_leverage == pytest.approx(
        10.0
    )


def test_largest_first_closes_the_largest_and_moves_on_when_it_is_not_enough() -> None:
    # On 4,000 (40x) the excess is 160,000 - 40,000 = 120,000: BTC closed (100,000), then 20,000
    # of ETH's 60,000: 20 -> 13.33
    snapshot = _snapshot(_position(), _position(ETH, 20.0, entry=3_000.0), wallet=4_000.0)
    result = _run(_rule(account_reduce="largest_first", per_position=False), snapshot)
    assert [(a.kind, a.symbol, a.target_size) for a in result.actions] == [
        (ActionKind.CLOSE, BTC, 0.0),
        (ActionKind.REDUCE, ETH, pytest.approx(40.0 / 3.0)),
    ]
    assert assess_account(_apply(snapshot, result.actions)).effective_leverage == pytest.approx(
        10.0
    )


def test_position_and_account_breach_give_one_reduce_to_the_smaller_size() -> None:
    # Single cross position at 25x: position and account both ask for 0.4; one action, level ACT
    result = _run(_rule(), _snapshot(_position(), wallet=4_000.0))
    assert len(result.findings) == 2
    assert _kinds(result) == [ActionKind.REDUCE]
    assert result.actions[0].target_size == pytest.approx(0.4)


def test_warn_level_proposes_nothing() -> None:
    result = _run(_rule(), _snapshot(_position(), wallet=_wallet_for(17.0)))
    assert {f.level for f in result.findings} == {Level.WARN}
    assert result.actions == ()


# --- the exchange leverage setting ------------------------------------------------------------


def test_setting_above_the_cap_is_lowered_to_the_cap() -> None:
    snapshot = _snapshot(_position(leverage=50.0), wallet=50_000.0)
    result = _run(_rule(max_setting=20.0), snapshot)
    assert _kinds(result) == [ActionKind.SET_LEVERAGE]
    assert result.actions[0].leverage == 20.0
    assert result.actions[0].target_size == result.actions[0].size_before == 1.0
    assert [f.metric for f in result.findings] == ["leverage_setting"]


@pytest.mark.parametrize("setting", [None, 10.0, 20.0])
def test_setting_at_or_below_the_cap_is_never_raised(setting: float | None) -> None:
    result = _run(_rule(max_setting=20.0), _snapshot(_position(leverage=setting), wallet=50_000.0))
    assert result.actions == ()
    assert result.findings == ()


def test_no_cap_means_no_setting_action() -> None:
    result = _run(_rule(), _snapshot(_position(leverage=125.0), wallet=50_000.0))
    assert result.actions == ()


# --- scope ------------------------------------------------------------------------------------


def test_positions_outside_the_symbol_scope_are_neither_graded_nor_reduced() -> None:
    # ETH at 30,000 / 1,000 = 30x position leverage would be critical, but only BTC is in scope
    snapshot = _snapshot(_position(ETH, 10.0, entry=3_000.0, leverage=100.0), wallet=1_000.0)
    result = _run(_rule(per_account=False, max_setting=5.0, scope={"symbols": ["BTC/*"]}), snapshot)
    assert result == RuleResult(memory={})


def test_account_outside_the_scope_gets_nothing() -> None:
    snapshot = _snapshot(_position(), wallet=1_000.0, account="sub-2")
    result = _run(_rule(scope={"accounts": ["main", "sub-1"]}), snapshot)
    assert result.findings == ()
    assert result.actions == ()
    assert result.memory == {}


def test_account_breach_reduces_only_positions_in_scope() -> None:
    # 20x on 8,000; ETH (60,000) is out of scope, so BTC must carry it:
    # k = (10 * 8,000 - 60,000) / 100,000 = 0.2
    snapshot = _snapshot(_position(), _position(ETH, 20.0, entry=3_000.0), wallet=8_000.0)
    result = _run(_rule(scope={"symbols": ["BTC/*"]}), snapshot)
    assert _targets(result) == [(BTC, pytest.approx(0.2))]
    assert assess_account(_apply(snapshot, result.actions)).effective_leverage == pytest.approx(
        10.0
    )


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"act": {"leverage": 10.0}}, "act.leverage: must be above warn.leverage"),
        ({"critical": {"leverage": 20.0}}, "critical.leverage: must be above act.leverage"),
        ({"target_leverage": 20.0}, "target_leverage: must be below act.leverage"),
        (
            {"act": None, "target_leverage": 30.0},
            "target_leverage: must be below critical.leverage",
        ),
        ({"target_leverage": -1.0}, "target_leverage:"),
        ({"warn": {"leverage": 0.0}}, "warn.leverage:"),
        ({"max_setting": 0.5}, "max_setting:"),
        ({"account_reduce": "random"}, "account_reduce:"),
        ({"warn": {"lev": 15}}, "warn.lev:"),
        ({"per_position": False, "per_account": False}, "per_position:"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MaxLeverageConfig(type="max_leverage", **fields)
    assert any(line.startswith(path) for line in problem_lines(caught.value)), problem_lines(
        caught.value
    )


def test_default_config_is_valid_and_named_after_its_type() -> None:
    rule = _rule()
    assert rule.name == "max_leverage"
    assert rule.config.act == LeverageThreshold(leverage=20.0)
    assert rule.config.target_leverage < rule.config.act.leverage


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    isolated=st.booleans(),
    short=st.booleans(),
    size=st.floats(0.01, 50.0),
    entry=st.floats(1_000.0, 200_000.0),
    move=st.floats(-0.3, 0.3),
    money=st.floats(10.0, 500_000.0),
    setting=st.none() | st.floats(1.0, 125.0),
    target=st.floats(1.0, 14.0),
)
def test_no_action_ever_adds_exposure_and_reductions_meet_the_target(
    isolated: bool,
    short: bool,
    size: float,
    entry: float,
    move: float,
    money: float,
    setting: float | None,
    target: float,
) -> None:
    # Arrange
    position = _position(
        size=size,
        side=Side.SHORT if short else Side.LONG,
        entry=entry,
        mark=entry * (1 + move),
        mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        collateral=money if isolated else None,
        leverage=setting,
    )
    snapshot = _snapshot(position, wallet=0.0 if isolated else money)
    # Act
    result = _run(_rule(per_account=False, max_setting=10.0, target_leverage=target), snapshot)
    # Assert
    for action in result.actions:
        if action.kind in (ActionKind.REDUCE, ActionKind.CLOSE):
            assert action.target_size is not None
            assert action.size_before is not None
            assert 0.0 <= action.target_size < action.size_before
        elif action.kind is ActionKind.SET_LEVERAGE:
            assert setting is not None
            assert action.leverage == 10.0 < setting
        else:
            assert action.kind is ActionKind.ADD_MARGIN
            assert action.margin is not None
            assert action.margin > 0
    after = assess_account(_apply(snapshot, result.actions))
    if after.positions and any(a.kind is ActionKind.REDUCE for a in result.actions):
        assert after.positions[0].effective_leverage <= target * (1 + 1e-9)
