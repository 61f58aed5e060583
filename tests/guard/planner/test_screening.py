"""Specification of the planner's screening: which proposals are dropped before merging, and why."""

from __future__ import annotations

import math

import pytest

from riskguard.domain import MarginMode, Side
from riskguard.guard.rules.base import Action, ActionKind
from tests.guard.planner.builders import ETH, _action, _close, _plan, _position, _reasons, _reduce

# --- stops -------------------------------------------------------------------------------


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


# --- leverage ----------------------------------------------------------------------------


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
