"""The ``stop_loss`` rule: where the exchange-side stop belongs and when it is (re)placed.

The positions here are isolated BTC positions on the Binance profile, entered at 100,000 with a
maintenance rate of 0 and no fee, so the liquidation price is the entry less (long) or plus
(short) the collateral per unit: 10,000 of collateral on 1 BTC liquidates at 90,000 (long) or
110,000 (short), whatever the mark. Volatility 0.001 per sqrt(second) over a 25 s horizon makes
one sigma 0.5% in log terms.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import MarginMode, OpenStop, Position, Side
from riskguard.guard.enforce.order_ids import client_order_id
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Level,
    Memory,
    RuleInput,
    RuleResult,
)
from riskguard.guard.rules.stop_loss import StopLossConfig, StopLossRule, is_guard_client_id, safer
from riskguard.risk import RiskSettings, evaluate_account
from riskguard.risk.tails import StressMove

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
SIGMA = 0.001
HORIZON_S = 25.0


def _rule(**fields: object) -> StopLossRule:
    values: dict[str, object] = {"type": "stop_loss", "buffer": {"distance_pct": 2.0}}
    values.update(fields)
    return StopLossRule(StopLossConfig.model_validate(values))


def _position(
    side: Side,
    *,
    mark: float = 100_000.0,
    size: float = 1.0,
    collateral: float = 10_000.0,
    symbol: str = BTC,
) -> Position:
    """An isolated position entered at 100,000 with no maintenance margin (see the top)."""
    return testing.position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=100_000.0,
        mark_price=mark,
        leverage=None,
        collateral=collateral,
        maintenance_margin_rate=0.0,
    )


def _input(
    *positions: Position,
    stops: tuple[OpenStop, ...] = (),
    wallet: float = 0.0,
    sigma: float = SIGMA,
) -> RuleInput:
    snapshot = testing.snapshot(*positions, wallet_balance=wallet, taken_at=NOW, account="main")
    evaluation = evaluate_account(
        snapshot, RiskSettings(sigma_per_sqrt_s=sigma, horizon_s=HORIZON_S, scenarios=())
    )
    return RuleInput(snapshot, evaluation, NOW, HORIZON_S, 0.0, open_stops=stops)


def _stop(
    side: Side, price: float, size: float = 1.0, *, guard: bool = False, symbol: str = BTC
) -> OpenStop:
    order_id = f"{'g' if guard else 'b'}-{price:.0f}-{size:g}"
    client_id = client_order_id("rg", order_id) if guard else f"bot-{order_id}"
    return OpenStop(order_id, client_id, symbol, side, size, price, guard)


def _only_action(result: RuleResult) -> Action:
    assert len(result.actions) == 1, result.actions
    return result.actions[0]


def _figure(action: Action, name: str) -> object:
    return dict(action.figures)[name]


# --- where the stop belongs -----------------------------------------------------------------


def test_stop_loss_unprotected_long_gets_a_stop_two_percent_above_liquidation() -> None:
    rule = _rule()
    data = _input(_position(Side.LONG))

    result = rule.evaluate(data, {})

    # LP 90,000; 2% of it above: 91,800, for the whole 1 BTC.
    action = _only_action(result)
    assert action.kind is ActionKind.PLACE_STOP
    assert action.stop_price == pytest.approx(91_800.0)
    assert action.target_size == 1.0
    assert action.level is Level.WARN
    assert [f.level for f in result.findings] == [Level.WARN]
    assert result.findings[0].metric == "covered_size"
    assert _figure(action, "liquidation_price") == pytest.approx(90_000.0)


def test_stop_loss_unprotected_short_gets_a_stop_two_percent_below_liquidation() -> None:
    rule = _rule()
    data = _input(_position(Side.SHORT))

    action = _only_action(rule.evaluate(data, {}))

    # LP 110,000; 2% of it below: 107,800.
    assert action.kind is ActionKind.PLACE_STOP
    assert action.side is Side.SHORT
    assert action.stop_price == pytest.approx(107_800.0)


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        # k = 6 sigma x 0.005 = 0.03: 90,000 e^0.03 and 110,000 e^-0.03, both wider than 2%.
        (Side.LONG, 92_740.908),
        (Side.SHORT, 106_749.009),
    ],
)
def test_stop_loss_sigma_buffer_wins_when_wider_than_percent(side: Side, expected: float) -> None:
    rule = _rule(buffer={"distance_pct": 2.0, "sigma": 6.0})

    action = _only_action(rule.evaluate(_input(_position(side)), {}))

    assert action.stop_price == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("side", "expected"), [(Side.LONG, 91_800.0), (Side.SHORT, 107_800.0)])
def test_stop_loss_percent_buffer_wins_when_wider_than_sigma(side: Side, expected: float) -> None:
    # k = 3 sigma x 0.005 = 0.015: 91,360.18 (long) / 108,362.31 (short), narrower than 2%.
    rule = _rule(buffer={"distance_pct": 2.0, "sigma": 3.0})

    action = _only_action(rule.evaluate(_input(_position(side)), {}))

    assert action.stop_price == pytest.approx(expected)


def test_stop_loss_sigma_only_buffer_with_unknown_volatility_alerts_instead() -> None:
    rule = _rule(buffer={"sigma": 3.0})

    result = rule.evaluate(_input(_position(Side.LONG), sigma=0.0), {})

    assert [a.kind for a in result.actions] == [ActionKind.ALERT]
    assert [f.level for f in result.findings] == [Level.WARN]


def test_stop_loss_position_without_liquidation_price_needs_no_stop() -> None:
    # Cross long of 1 BTC on a 200,000 wallet: the price would have to go below zero.
    position = Position(
        BTC, Side.LONG, 1.0, 100_000.0, 100_000.0, MarginMode.CROSS, maintenance_margin_rate=0.0
    )

    result = _rule().evaluate(_input(position, wallet=200_000.0), {})

    assert result == RuleResult()


def test_stop_loss_ignores_positions_outside_its_scope() -> None:
    rule = _rule(scope={"symbols": ["ETH/*"]})

    result = rule.evaluate(_input(_position(Side.LONG)), {})

    assert result.actions == ()
    assert result.findings == ()


# --- existing stops -------------------------------------------------------------------------


def test_stop_loss_accepts_a_bot_stop_that_protects_as_well() -> None:
    # The bot's stop at 92,000 for the whole position is safer than the desired 91,800.
    data = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 92_000.0),))

    result = _rule().evaluate(data, {})

    assert result.actions == ()
    assert result.findings == ()


def test_stop_loss_short_accepts_a_bot_stop_below_the_desired_price() -> None:
    data = _input(_position(Side.SHORT), stops=(_stop(Side.SHORT, 105_000.0),))

    assert _rule().evaluate(data, {}).actions == ()


def test_stop_loss_bot_stop_too_near_liquidation_gets_a_guard_stop_beside_it() -> None:
    data = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 91_000.0),))

    result = _rule(tolerance_pct=0.0).evaluate(data, {})

    action = _only_action(result)
    assert action.kind is ActionKind.PLACE_STOP
    assert action.stop_price == pytest.approx(91_800.0)
    assert _figure(action, "existing_stop") == 91_000.0
    assert _figure(action, "covered_size") == 0.0
    assert _figure(action, "replaces") is None  # the bot's stop is not the guard's to replace


def test_stop_loss_bot_stop_for_half_the_position_is_under_protection() -> None:
    data = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 92_000.0, 0.5),))

    result = _rule().evaluate(data, {})

    action = _only_action(result)
    assert action.target_size == 1.0
    assert result.findings[0].measured == pytest.approx(0.5)
    assert result.findings[0].threshold == 1.0


def test_stop_loss_two_bot_stops_together_cover_the_position() -> None:
    stops = (_stop(Side.LONG, 92_000.0, 0.5), _stop(Side.LONG, 93_000.0, 0.5))

    assert _rule().evaluate(_input(_position(Side.LONG), stops=stops), {}).actions == ()


def test_stop_loss_stop_within_size_tolerance_covers_the_position() -> None:
    # 0.996 of 1.0 is within the default 0.5%; 0.994 is not.
    covered = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 92_000.0, 0.996),))
    short_of = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 92_000.0, 0.994),))

    assert _rule().evaluate(covered, {}).actions == ()
    assert _only_action(_rule().evaluate(short_of, {})).kind is ActionKind.PLACE_STOP


def test_stop_loss_a_stop_as_large_as_the_venue_takes_protects_as_far_as_it_can() -> None:
    # 2 BTC, and the venue takes no market order above 1.5 BTC: the guard's 1.5 BTC stop is all
    # one stop can be. Re-placing it each cycle would change nothing: a warning, no order.
    guard = _stop(Side.LONG, 91_800.0, 1.5, guard=True)
    position = _position(Side.LONG, size=2.0, collateral=20_000.0)
    data = replace(_input(position, stops=(guard,)), max_stop_sizes={BTC: 1.5})

    result = _rule().evaluate(data, {})

    assert result.actions == ()
    (finding,) = result.findings
    assert finding.level is Level.WARN
    assert (finding.metric, finding.measured, finding.threshold) == ("covered_size", 1.5, 2.0)
    assert "largest market order" in finding.message


def test_stop_loss_below_the_venues_largest_order_a_stop_is_still_placed() -> None:
    position = _position(Side.LONG, size=2.0, collateral=20_000.0)
    data = replace(_input(position), max_stop_sizes={BTC: 1.5})

    action = _only_action(_rule().evaluate(data, {}))

    assert action.kind is ActionKind.PLACE_STOP


def test_stop_loss_stop_for_the_other_leg_does_not_protect() -> None:
    # A short's stop on the same symbol (hedge mode) and a stop on another symbol.
    stops = (_stop(Side.SHORT, 92_000.0), _stop(Side.LONG, 92_000.0, symbol=ETH))

    action = _only_action(_rule().evaluate(_input(_position(Side.LONG), stops=stops), {}))

    assert action.kind is ActionKind.PLACE_STOP


def test_stop_loss_guard_stop_is_resized_when_the_position_grows() -> None:
    # 2 BTC on 20,000 collateral: the liquidation price stays 90,000, the guard's stop covers 1.
    guard = _stop(Side.LONG, 91_800.0, 1.0, guard=True)
    data = _input(_position(Side.LONG, size=2.0, collateral=20_000.0), stops=(guard,))

    action = _only_action(_rule().evaluate(data, {}))

    assert action.kind is ActionKind.PLACE_STOP
    assert action.stop_price == pytest.approx(91_800.0)
    assert action.target_size == 2.0
    assert _figure(action, "replaces") == guard.order_id


def test_stop_loss_grown_position_keeps_the_guard_stop_price_when_it_is_safer() -> None:
    # Size grew and the liquidation price fell to 85,000 (desired 86,700): the new, larger stop
    # stays at the guard's 91,800 rather than moving toward liquidation.
    guard = _stop(Side.LONG, 91_800.0, 1.0, guard=True)
    data = _input(_position(Side.LONG, size=2.0, collateral=30_000.0), stops=(guard,))

    action = _only_action(_rule().evaluate(data, {}))

    assert action.stop_price == pytest.approx(91_800.0)
    assert action.target_size == 2.0


@pytest.mark.parametrize(
    ("side", "collateral", "existing", "expected"),
    [
        # Collateral 5,000: LP 95,000 (long) / 105,000 (short), desired 96,900 / 102,900.
        (Side.LONG, 5_000.0, 91_800.0, 96_900.0),
        (Side.SHORT, 5_000.0, 107_800.0, 102_900.0),
    ],
)
def test_stop_loss_liquidation_moving_toward_the_mark_moves_the_guard_stop_toward_safety(
    side: Side, collateral: float, existing: float, expected: float
) -> None:
    guard = _stop(side, existing, guard=True)
    data = _input(_position(side, collateral=collateral), stops=(guard,))

    action = _only_action(_rule().evaluate(data, {}))

    assert action.kind is ActionKind.PLACE_STOP
    assert action.stop_price == pytest.approx(expected)
    assert _figure(action, "replaces") == guard.order_id


@pytest.mark.parametrize(
    ("side", "existing"),
    [
        # Collateral 15,000: LP 85,000 / 115,000, desired 86,700 / 112,700, less safe than
        # the guard's stop, which therefore stays.
        (Side.LONG, 91_800.0),
        (Side.SHORT, 107_800.0),
    ],
)
def test_stop_loss_liquidation_moving_away_keeps_the_guard_stop(
    side: Side, existing: float
) -> None:
    data = _input(_position(side, collateral=15_000.0), stops=(_stop(side, existing, guard=True),))

    result = _rule().evaluate(data, {})

    assert result.actions == ()
    assert result.findings == ()


def test_stop_loss_small_liquidation_drift_within_tolerance_replaces_nothing() -> None:
    # Buffer 1,800 above LP 90,000. A stop at 91,720 keeps 1,720 / 1,800 = 95.6% of it (within
    # the 5% tolerance); one at 91,700 keeps 94.4% and is replaced.
    kept = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 91_720.0, guard=True),))
    lost = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 91_700.0, guard=True),))

    rule = _rule(tolerance_pct=5.0)

    assert rule.evaluate(kept, {}).actions == ()
    assert _only_action(rule.evaluate(lost, {})).stop_price == pytest.approx(91_800.0)


def test_stop_loss_guard_stop_lagging_behind_a_covering_bot_stop_is_moved_quietly() -> None:
    # LP 95,000 (desired 96,900): the bot's 97,000 stop protects; the guard's old 91,800 lags.
    stops = (_stop(Side.LONG, 97_000.0), _stop(Side.LONG, 91_800.0, guard=True))
    data = _input(_position(Side.LONG, collateral=5_000.0), stops=stops)

    result = _rule().evaluate(data, {})

    action = _only_action(result)
    assert action.kind is ActionKind.PLACE_STOP
    assert action.level is Level.OK
    assert action.stop_price == pytest.approx(96_900.0)
    assert result.findings == ()


# --- inside the buffer ----------------------------------------------------------------------


@pytest.mark.parametrize(("side", "mark"), [(Side.LONG, 91_000.0), (Side.SHORT, 108_000.0)])
def test_stop_loss_mark_inside_the_buffer_closes_instead_of_placing_a_stop(
    side: Side, mark: float
) -> None:
    # Long: mark 91,000 is below the desired 91,800; short: 108,000 is above 107,800.
    result = _rule().evaluate(_input(_position(side, mark=mark)), {})

    action = _only_action(result)
    assert action.kind is ActionKind.CLOSE
    assert action.level is Level.ACT
    assert action.target_size == 0.0
    assert [f.level for f in result.findings] == [Level.ACT]
    # Long: (91,000 - 90,000) / 90,000 = 1.11% from liquidation, against a 2% buffer.
    if side is Side.LONG:
        assert result.findings[0].measured == pytest.approx(100 / 90)
        assert result.findings[0].threshold == pytest.approx(2.0)


def test_stop_loss_crossed_guard_stop_that_covers_too_little_closes() -> None:
    # The guard's stop at 100,500 is above the 100,000 mark (it is firing) and covers half.
    data = _input(_position(Side.LONG), stops=(_stop(Side.LONG, 100_500.0, 0.5, guard=True),))

    action = _only_action(_rule().evaluate(data, {}))

    assert action.kind is ActionKind.CLOSE


# --- trailing -------------------------------------------------------------------------------


def test_stop_loss_trailing_remembers_the_gap_and_ratchets_a_long_stop_up() -> None:
    rule = _rule(trailing=True)
    first = rule.evaluate(_input(_position(Side.LONG)), {})
    # The gap at first sight: (100,000 - 91,800) / 100,000 = 8.2% below the mark.
    assert first.memory[f"{BTC}:long:trail_gap"] == pytest.approx(0.082)
    assert _only_action(first).stop_price == pytest.approx(91_800.0)
    guard = _stop(Side.LONG, 91_800.0, guard=True)

    later = rule.evaluate(
        _input(_position(Side.LONG, mark=110_000.0), stops=(guard,)), first.memory
    )

    # 110,000 x (1 - 0.082) = 100,980, moved by housekeeping: no finding.
    action = _only_action(later)
    assert action.kind is ActionKind.PLACE_STOP
    assert action.stop_price == pytest.approx(100_980.0)
    assert action.level is Level.OK
    assert later.findings == ()


def test_stop_loss_trailing_ratchets_a_short_stop_down() -> None:
    rule = _rule(trailing=True)
    first = rule.evaluate(_input(_position(Side.SHORT)), {})
    guard = _stop(Side.SHORT, 107_800.0, guard=True)

    later = rule.evaluate(
        _input(_position(Side.SHORT, mark=90_000.0), stops=(guard,)), first.memory
    )

    # Gap (107,800 - 100,000) / 100,000 = 7.8% above the mark: 90,000 x 1.078 = 97,020.
    assert _only_action(later).stop_price == pytest.approx(97_020.0)


def test_stop_loss_trailing_never_trails_closer_to_the_mark_than_the_buffer() -> None:
    rule = _rule(trailing=True)
    # First seen at 92,000, just 200 above the desired 91,800: a 0.22% gap, floored to the
    # buffer's 2%.
    first = rule.evaluate(_input(_position(Side.LONG, mark=92_000.0)), {})
    assert first.memory[f"{BTC}:long:trail_gap"] == pytest.approx(0.02)
    guard = _stop(Side.LONG, 91_800.0, guard=True)

    later = rule.evaluate(
        _input(_position(Side.LONG, mark=110_000.0), stops=(guard,)), first.memory
    )

    # 110,000 x 0.98 = 107,800, not 110,000 x (1 - 0.0022).
    assert _only_action(later).stop_price == pytest.approx(107_800.0)


def test_stop_loss_trailing_stop_is_not_lowered_when_the_mark_falls_back() -> None:
    rule = _rule(trailing=True)
    memory: Memory = {f"{BTC}:long:trail_gap": 0.082}
    guard = _stop(Side.LONG, 100_980.0, guard=True)

    result = rule.evaluate(_input(_position(Side.LONG, mark=105_000.0), stops=(guard,)), memory)

    # The trailing target is 105,000 x 0.918 = 96,390: below the guard's stop, which stays.
    assert result.actions == ()


def test_stop_loss_without_trailing_leaves_the_stop_where_it_is_as_the_mark_rises() -> None:
    guard = _stop(Side.LONG, 91_800.0, guard=True)

    result = _rule().evaluate(_input(_position(Side.LONG, mark=110_000.0), stops=(guard,)), {})

    assert result.actions == ()
    assert result.memory == {}


def test_stop_loss_trailing_leaves_a_position_protected_by_the_bot_alone_to_the_bot() -> None:
    bot = _stop(Side.LONG, 92_000.0)
    memory: Memory = {f"{BTC}:long:trail_gap": 0.082}

    result = _rule(trailing=True).evaluate(
        _input(_position(Side.LONG, mark=110_000.0), stops=(bot,)), memory
    )

    assert result.actions == ()


# --- config and ids -------------------------------------------------------------------------


def test_stop_loss_config_buffer_needs_percent_or_sigma() -> None:
    with pytest.raises(ValidationError, match="give distance_pct and/or sigma"):
        StopLossConfig.model_validate({"type": "stop_loss", "buffer": {}})


def test_stop_loss_config_rejects_a_prefix_venues_would_refuse() -> None:
    with pytest.raises(ValidationError, match="client_id_prefix"):
        StopLossConfig.model_validate({"type": "stop_loss", "client_id_prefix": "rg-"})


def test_stop_loss_recognises_the_guard_client_ids_by_prefix() -> None:
    rule = _rule(client_id_prefix="rg")
    ours = client_order_id("rg", "main", BTC, "long", "stop")

    assert rule.is_guard_order(ours)
    assert is_guard_client_id(ours, "rg")
    assert not rule.is_guard_order("bot-123")
    assert not rule.is_guard_order(None)
    assert not is_guard_client_id(ours, "xx")


# --- properties -----------------------------------------------------------------------------


@st.composite
def _situations(draw: st.DrawFn) -> tuple[StopLossRule, RuleInput, Memory, Side]:
    side = draw(st.sampled_from(Side))
    size = draw(st.floats(0.1, 5.0))
    collateral = draw(st.floats(500.0, 90_000.0)) * size
    mark = draw(st.floats(40_000.0, 200_000.0))
    lp_guess = 100_000.0 - side.sign * collateral / size
    stops = []
    for guard in (True, False):
        if draw(st.booleans()):
            price = lp_guess * draw(st.floats(0.5, 1.5))
            stops.append(_stop(side, price, draw(st.floats(0.05, 6.0)), guard=guard))
    buffer: dict[str, float] = {"distance_pct": draw(st.floats(0.1, 30.0))}
    if draw(st.booleans()):
        buffer["sigma"] = draw(st.floats(0.5, 50.0))
    rule = _rule(
        buffer=buffer,
        trailing=draw(st.booleans()),
        tolerance_pct=draw(st.floats(0.0, 50.0)),
    )
    memory: Memory = {}
    if draw(st.booleans()):
        memory = {f"{BTC}:{side.value}:trail_gap": draw(st.floats(-1.0, 2.0))}
    position = _position(side, mark=mark, size=size, collateral=collateral)
    data = _input(position, stops=tuple(stops), sigma=draw(st.floats(0.0, 0.01)))
    return rule, data, memory, side


@settings(max_examples=300, deadline=None)
@given(_situations())
def test_stop_loss_never_proposes_a_stop_at_or_beyond_liquidation_or_the_mark(
    situation: tuple[StopLossRule, RuleInput, Memory, Side],
) -> None:
    rule, data, memory, side = situation

    result = rule.evaluate(data, memory)

    lp = data.evaluation.positions[0].risk.liquidation_price
    mark = data.snapshot.positions[0].mark_price
    for action in result.actions:
        if action.kind is ActionKind.PLACE_STOP:
            assert lp is not None
            assert action.stop_price is not None
            assert side.sign * (action.stop_price - lp) > 0  # long: above LP; short: below
            assert side.sign * (mark - action.stop_price) > 0  # and it would not fire at once
            assert action.target_size == data.snapshot.positions[0].size


@settings(max_examples=300, deadline=None)
@given(_situations())
def test_stop_loss_never_moves_a_guard_stop_toward_liquidation(
    situation: tuple[StopLossRule, RuleInput, Memory, Side],
) -> None:
    rule, data, memory, side = situation

    result = rule.evaluate(data, memory)

    guard_prices = [s.stop_price for s in data.open_stops if s.guard_owned]
    for action in result.actions:
        if action.kind is ActionKind.PLACE_STOP and guard_prices:
            assert action.stop_price is not None
            for price in guard_prices:
                assert safer(side, action.stop_price, price) == action.stop_price


def test_stop_loss_desired_price_matches_the_formula_for_both_buffers() -> None:
    # A direct check of StopBuffer.stop_price against the module's formulas.
    buffer = StopLossConfig.model_validate(
        {"type": "stop_loss", "buffer": {"distance_pct": 1.0, "sigma": 4.0}}
    ).buffer

    long_stop = buffer.stop_price(Side.LONG, 50_000.0, 0.002, 100.0)
    short_stop = buffer.stop_price(Side.SHORT, 50_000.0, 0.002, 100.0)

    # k = 4 x 0.002 x 10 = 0.08: e^0.08 = 1.0833 beats 1.01; e^-0.08 = 0.9231 beats 0.99.
    assert long_stop == pytest.approx(50_000.0 * math.exp(0.08))
    assert short_stop == pytest.approx(50_000.0 * math.exp(-0.08))


# --- where the stop fills in a gap -------------------------------------------------------------


def test_stop_loss_says_where_its_stop_fills_in_a_gap_of_the_stress_move() -> None:
    # LP = bankruptcy = 90,000 (no maintenance); the stop at 91,800. A -12% gap through it
    # fills near 80,784: past bankruptcy, so the loss past it would be the account's own.
    rule = _rule()
    data = replace(
        _input(_position(Side.LONG)),
        stress_moves={BTC: StressMove(BTC, -0.12, 0.12, "configured gaps")},
    )

    action = _only_action(rule.evaluate(data, {}))

    assert _figure(action, "gap_move_pct") == pytest.approx(-12.0)
    assert _figure(action, "stop_gap_fill") == pytest.approx(91_800 * 0.88)
    assert _figure(action, "bankruptcy_price") == pytest.approx(90_000.0)
    assert _figure(action, "stop_gap_fill_past_bankruptcy") == "yes"
    assert "in a -12.0% gap it would fill near 80,784.00, past bankruptcy 90,000.00" in (
        action.reason
    )


def test_stop_loss_a_small_gap_that_stays_before_bankruptcy_is_no_warning() -> None:
    rule = _rule()
    data = replace(
        _input(_position(Side.SHORT)),
        stress_moves={BTC: StressMove(BTC, -0.01, 0.01, "learned tail: ...")},
    )

    action = _only_action(rule.evaluate(data, {}))

    # Short: LP = bankruptcy = 110,000, stop at 107,800; +1% fills near 108,878.
    assert _figure(action, "stop_gap_fill") == pytest.approx(107_800 * 1.01)
    assert _figure(action, "stop_gap_fill_past_bankruptcy") == "no"
    assert "past bankruptcy" not in action.reason
