"""Specification of the cooldown: after the guard acted on a position, what waits and what not."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskguard.domain import Side
from riskguard.guard.planner import PlannerConfig, PlannerState, PositionMemory, position_key
from riskguard.guard.planner.memory import prune
from riskguard.guard.rules.base import ActionKind, Level
from tests.guard.planner.builders import (
    ACCOUNT,
    BTC,
    NOW,
    _action,
    _kinds,
    _plan,
    _reasons,
    _reduce,
)

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


@given(st.lists(st.floats(0.0, 600.0), max_size=3), st.sampled_from([0.0, 60.0, 300.0]))
def test_a_cycle_with_nothing_proposed_forgets_what_an_acting_cycle_would(
    ages: list[float], cooldown: float
) -> None:
    config = PlannerConfig(cooldown_s=cooldown, fight_window_s=120.0)
    symbols = [BTC, "ETH/USDT:USDT", "SOL/USDT:USDT"]
    state = PlannerState(
        {
            position_key(ACCOUNT, symbol, Side.LONG): PositionMemory(
                last_acted_s=(NOW - timedelta(seconds=age)).timestamp(),
                reopened_s=((NOW - timedelta(seconds=age / 2)).timestamp(),),
            )
            for symbol, age in zip(symbols, ages, strict=False)
        }
    )

    quiet, after = _plan(state=state, config=config)

    assert quiet.steps == quiet.alerts == quiet.dropped == ()
    assert (
        after.to_dict() == PlannerState(prune(state.positions, NOW.timestamp(), config)).to_dict()
    )
