"""The ``stale_data`` rule and the engine's gate, :func:`data_is_actionable`.

Config throughout: warn at 30 s, critical at 120 s, 20% hysteresis.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard.domain import AccountSnapshot
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.stale_data import StaleDataConfig, StaleDataRule, data_is_actionable
from riskguard.risk import RiskSettings, evaluate_account

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CONFIG = StaleDataConfig(type="stale_data", warn_age_s=30.0, max_age_s=120.0)


def _input(at_s: float, age_s: float, *, consistent: bool = True) -> RuleInput:
    now = T0 + timedelta(seconds=at_s)
    snapshot = AccountSnapshot("binance", 1_000.0, (), now - timedelta(seconds=age_s))
    evaluation = evaluate_account(snapshot, RiskSettings(scenarios=()))
    return RuleInput(
        snapshot, evaluation, now, 60.0, 1_000.0, data_age_s=age_s, consistent=consistent
    )


def _level(result: RuleResult) -> Level:
    return max((f.level for f in result.findings), default=Level.OK)


def _run(cycles: Sequence[tuple[float, float, bool]]) -> list[RuleResult]:
    """Evaluate (time after T0, snapshot age, consistent) in turn, carrying the memory."""
    rule = StaleDataRule(CONFIG)
    memory: Memory = {}
    results = []
    for at_s, age_s, consistent in cycles:
        result = rule.evaluate(_input(at_s, age_s, consistent=consistent), memory)
        memory = result.memory
        results.append(result)
    return results


@pytest.mark.parametrize(
    ("age_s", "level"),
    [
        (5.0, Level.OK),
        (29.9, Level.OK),
        (30.0, Level.WARN),
        (119.9, Level.WARN),
        (120.0, Level.CRITICAL),
        (600.0, Level.CRITICAL),
    ],
)
def test_stale_data_consistent_snapshot_level_follows_its_age(age_s: float, level: Level) -> None:
    (result,) = _run([(1_000.0, age_s, True)])

    assert _level(result) is level


def test_stale_data_warning_carries_no_action() -> None:
    (result,) = _run([(1_000.0, 45.0, True)])

    assert result.actions == ()
    assert result.findings[0].metric == "age_s"
    assert result.findings[0].measured == pytest.approx(45.0)
    assert result.findings[0].threshold == 30.0


def test_stale_data_critical_raises_an_alert_and_proposes_no_order() -> None:
    (result,) = _run([(1_000.0, 150.0, True)])

    assert [(a.kind, a.level) for a in result.actions] == [(ActionKind.ALERT, Level.CRITICAL)]
    assert result.findings[0].threshold == 120.0
    assert "nothing is acted on" in result.actions[0].reason


def test_stale_data_inconsistent_snapshot_is_measured_from_the_last_consistent_one() -> None:
    results = _run([(0.0, 2.0, True), (10.0, 1.0, False), (60.0, 1.0, False), (130.0, 1.0, False)])

    # The last consistent snapshot was taken at -2 s: ages 12, 62 and 132 s, though every
    # inconsistent snapshot itself is a second old.
    assert [_level(r) for r in results] == [Level.OK, Level.WARN, Level.WARN, Level.CRITICAL]
    assert results[2].findings[0].measured == pytest.approx(62.0)
    assert results[3].findings[0].measured == pytest.approx(132.0)
    assert [a.kind for a in results[3].actions] == [ActionKind.ALERT]
    assert "INCONSISTENT" in results[3].findings[0].message


def test_stale_data_inconsistent_data_stays_critical_until_a_consistent_snapshot() -> None:
    results = _run([(0.0, 0.0, True), (200.0, 1.0, False), (205.0, 1.0, False), (210.0, 3.0, True)])

    assert [_level(r) for r in results] == [Level.OK, Level.CRITICAL, Level.CRITICAL, Level.OK]


def test_stale_data_inconsistent_first_snapshot_counts_from_the_first_cycle() -> None:
    results = _run([(0.0, 1.0, False), (125.0, 1.0, False)])

    assert [_level(r) for r in results] == [Level.WARN, Level.CRITICAL]
    assert "no consistent snapshot yet" in results[1].findings[0].message


def test_stale_data_warning_is_left_only_below_the_hysteresis_band() -> None:
    # Leaving warn needs an age below 30 x 0.8 = 24 s.
    results = _run([(0.0, 35.0, True), (5.0, 24.0, True), (10.0, 23.9, True)])

    assert [_level(r) for r in results] == [Level.WARN, Level.WARN, Level.OK]


def test_stale_data_memory_keeps_the_time_of_the_last_consistent_snapshot() -> None:
    results = _run([(100.0, 4.0, True), (105.0, 1.0, False)])

    assert results[1].memory["last_good_at"] == (T0 + timedelta(seconds=96)).timestamp()


def test_stale_data_ignores_accounts_outside_its_scope() -> None:
    rule = StaleDataRule(
        StaleDataConfig.model_validate({"type": "stale_data", "scope": {"accounts": ["other"]}})
    )

    assert rule.evaluate(_input(0.0, 500.0), {}) == RuleResult()


@pytest.mark.parametrize(
    ("age_s", "consistent", "actionable"),
    [(5.0, True, True), (119.9, True, True), (120.0, True, False), (5.0, False, False)],
)
def test_data_is_actionable_only_when_consistent_and_younger_than_max_age(
    age_s: float, consistent: bool, actionable: bool
) -> None:
    assert data_is_actionable(_input(0.0, age_s, consistent=consistent), CONFIG) is actionable


def test_stale_data_config_warn_age_must_be_below_max_age() -> None:
    with pytest.raises(ValidationError, match="warn_age_s: must be below max_age_s"):
        StaleDataConfig.model_validate({"type": "stale_data", "warn_age_s": 120, "max_age_s": 60})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 100.0), st.floats(0.0, 300.0), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_stale_data_critical_and_actionable_never_agree(
    cycles: list[tuple[float, float, bool]],
) -> None:
    rule = StaleDataRule(CONFIG)
    memory: Memory = {}
    at_s = 0.0
    for gap, age_s, consistent in cycles:
        at_s += gap
        data = _input(at_s, age_s, consistent=consistent)

        result = rule.evaluate(data, memory)

        memory = result.memory
        actionable = data_is_actionable(data, CONFIG)
        # Critical data is never actionable; data that is not actionable is always reported.
        assert not (actionable and _level(result) is Level.CRITICAL)
        assert actionable or _level(result) >= Level.WARN
