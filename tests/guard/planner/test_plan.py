"""Specification of the planner: the rules' proposals for one account → one plan of orders.

The numbers in the sizing and splitting tests are worked by hand in the comments beside them
(contracts = base units / contract size; the amount sold rounds up to the step).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.planner import (
    PLANNER,
    MarketRules,
    Plan,
    PlannedStep,
    PlannerConfig,
    PlannerState,
    PositionMemory,
    plan,
    position_key,
    size_reduction,
    split_order,
)
from riskguard.guard.rules.base import Action, ActionKind, Finding, Level, RuleResult

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "acct"
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NO_COOLDOWN = PlannerConfig(cooldown_s=0.0)


# --- builders ----------------------------------------------------------------------------


def _position(
    symbol: str = BTC,
    side: Side = Side.LONG,
    size: float = 10.0,
    mark: float = 100.0,
    *,
    leverage: float | None = 10.0,
    margin_mode: MarginMode = MarginMode.ISOLATED,
    contract_size: float = 1.0,
) -> Position:
    return Position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=mark,
        mark_price=mark,
        margin_mode=margin_mode,
        leverage=leverage,
        collateral=size * mark / 10,
        contract_size=contract_size,
        maintenance_margin_rate=0.005,
    )


def _snapshot(*positions: Position, account: str = ACCOUNT) -> AccountSnapshot:
    return AccountSnapshot(
        venue="binance", wallet_balance=1_000.0, positions=positions, taken_at=NOW, account=account
    )


def _action(
    kind: ActionKind,
    *,
    symbol: str | None = BTC,
    side: Side | None = Side.LONG,
    rule: str = "liquidation_distance",
    level: Level = Level.ACT,
    account: str = ACCOUNT,
    **numbers: float | None,
) -> Action:
    return Action(
        kind=kind,
        account=account,
        symbol=symbol,
        side=side,
        rule=rule,
        level=level,
        reason=f"{rule} says {kind.value}",
        figures=(("proposed_by", rule),),
        **numbers,
    )


def _reduce(target: float, **kw: object) -> Action:
    return _action(ActionKind.REDUCE, target_size=target, **kw)  # type: ignore[arg-type]


def _close(**kw: object) -> Action:
    return _action(ActionKind.CLOSE, target_size=0.0, **kw)  # type: ignore[arg-type]


def _market(
    symbol: str = BTC,
    *,
    contract_size: float = 1.0,
    step: float = 0.1,
    min_amount: float = 0.1,
    tick: float = 0.01,
    min_notional: float | None = None,
) -> MarketRules:
    return MarketRules(
        symbol=symbol,
        contract_size=contract_size,
        amount_step=step,
        min_amount=min_amount,
        price_tick=tick,
        min_notional=min_notional,
    )


MARKETS = {BTC: _market(BTC), ETH: _market(ETH)}


def _plan(
    *actions: Action,
    positions: Sequence[Position] = (),
    markets: dict[str, MarketRules] | None = None,
    state: PlannerState | None = None,
    now: datetime = NOW,
    config: PlannerConfig = NO_COOLDOWN,
) -> tuple[Plan, PlannerState]:
    return plan(
        [RuleResult(actions=tuple(actions))],
        _snapshot(*(positions or (_position(),))),
        MARKETS if markets is None else markets,
        state or PlannerState(),
        now,
        config,
    )


def _kinds(result: Plan) -> list[ActionKind]:
    return [step.kind for step in result.steps]


def _reasons(result: Plan) -> list[str]:
    return [d.reason for d in result.dropped]


# --- merge: the most protective proposal wins --------------------------------------------


def test_merge_close_beats_reduce_from_another_rule_and_credits_both() -> None:
    reduce = _reduce(4.0, rule="max_leverage", level=Level.CRITICAL)
    close = _close(rule="drawdown", level=Level.ACT)

    result, _ = _plan(reduce, close)

    (step,) = result.steps
    assert step.kind is ActionKind.CLOSE
    assert step.action is close
    assert step.rules == ("drawdown", "max_leverage")
    assert step.level is Level.CRITICAL
    assert step.amounts == (10.0,)
    assert step.size_after == 0.0
    assert result.dropped == ((reduce, "less protective than close by drawdown"),)


def test_merge_smallest_reduce_target_wins_and_merges_figures() -> None:
    loose = _reduce(8.0, rule="max_leverage")
    tight = _reduce(5.0, rule="shortfall")

    result, _ = _plan(loose, tight)

    (step,) = result.steps
    assert step.action is tight
    assert step.size_after == 5.0
    assert step.amounts == (5.0,)
    assert step.figures == (
        ("proposed_by", "shortfall"),
        ("max_leverage.proposed_by", "max_leverage"),
    )
    assert _reasons(result) == ["less protective than reduce to 5 by shortfall"]


def test_merge_reduce_to_zero_counts_as_a_close() -> None:
    result, _ = _plan(_reduce(2.0, rule="a"), _reduce(0.0, rule="b"))

    assert _kinds(result) == [ActionKind.CLOSE]
    assert result.steps[0].rules == ("b", "a")


def test_merge_keeps_add_margin_paired_with_its_reduce_after_the_reduction() -> None:
    reduce = _reduce(6.0)
    add = _action(ActionKind.ADD_MARGIN, margin=40.0)

    result, _ = _plan(add, reduce)

    assert _kinds(result) == [ActionKind.REDUCE, ActionKind.ADD_MARGIN]
    assert result.steps[1].action is add
    assert result.steps[1].margin == 40.0
    assert result.steps[1].size_after == 6.0
    assert result.dropped == ()


def test_merge_drops_paired_add_margin_when_another_rules_close_wins() -> None:
    add = _action(ActionKind.ADD_MARGIN, margin=40.0)

    result, _ = _plan(_reduce(6.0), add, _close(rule="drawdown"))

    assert _kinds(result) == [ActionKind.CLOSE]
    assert (add, "position is being closed") in result.dropped


def test_merge_keeps_paired_add_margin_when_another_rules_smaller_reduce_wins() -> None:
    add = _action(ActionKind.ADD_MARGIN, margin=40.0)

    result, _ = _plan(_reduce(6.0), add, _reduce(4.0, rule="shortfall"))

    assert [(s.kind, s.action.rule) for s in result.steps] == [
        (ActionKind.REDUCE, "shortfall"),
        (ActionKind.ADD_MARGIN, "liquidation_distance"),
    ]


def test_merge_drops_paired_add_margin_when_its_reduce_is_not_planned() -> None:
    invalid = _reduce(12.0)
    add = _action(ActionKind.ADD_MARGIN, margin=40.0)
    standalone = _action(ActionKind.ADD_MARGIN, margin=15.0, rule="margin_ratio")

    result, _ = _plan(invalid, add, standalone)

    assert [s.action for s in result.steps] == [standalone]
    assert (add, "its paired reduction is not planned, so no margin is released") in (
        result.dropped
    )


def test_merge_keeps_the_largest_add_margin_when_two_rules_ask() -> None:
    small = _action(ActionKind.ADD_MARGIN, margin=10.0, rule="a")
    large = _action(ActionKind.ADD_MARGIN, margin=25.0, rule="b")

    result, _ = _plan(small, large)

    (step,) = result.steps
    assert step.margin == 25.0
    assert result.dropped == ((small, "less protective than add margin 25 by b"),)


def test_merge_keeps_stop_beside_a_reduce_sized_to_what_is_left() -> None:
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0, rule="stop_loss", level=Level.WARN)

    result, _ = _plan(stop, _reduce(6.0))

    assert _kinds(result) == [ActionKind.REDUCE, ActionKind.PLACE_STOP]
    placed = result.steps[1]
    assert placed.amounts == (6.0,)
    assert placed.stop_price == 92.0
    assert placed.order_side == "sell"
    assert placed.reduce_only


def test_merge_drops_stop_when_the_position_is_being_closed() -> None:
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0, rule="stop_loss")

    result, _ = _plan(stop, _close())

    assert _kinds(result) == [ActionKind.CLOSE]
    assert result.dropped == ((stop, "position is being closed"),)


def test_merge_keeps_the_stop_closest_to_the_mark_for_long_and_short() -> None:
    long_far = _action(ActionKind.PLACE_STOP, stop_price=90.0, rule="a")
    long_near = _action(ActionKind.PLACE_STOP, stop_price=95.0, rule="b")
    short_far = _action(ActionKind.PLACE_STOP, side=Side.SHORT, stop_price=110.0, rule="a")
    short_near = _action(ActionKind.PLACE_STOP, side=Side.SHORT, stop_price=104.0, rule="b")
    positions = (_position(), _position(side=Side.SHORT))

    result, _ = _plan(long_far, long_near, short_far, short_near, positions=positions)

    chosen = {step.side: step.stop_price for step in result.steps}
    assert chosen == {Side.LONG: 95.0, Side.SHORT: 104.0}
    assert {step.side: step.order_side for step in result.steps} == {
        Side.LONG: "sell",
        Side.SHORT: "buy",
    }


def test_stop_price_rounds_to_the_tick_toward_the_mark() -> None:
    market = _market(tick=0.5)
    long_stop = _action(ActionKind.PLACE_STOP, stop_price=92.3)
    short_stop = _action(ActionKind.PLACE_STOP, side=Side.SHORT, stop_price=107.7)
    positions = (_position(), _position(side=Side.SHORT))

    result, _ = _plan(long_stop, short_stop, positions=positions, markets={BTC: market})

    # a long's stop (sell when the mark falls to it) moves up, a short's down: nearer the mark.
    assert {s.side: s.stop_price for s in result.steps} == {Side.LONG: 92.5, Side.SHORT: 107.5}


def test_stop_rounded_onto_the_mark_rounds_away_instead() -> None:
    market = _market(tick=1.0)
    stop = _action(ActionKind.PLACE_STOP, stop_price=99.6)

    result, _ = _plan(stop, positions=(_position(mark=100.0),), markets={BTC: market})

    assert result.steps[0].stop_price == 99.0


def test_stop_with_no_valid_tick_between_zero_and_the_mark_is_dropped() -> None:
    # mark 0.8, tick 1: rounding 0.5 up gives 1 (above the mark), down gives 0 (no price).
    stop = _action(ActionKind.PLACE_STOP, stop_price=0.5)

    result, _ = _plan(stop, positions=(_position(mark=0.8),), markets={BTC: _market(tick=1.0)})

    assert result.dropped == ((stop, "stop would trigger at once after tick rounding"),)


@pytest.mark.parametrize(
    ("side", "price"), [(Side.LONG, 100.0), (Side.LONG, 101.0), (Side.SHORT, 99.0)]
)
def test_stop_on_the_wrong_side_of_the_mark_is_dropped(side: Side, price: float) -> None:
    stop = _action(ActionKind.PLACE_STOP, side=side, stop_price=price)

    result, _ = _plan(stop, positions=(_position(side=side),))

    assert result.steps == ()
    assert _reasons(result)[0].startswith(f"stop {price:g} would trigger at once")


# --- never add exposure ------------------------------------------------------------------


@pytest.mark.parametrize("target", [10.0, 12.5])
def test_reduce_to_a_target_at_or_above_the_size_is_dropped_as_adding_exposure(
    target: float,
) -> None:
    result, _ = _plan(_reduce(target))

    assert result.steps == ()
    assert _reasons(result) == [f"would add exposure: target {target:g} >= size 10"]


@pytest.mark.parametrize(
    "action",
    [
        _reduce(3.0, symbol=ETH),
        _reduce(3.0, side=Side.SHORT),
        _reduce(3.0, account="other"),
        _reduce(3.0, symbol=None),
        _action(ActionKind.ADD_MARGIN, margin=5.0, side=None),
    ],
    ids=["other-symbol", "other-side", "other-account", "no-symbol", "no-side"],
)
def test_action_on_a_position_that_does_not_exist_is_dropped(action: Action) -> None:
    result, _ = _plan(action)

    assert result.steps == ()
    assert result.dropped == ((action, "no such position"),)


def test_alert_on_a_missing_position_still_passes_through() -> None:
    alert = _action(ActionKind.ALERT, symbol=ETH, level=Level.WARN)

    result, _ = _plan(alert)

    (out,) = result.alerts
    assert (out.source, out.symbol, out.level, out.message) == (
        "liquidation_distance",
        ETH,
        Level.WARN,
        "liquidation_distance says alert",
    )
    assert result.dropped == ()


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (_reduce(math.nan), "invalid number: target_size=nan"),
        (_reduce(-1.0), "invalid number: target_size=-1.0"),
        (_reduce(3.0, size_before=math.inf), "invalid number: size_before=inf"),
        (_action(ActionKind.REDUCE), "invalid number: target_size is missing"),
        (_action(ActionKind.ADD_MARGIN, margin=-5.0), "invalid number: margin=-5.0"),
        (_action(ActionKind.ADD_MARGIN, margin=0.0), "invalid number: margin=0.0 must be positive"),
        (_action(ActionKind.SET_LEVERAGE, leverage=math.nan), "invalid number: leverage=nan"),
        (_action(ActionKind.PLACE_STOP), "invalid number: stop_price is missing"),
        (_close(margin=math.nan), "invalid number: margin=nan"),
    ],
)
def test_negative_nan_or_missing_numbers_are_dropped(action: Action, reason: str) -> None:
    result, _ = _plan(action)

    assert result.steps == ()
    assert result.dropped == ((action, reason),)


def test_add_margin_on_a_cross_position_is_dropped() -> None:
    add = _action(ActionKind.ADD_MARGIN, margin=5.0)

    result, _ = _plan(add, positions=(_position(margin_mode=MarginMode.CROSS),))

    assert result.dropped == ((add, "add margin applies to isolated positions only"),)


@pytest.mark.parametrize(("side", "order_side"), [(Side.LONG, "sell"), (Side.SHORT, "buy")])
def test_reduction_is_reduce_only_in_the_closing_direction(side: Side, order_side: str) -> None:
    result, _ = _plan(_reduce(4.0, side=side), positions=(_position(side=side),))

    (step,) = result.steps
    assert (step.order_side, step.reduce_only) == (order_side, True)


def test_reduction_without_market_rules_is_dropped_with_a_planner_alert() -> None:
    reduce = _reduce(4.0, level=Level.CRITICAL)
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0)

    result, _ = _plan(reduce, stop, markets={})

    assert result.steps == ()
    assert result.dropped == (
        (stop, f"no market rules for {BTC}"),
        (reduce, f"no market rules for {BTC}"),
    )
    (alert,) = result.alerts
    assert (alert.source, alert.level) == (PLANNER, Level.CRITICAL)


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


def test_amount_rounding_helpers_round_the_size_kept_down_and_the_amount_sold_up() -> None:
    market = _market(contract_size=0.01, step=1.0)

    # 0.237 BTC = 23.7 contracts: keep 23, sell 24; 0.07 / 0.01 = 7.000000000000001 stays 7.
    assert market.amount_down(market.to_contracts(0.237)) == 23.0
    assert market.amount_up(market.to_contracts(0.237)) == 24.0
    assert market.amount_up(market.to_contracts(0.07)) == 7.0
    assert market.to_size(23.0) == 0.23


def test_sizing_refuses_a_target_that_is_not_a_reduction() -> None:
    with pytest.raises(ValueError, match="not below the size"):
        size_reduction(_position(size=10.0), 10.0, _market())


def test_plan_reports_a_reduce_sized_into_a_close_as_a_close_and_drops_its_stop() -> None:
    reduce = _reduce(0.5)
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0)
    market = _market(step=0.1, min_amount=1.0)

    result, _ = _plan(reduce, stop, markets={BTC: market})

    (step,) = result.steps
    assert (step.kind, step.action, step.amounts) == (ActionKind.CLOSE, reduce, (10.0,))
    assert result.dropped == ((stop, "position is being closed"),)


# --- splitting by max_order_notional -----------------------------------------------------


def test_split_close_into_equal_parts_under_the_cap() -> None:
    # 10 contracts x 100 = 1000; cap 300 -> 3 contracts = 30 steps; 100 steps need 4 parts of 25.
    config = PlannerConfig(cooldown_s=0.0, max_order_notional=300.0)

    result, _ = _plan(_close(), config=config)

    (step,) = result.steps
    assert step.amounts == (2.5, 2.5, 2.5, 2.5)
    assert (step.contracts, step.notional) == (10.0, 1000.0)
    assert step.notes == ("close the whole position", "split into 4 orders of at most 300")


def test_split_reduce_puts_the_extra_step_first() -> None:
    # sell 7.3 = 73 steps; cap 250 -> 25 steps; 3 parts: 73 = 25 + 24 + 24.
    parts = split_order(7.3, _market(step=0.1), 100.0, 250.0)

    assert parts == (2.5, 2.4, 2.4)
    assert math.fsum(parts) == pytest.approx(7.3, abs=1e-12)


def test_split_with_contract_size_0_01() -> None:
    # one contract = 0.01 BTC x 60000 = 600; cap 10000 -> 16 contracts; 50 = 13 + 13 + 12 + 12.
    market = _market(contract_size=0.01, step=1.0, min_amount=1.0)

    assert split_order(50.0, market, 60_000.0, 10_000.0) == (13.0, 13.0, 12.0, 12.0)


def test_split_under_the_cap_is_one_order() -> None:
    assert split_order(2.0, _market(step=0.1), 100.0, 300.0) == (2.0,)
    assert split_order(7.0, _market(step=0.1), 100.0, None) == (7.0,)


def test_split_with_a_cap_near_the_minimum_makes_fewer_larger_parts() -> None:
    # 31 steps, cap 30 steps, minimum 20 steps: two parts would be 16 + 15 < 20, so one order.
    market = _market(step=0.1, min_amount=2.0)

    assert split_order(3.1, market, 100.0, 300.0) == (3.1,)


# --- cooldown ----------------------------------------------------------------------------


def _acted_state(seconds_ago: float) -> PlannerState:
    at = (NOW - timedelta(seconds=seconds_ago)).timestamp()
    return PlannerState({position_key(ACCOUNT, BTC, Side.LONG): PositionMemory(last_acted_s=at)})


def test_cooldown_drops_non_critical_proposals_after_the_guard_acted() -> None:
    config = PlannerConfig(cooldown_s=60.0)
    reduce = _reduce(5.0, level=Level.ACT)
    add = _action(ActionKind.ADD_MARGIN, margin=5.0, level=Level.WARN)

    result, _ = _plan(reduce, add, state=_acted_state(30.0), config=config)

    assert result.steps == ()
    assert (
        _reasons(result)
        == ["cooldown: the guard acted 30 s ago (cooldown 60 s, level below critical)"] * 2
    )


def test_cooldown_lets_critical_proposals_through() -> None:
    config = PlannerConfig(cooldown_s=60.0)
    critical = _reduce(7.0, level=Level.CRITICAL)
    act = _reduce(5.0, level=Level.ACT)

    result, _ = _plan(critical, act, state=_acted_state(30.0), config=config)

    assert [s.action for s in result.steps] == [critical]
    assert result.dropped[0].reason.startswith("cooldown")


def test_cooldown_ends_after_cooldown_s() -> None:
    config = PlannerConfig(cooldown_s=60.0)

    result, _ = _plan(_reduce(5.0), state=_acted_state(60.0), config=config)

    assert _kinds(result) == [ActionKind.REDUCE]


def test_cooldown_neither_blocks_nor_is_started_by_stops_and_leverage() -> None:
    config = PlannerConfig(cooldown_s=60.0)
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0, level=Level.WARN)
    lever = _action(ActionKind.SET_LEVERAGE, leverage=5.0, level=Level.WARN)

    blocked, _ = _plan(stop, lever, state=_acted_state(10.0), config=config)
    _, fresh = _plan(stop, lever, config=config)

    assert _kinds(blocked) == [ActionKind.SET_LEVERAGE, ActionKind.PLACE_STOP]
    assert fresh.positions == {}


def test_planned_reduction_starts_the_cooldown_in_the_new_state() -> None:
    config = PlannerConfig(cooldown_s=60.0)

    first, state = _plan(_reduce(5.0), config=config)
    later, _ = _plan(_reduce(4.0), state=state, now=NOW + timedelta(seconds=5), config=config)

    assert first.steps[0].key == position_key(ACCOUNT, BTC, Side.LONG) == "acct|BTC/USDT:USDT|long"
    memory = state.positions[first.steps[0].key]
    assert (memory.last_acted_s, memory.left_size) == (NOW.timestamp(), 5.0)
    assert later.steps == ()


def test_planner_state_round_trips_through_json() -> None:
    _, state = _plan(_reduce(5.0), config=PlannerConfig(cooldown_s=60.0))

    restored = PlannerState.from_dict(json.loads(json.dumps(state.to_dict())))

    assert restored == state
    assert restored.to_dict() == state.to_dict()


def test_planner_state_forgets_positions_after_cooldown_and_window() -> None:
    config = PlannerConfig(cooldown_s=60.0, fight_window_s=120.0)
    _, state = _plan(_reduce(5.0), config=config)

    _, later = _plan(state=state, now=NOW + timedelta(seconds=120), config=config)

    assert later.positions == {}


# --- bot fighting the guard --------------------------------------------------------------


def _rounds(
    cycles: Sequence[tuple[float, float]], config: PlannerConfig, every_s: float = 60.0
) -> list[Plan]:
    """One cycle per ``(size, target)``: the position has that size, a rule wants the target."""
    plans = []
    state = PlannerState()
    for i, (size, target) in enumerate(cycles):
        result, state = _plan(
            _reduce(target),
            positions=(_position(size=size),),
            state=state,
            now=NOW + timedelta(seconds=i * every_s),
            config=config,
        )
        assert _kinds(result) == [ActionKind.REDUCE]
        plans.append(result)
    return plans


def test_fight_alert_after_threshold_reopened_reductions_in_the_window_and_not_before() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=600.0, fight_threshold=3)

    # the guard reduces 10 -> 2; the bot re-opens to 10 before each of the next cycles.
    plans = _rounds([(10.0, 2.0)] * 4, config)

    assert [p.alerts for p in plans[:3]] == [(), (), ()]
    (alert,) = plans[3].alerts
    assert (alert.level, alert.source) == (Level.CRITICAL, PLANNER)
    assert "bot is fighting the guard" in alert.message
    figures = dict(alert.figures)
    assert (figures["count"], figures["window_s"], figures["guard_left_size"]) == (3, 600.0, 2.0)


def test_fight_not_raised_for_progressive_reductions_of_a_position_that_never_grows() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=600.0, fight_threshold=2)

    # a crash: each cycle the rule wants less, and the position is where the guard left it.
    plans = _rounds([(10.0, 8.0), (8.0, 6.0), (6.0, 4.0), (4.0, 2.0)], config)

    assert all(p.alerts == () for p in plans)


def test_fight_not_raised_when_reopenings_are_further_apart_than_the_window() -> None:
    config = PlannerConfig(cooldown_s=0.0, fight_window_s=100.0, fight_threshold=2)

    plans = _rounds([(10.0, 2.0)] * 6, config, every_s=120.0)

    assert all(p.alerts == () for p in plans)


# --- leverage ----------------------------------------------------------------------------


def test_set_leverage_keeps_the_lowest_of_those_that_lower() -> None:
    five = _action(ActionKind.SET_LEVERAGE, leverage=5.0, rule="a")
    three = _action(ActionKind.SET_LEVERAGE, leverage=3.0, rule="b")

    result, _ = _plan(five, three)

    (step,) = result.steps
    assert (step.kind, step.leverage, step.reduce_only) == (ActionKind.SET_LEVERAGE, 3.0, False)
    assert result.dropped == ((five, "less protective than leverage 3 by b"),)


@pytest.mark.parametrize(
    ("current", "asked", "reason"),
    [
        (10.0, 10.0, "would not lower: leverage 10 >= current 10"),
        (10.0, 20.0, "would not lower: leverage 20 >= current 10"),
        (None, 5.0, "would not lower: the current leverage is unknown"),
    ],
)
def test_set_leverage_that_would_not_lower_is_dropped(
    current: float | None, asked: float, reason: str
) -> None:
    lever = _action(ActionKind.SET_LEVERAGE, leverage=asked)

    result, _ = _plan(lever, positions=(_position(leverage=current),))

    assert result.steps == ()
    assert result.dropped == ((lever, reason),)


def test_set_leverage_is_kept_beside_a_close() -> None:
    result, _ = _plan(_close(), _action(ActionKind.SET_LEVERAGE, leverage=2.0))

    assert _kinds(result) == [ActionKind.CLOSE, ActionKind.SET_LEVERAGE]


# --- ordering, pass-through, validation --------------------------------------------------


def _busy_results() -> list[RuleResult]:
    finding = Finding(
        rule="liquidation_distance",
        rule_type="liquidation_distance",
        level=Level.ACT,
        account=ACCOUNT,
        symbol=BTC,
        side=Side.LONG,
        metric="distance_pct",
        measured=6.0,
        threshold=8.0,
        message="close to liquidation",
    )
    return [
        RuleResult(
            findings=(finding,),
            actions=(_reduce(5.0), _action(ActionKind.ADD_MARGIN, margin=20.0)),
        ),
        RuleResult(actions=(_reduce(1.0, symbol=ETH, rule="shortfall"),)),
        RuleResult(
            actions=(
                _close(symbol=ETH, side=Side.SHORT, rule="drawdown", level=Level.CRITICAL),
                _action(ActionKind.ALERT, symbol=None, side=None, rule="stale", level=Level.WARN),
            )
        ),
        RuleResult(actions=(_action(ActionKind.PLACE_STOP, symbol=BTC, stop_price=90.0),)),
    ]


BUSY_POSITIONS = (
    _position(BTC, size=10.0, mark=100.0),  # notional 1000
    _position(ETH, size=30.0, mark=100.0),  # notional 3000
    _position(ETH, Side.SHORT, size=1.0, mark=100.0),  # notional 100, but critical
)


def test_steps_are_ordered_by_severity_then_notional_and_grouped_by_position() -> None:
    result, _ = plan(
        _busy_results(), _snapshot(*BUSY_POSITIONS), MARKETS, PlannerState(), NOW, NO_COOLDOWN
    )

    assert [(s.symbol, s.side, s.kind) for s in result.steps] == [
        (ETH, Side.SHORT, ActionKind.CLOSE),
        (ETH, Side.LONG, ActionKind.REDUCE),
        (BTC, Side.LONG, ActionKind.REDUCE),
        (BTC, Side.LONG, ActionKind.ADD_MARGIN),
        (BTC, Side.LONG, ActionKind.PLACE_STOP),
    ]
    assert [f.metric for f in result.findings] == ["distance_pct"]
    assert [a.source for a in result.alerts] == ["stale"]


def test_plan_does_not_depend_on_the_order_of_the_results() -> None:
    results = _busy_results()
    actions = [a for r in results for a in r.actions]
    random.Random(7).shuffle(actions)
    reshuffled = [RuleResult(findings=tuple(f for r in results for f in r.findings))]
    reshuffled += [RuleResult(actions=(a,)) for a in actions]

    first = plan(results, _snapshot(*BUSY_POSITIONS), MARKETS, PlannerState(), NOW, NO_COOLDOWN)
    second = plan(reshuffled, _snapshot(*BUSY_POSITIONS), MARKETS, PlannerState(), NOW, NO_COOLDOWN)

    assert second == first


def test_plan_requires_a_timezone_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _plan(now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cooldown_s": -1.0},
        {"fight_window_s": math.nan},
        {"fight_threshold": 0},
        {"max_order_notional": 0.0},
    ],
)
def test_planner_config_rejects_invalid_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PlannerConfig(**kwargs)  # type: ignore[arg-type]


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

PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[Position, MarketRules, list[Action], PlannerConfig]:
    contract_size = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0]))
    step = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001]))
    min_steps = draw(st.integers(1, 20))
    mark = draw(st.floats(0.5, 100_000.0))
    min_notional = draw(st.none() | st.floats(1.0, 200.0))
    market = MarketRules(
        symbol=BTC,
        contract_size=contract_size,
        amount_step=step,
        min_amount=min_steps * step,
        min_notional=min_notional,
    )
    side = draw(st.sampled_from(Side))
    held_steps = draw(st.integers(1, 100_000))
    position = _position(
        side=side, size=held_steps * step * contract_size, mark=mark, contract_size=contract_size
    )
    levels = st.sampled_from([Level.WARN, Level.ACT, Level.CRITICAL])
    reductions = st.builds(
        lambda fraction, level, rule: _reduce(
            position.size * fraction, side=side, level=level, rule=rule
        ),
        st.floats(0.0, 1.5),
        levels,
        st.sampled_from(["a", "b", "c"]),
    )
    closes = st.builds(lambda level: _close(side=side, level=level), levels)
    actions = draw(st.lists(reductions | closes, min_size=1, max_size=5))
    cap: float | None = None
    if draw(st.booleans()):
        # a cap of at least twice the minimum order, so every part can respect both
        smallest = market.min_order(mark) * market.contract_value(mark)
        cap = smallest * draw(st.floats(2.0, 50.0))
    return position, market, actions, PlannerConfig(cooldown_s=0.0, max_order_notional=cap)


def _reductions(result: Plan) -> list[PlannedStep]:
    return [s for s in result.steps if s.kind in {ActionKind.REDUCE, ActionKind.CLOSE}]


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


@PROPERTY
@given(_scenarios())
def test_property_every_order_is_reduce_only_in_the_closing_direction(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
) -> None:
    position, market, actions, config = scenario

    result, _ = _plan(*actions, positions=(position,), markets={BTC: market}, config=config)

    closing = "sell" if position.side is Side.LONG else "buy"
    assert all(s.reduce_only and s.order_side == closing for s in _reductions(result))
    assert len(_reductions(result)) <= 1


@PROPERTY
@given(_scenarios())
def test_property_split_parts_respect_the_cap_and_the_step(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
) -> None:
    position, market, actions, config = scenario

    result, _ = _plan(*actions, positions=(position,), markets={BTC: market}, config=config)

    value = market.contract_value(position.mark_price)
    for step in _reductions(result):
        for amount in step.amounts:
            assert amount > 0
            steps = amount / market.amount_step
            assert steps == pytest.approx(round(steps), abs=1e-6)
            if config.max_order_notional is not None:
                assert amount * value <= config.max_order_notional * (1 + 1e-9)
            if len(step.amounts) > 1:
                assert amount >= market.min_order(position.mark_price) * (1 - 1e-9)


@PROPERTY
@given(_scenarios(), st.randoms(use_true_random=False))
def test_property_steps_alerts_and_state_do_not_depend_on_the_order_of_proposals(
    scenario: tuple[Position, MarketRules, list[Action], PlannerConfig],
    rng: random.Random,
) -> None:
    position, market, actions, config = scenario
    shuffled = list(actions)
    rng.shuffle(shuffled)

    first, first_state = _plan(
        *actions, positions=(position,), markets={BTC: market}, config=config
    )
    second, second_state = _plan(
        *shuffled, positions=(position,), markets={BTC: market}, config=config
    )

    assert (second.steps, second.alerts, second_state) == (first.steps, first.alerts, first_state)
    # dropped proposals equal in position, kind, rule and reason keep their arrival order
    assert sorted(map(repr, second.dropped)) == sorted(map(repr, first.dropped))
