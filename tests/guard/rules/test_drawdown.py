"""The ``drawdown`` rule: peak and daily loss limits, and the reducing hold that follows them.

Equity is set directly: the account has only cross positions entered at their mark, so its equity
is its wallet balance. Times start at 2025-01-01 00:00 UTC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import MarginMode, Position, Side
from riskguard.guard.rules.base import ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.drawdown import (
    MAX_SAMPLES,
    DrawdownConfig,
    DrawdownRule,
    decode_samples,
    encode_samples,
    manual_release,
    push_sample,
)
from riskguard.risk import RiskSettings, evaluate_account

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _rule(**fields: object) -> DrawdownRule:
    values: dict[str, object] = {"type": "drawdown", "window_s": 3600, "max_drawdown_pct": 10.0}
    values.update(fields)
    return DrawdownRule(DrawdownConfig.model_validate(values))


def _position(symbol: str = BTC, side: Side = Side.LONG, size: float = 1.0) -> Position:
    """A cross position entered and marked at 1,000, with no maintenance margin."""
    return testing.position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=1_000.0,
        margin_mode=MarginMode.CROSS,
        leverage=None,
        maintenance_margin_rate=0.0,
    )


def _input(equity: float, at: datetime, positions: Sequence[Position] = ()) -> RuleInput:
    snapshot = testing.snapshot(*positions, wallet_balance=equity, taken_at=at, account="main")
    evaluation = evaluate_account(snapshot, RiskSettings(scenarios=()))
    return RuleInput(snapshot, evaluation, at, 60.0, equity)


def _run(
    rule: DrawdownRule,
    steps: Sequence[tuple[float, float] | tuple[float, float, Sequence[Position]]],
    memory: Memory | None = None,
) -> list[RuleResult]:
    """Evaluate at (seconds after T0, equity[, positions]) in turn, carrying the memory."""
    results = []
    carried: Memory = memory or {}
    for step in steps:
        seconds, equity = step[0], step[1]
        positions = step[2] if len(step) == 3 else ()
        result = rule.evaluate(_input(equity, T0 + timedelta(seconds=seconds), positions), carried)
        carried = result.memory
        results.append(result)
    return results


def _kinds(result: RuleResult) -> list[tuple[ActionKind, str | None]]:
    return [(a.kind, a.symbol) for a in result.actions]


# --- measuring ------------------------------------------------------------------------------


def test_drawdown_from_the_window_peak_warns_at_seventy_percent_of_the_limit() -> None:
    rule = _rule()

    *_, result = _run(rule, [(0, 10_000.0), (600, 9_500.0), (1_200, 9_200.0)])

    # (10,000 - 9,200) / 10,000 = 8%: past the warning at 7% of a 10% limit, short of the limit.
    assert [f.level for f in result.findings] == [Level.WARN]
    finding = result.findings[0]
    assert finding.metric == "drawdown_pct"
    assert finding.measured == pytest.approx(8.0)
    assert finding.threshold == pytest.approx(7.0)
    assert result.actions == ()


def test_drawdown_peak_older_than_the_window_no_longer_counts() -> None:
    rule = _rule()

    *_, result = _run(rule, [(0, 10_000.0), (600, 9_400.0), (3_601, 8_400.0)])

    # The 10,000 of t=0 left the one-hour window; the peak is 9,400 and 8,400 is 10.6% below
    # it (16% below the old peak would have been critical).
    finding = result.findings[0]
    assert dict(finding.figures)["peak"] == pytest.approx(9_400.0)
    assert finding.measured == pytest.approx(1_000 / 94)
    assert finding.level is Level.ACT


def test_drawdown_peak_rises_with_new_highs() -> None:
    rule = _rule()

    *_, result = _run(rule, [(0, 10_000.0), (600, 12_000.0), (1_200, 10_900.0)])

    # (12,000 - 10,900) / 12,000 = 9.17%: a warning measured from the new high.
    assert result.findings[0].measured == pytest.approx(1_100 / 120)


def test_drawdown_beyond_half_again_the_limit_is_critical() -> None:
    *_, result = _run(_rule(), [(0, 10_000.0), (60, 8_400.0)])

    # 16% >= 150% of 10%.
    assert result.findings[0].level is Level.CRITICAL
    assert result.findings[0].threshold == pytest.approx(15.0)


def test_drawdown_daily_loss_percent_measures_from_the_first_equity_of_the_day() -> None:
    rule = _rule(max_drawdown_pct=None, daily_loss_pct=5.0)

    *_, result = _run(rule, [(300, 10_000.0), (43_200, 9_600.0)])

    # Day start 10,000; 4% lost: warn (at 3.5%), not act.
    assert result.findings[0].metric == "daily_loss_pct"
    assert result.findings[0].measured == pytest.approx(4.0)
    assert result.findings[0].level is Level.WARN


def test_drawdown_daily_loss_starts_again_the_next_day() -> None:
    rule = _rule(max_drawdown_pct=None, daily_loss_pct=5.0)

    *_, result = _run(rule, [(300, 10_000.0), (43_200, 9_600.0), (86_400 + 300, 9_600.0)])

    assert result.findings == ()
    assert result.memory["day_start_equity"] == 9_600.0


def test_drawdown_day_begins_at_the_configured_hour() -> None:
    rule = _rule(max_drawdown_pct=None, daily_loss_amount=500.0, day_start_hour_utc=8)

    # 07:00 10,000; 08:01 9,800 (a new day: its start); 09:00 9,400: 400 lost of 500 -> warn.
    *_, result = _run(rule, [(7 * 3600, 10_000.0), (8 * 3600 + 60, 9_800.0), (9 * 3600, 9_400.0)])

    assert result.findings[0].metric == "daily_loss"
    assert result.findings[0].measured == pytest.approx(400.0)
    assert result.findings[0].level is Level.WARN


def test_drawdown_daily_loss_amount_at_its_limit_acts() -> None:
    rule = _rule(max_drawdown_pct=None, daily_loss_amount=500.0)

    *_, result = _run(rule, [(0, 10_000.0), (60, 9_500.0, [_position()])])

    assert result.findings[0].level is Level.ACT
    assert _kinds(result) == [(ActionKind.CLOSE, BTC)]


def test_drawdown_warning_is_left_only_below_the_hysteresis_band() -> None:
    rule = _rule(hysteresis_pct=20.0)

    # Warn at 7%; leaving needs less than 7% x 0.8 = 5.6%.
    results = _run(rule, [(0, 10_000.0), (60, 9_250.0), (120, 9_400.0), (180, 9_450.0)])

    assert [r.findings[0].level if r.findings else Level.OK for r in results] == [
        Level.OK,
        Level.WARN,
        Level.WARN,
        Level.OK,
    ]


# --- the reducing hold ----------------------------------------------------------------------


def test_drawdown_at_the_limit_closes_every_position_and_holds_until_the_next_day() -> None:
    rule = _rule(window_s=86_400)
    positions = [_position(BTC), _position(ETH, Side.SHORT, 3.0)]

    *_, result = _run(rule, [(0, 10_000.0), (15 * 3600, 8_900.0, positions)])

    assert _kinds(result) == [(ActionKind.CLOSE, BTC), (ActionKind.CLOSE, ETH)]
    assert all(a.level is Level.ACT and a.target_size == 0.0 for a in result.actions)
    assert result.findings[0].level is Level.ACT
    assert result.memory["reducing_since"] == (T0 + timedelta(hours=15)).timestamp()
    assert result.memory["hold_until"] == (T0 + timedelta(days=1)).timestamp()
    assert "account held (reducing) until 2025-01-02T00:00:00+00:00" in result.findings[0].message


def test_drawdown_hold_closes_a_position_the_bot_reopens_with_an_alert() -> None:
    rule = _rule()

    results = _run(
        rule,
        [
            (0, 10_000.0),
            (60, 8_900.0, [_position()]),  # limit: close, hold
            (120, 8_900.0),  # closed
            (180, 8_900.0, [_position(size=0.5)]),  # the bot opens again
        ],
    )

    assert _kinds(results[2]) == []
    reopened = results[3]
    assert _kinds(reopened) == [(ActionKind.ALERT, BTC), (ActionKind.CLOSE, BTC)]
    assert "re-opened" in reopened.actions[0].reason
    assert reopened.actions[0].level is Level.ACT


def test_drawdown_hold_keeps_closing_a_position_still_open_without_alerting() -> None:
    results = _run(
        _rule(), [(0, 10_000.0), (60, 8_900.0, [_position()]), (120, 8_900.0, [_position()])]
    )

    assert _kinds(results[2]) == [(ActionKind.CLOSE, BTC)]
    assert "still open" in results[2].actions[0].reason


def test_drawdown_hold_alerts_when_the_bot_enlarges_a_position_being_closed() -> None:
    results = _run(
        _rule(),
        [(0, 10_000.0), (60, 8_900.0, [_position()]), (120, 8_900.0, [_position(size=1.5)])],
    )

    assert _kinds(results[2]) == [(ActionKind.ALERT, BTC), (ActionKind.CLOSE, BTC)]


def test_drawdown_hold_persists_when_equity_recovers_within_the_hold() -> None:
    # Equity back to 9,900 (1% down) an hour later: the account stays held, a re-open is closed.
    results = _run(_rule(), [(0, 10_000.0), (60, 8_900.0), (3_660, 9_900.0, [_position()])])

    assert [a.kind for a in results[2].actions] == [ActionKind.ALERT, ActionKind.CLOSE]
    assert results[2].findings[0].level is Level.ACT


def test_drawdown_hold_is_released_after_the_configured_time() -> None:
    rule = _rule(release={"after_s": 3_600})

    results = _run(
        rule,
        [
            (0, 10_000.0),
            (60, 8_900.0),  # hold until 3,660
            (3_600, 8_900.0, [_position()]),  # still held: closed
            (3_660, 8_900.0, [_position()]),  # released: measured afresh, left alone
            (3_720, 8_800.0, [_position()]),  # 1.1% below the new peak 8,900
        ],
    )

    assert results[1].memory["hold_until"] == (T0 + timedelta(seconds=3_660)).timestamp()
    assert _kinds(results[2]) == [(ActionKind.ALERT, BTC), (ActionKind.CLOSE, BTC)]
    released = results[3]
    assert [(a.kind, a.level) for a in released.actions] == [(ActionKind.ALERT, Level.OK)]
    assert "released" in released.actions[0].reason
    assert released.findings == ()
    assert released.memory["reducing_since"] is None
    assert results[4].actions == ()
    assert results[4].findings == ()


def test_drawdown_hold_with_next_day_release_ends_when_the_day_begins() -> None:
    rule = _rule(release={"next_day": True}, day_start_hour_utc=6)

    results = _run(
        rule,
        [(0, 10_000.0), (60, 8_900.0), (6 * 3600 - 1, 8_900.0), (6 * 3600, 8_900.0, [_position()])],
    )

    # Held at 00:01, which belongs to the trading day that began at 06:00 the day before.
    assert results[1].memory["hold_until"] == (T0 + timedelta(hours=6)).timestamp()
    assert results[2].memory["reducing_since"] is not None
    assert results[3].memory["reducing_since"] is None
    assert ActionKind.CLOSE not in [a.kind for a in results[3].actions]


def test_drawdown_hold_releases_at_whichever_release_comes_first() -> None:
    rule = _rule(window_s=86_400, release={"after_s": 7_200, "next_day": True})

    *_, result = _run(rule, [(0, 10_000.0), (23 * 3600, 8_900.0)])

    # Two hours later would be 01:00 tomorrow; the day begins first, at midnight.
    assert result.memory["hold_until"] == (T0 + timedelta(days=1)).timestamp()


def test_drawdown_manual_hold_lasts_until_manual_release() -> None:
    rule = _rule(release={})
    results = _run(rule, [(0, 10_000.0), (60, 8_900.0), (3 * 86_400, 8_900.0, [_position()])])
    assert results[1].memory["hold_until"] is None
    assert _kinds(results[2])[-1] == (ActionKind.CLOSE, BTC)

    released = rule.evaluate(
        _input(8_900.0, T0 + timedelta(days=3, seconds=60), [_position()]),
        manual_release(results[2].memory),
    )

    assert released.actions == ()
    assert released.findings == ()
    assert released.memory["reducing_since"] is None
    assert "reset" not in released.memory


def test_drawdown_only_closes_positions_in_its_symbol_scope() -> None:
    rule = _rule(scope={"symbols": ["BTC/*"]})

    *_, result = _run(rule, [(0, 10_000.0), (60, 8_900.0, [_position(BTC), _position(ETH)])])

    assert _kinds(result) == [(ActionKind.CLOSE, BTC)]


def test_drawdown_ignores_accounts_outside_its_scope() -> None:
    rule = _rule(scope={"accounts": ["other"]})

    *_, result = _run(rule, [(0, 10_000.0), (60, 5_000.0, [_position()])])

    assert result == RuleResult()


# --- memory ---------------------------------------------------------------------------------


def test_drawdown_memory_is_json_scalars_and_stays_bounded_over_a_long_fall() -> None:
    rule = _rule(max_drawdown_pct=50.0)
    memory: Memory = {}

    # A fall of 0.01 every 5 s for two hours: a new low every cycle.
    for i in range(1_440):
        at = T0 + timedelta(seconds=5 * i)
        memory = rule.evaluate(_input(10_000.0 - 0.01 * i, at), memory).memory

    assert json.loads(json.dumps(memory)) == memory
    assert all(isinstance(v, float | int | str) or v is None for v in memory.values())
    assert len(decode_samples(memory["samples"])) <= MAX_SAMPLES + 2


def test_drawdown_samples_round_trip_through_their_string_form() -> None:
    samples = [(1_735_689_600.0, 10_000.5), (1_735_689_700.25, 9_999.125)]

    assert decode_samples(encode_samples(samples)) == samples
    assert decode_samples("garbage:") == []
    assert decode_samples("1.0:nan") == []
    assert decode_samples(None) == []


def test_drawdown_clock_going_back_starts_the_peak_again() -> None:
    samples = [(1_000.0, 10_000.0), (1_100.0, 9_000.0)]

    assert push_sample(samples, 900.0, 8_000.0, 3_600.0) == [(900.0, 8_000.0)]


def test_drawdown_config_needs_some_limit() -> None:
    with pytest.raises(ValidationError, match="max_drawdown_pct: give max_drawdown_pct"):
        DrawdownConfig.model_validate({"type": "drawdown", "max_drawdown_pct": None})


def test_drawdown_config_critical_must_lie_beyond_the_limit() -> None:
    with pytest.raises(ValidationError, match="critical_at_pct"):
        DrawdownConfig.model_validate({"type": "drawdown", "critical_at_pct": 90})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.1, 400.0), st.floats(1.0, 20_000.0)), min_size=1, max_size=120),
    st.floats(60.0, 3_600.0),
)
def test_drawdown_peak_is_never_below_the_window_max_nor_above_it_plus_one_bucket(
    steps: list[tuple[float, float]], window_s: float
) -> None:
    samples: list[tuple[float, float]] = []
    seen: list[tuple[float, float]] = []
    t = 1_735_689_600.0
    for gap, equity in steps:
        t += gap
        seen.append((t, equity))

        samples = push_sample(samples, t, equity, window_s)

        peak = samples[0][1]
        in_window = max(e for ts, e in seen if ts >= t - window_s)
        in_window_and_bucket = max(e for ts, e in seen if ts >= t - window_s - window_s / 48)
        assert in_window <= peak <= in_window_and_bucket
        assert len(samples) <= MAX_SAMPLES + 2
