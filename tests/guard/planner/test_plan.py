"""Specification of the planner: the rules' proposals for one account → one plan of orders.

How proposals for one position merge (the most protective wins), how steps are ordered, and
what passes through; the parts have their own files beside this one.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.domain import MarketRules, Position, Side
from riskguard.guard.planner import PLANNER, PlannerConfig, PlannerState, plan
from riskguard.guard.rules.base import Action, ActionKind, Finding, Level, RuleResult
from tests.guard.planner.builders import (
    ACCOUNT,
    BTC,
    ETH,
    MARKETS,
    NO_COOLDOWN,
    NOW,
    PROPERTY,
    _action,
    _close,
    _kinds,
    _market,
    _plan,
    _position,
    _reasons,
    _reduce,
    _scenarios,
    _snapshot,
)

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


# --- pass-through, and what cannot be planned --------------------------------------------


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


def test_plan_reports_a_reduce_sized_into_a_close_as_a_close_and_drops_its_stop() -> None:
    reduce = _reduce(0.5)
    stop = _action(ActionKind.PLACE_STOP, stop_price=92.0)
    market = _market(step=0.1, min_amount=1.0)

    result, _ = _plan(reduce, stop, markets={BTC: market})

    (step,) = result.steps
    assert (step.kind, step.action, step.amounts) == (ActionKind.CLOSE, reduce, (10.0,))
    assert result.dropped == ((stop, "position is being closed"),)


# --- leverage ----------------------------------------------------------------------------


def test_set_leverage_keeps_the_lowest_of_those_that_lower() -> None:
    five = _action(ActionKind.SET_LEVERAGE, leverage=5.0, rule="a")
    three = _action(ActionKind.SET_LEVERAGE, leverage=3.0, rule="b")

    result, _ = _plan(five, three)

    (step,) = result.steps
    assert (step.kind, step.leverage, step.reduce_only) == (ActionKind.SET_LEVERAGE, 3.0, False)
    assert result.dropped == ((five, "less protective than leverage 3 by b"),)


def test_set_leverage_is_kept_beside_a_close() -> None:
    result, _ = _plan(_close(), _action(ActionKind.SET_LEVERAGE, leverage=2.0))

    assert _kinds(result) == [ActionKind.CLOSE, ActionKind.SET_LEVERAGE]


# --- ordering ----------------------------------------------------------------------------


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


# --- properties --------------------------------------------------------------------------


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
