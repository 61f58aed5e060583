"""The learned tail: the worst plausible move within one reaction time, from a symbol's own bars."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.risk.tails import (
    Bar,
    StressMove,
    learned_tail,
    one_bar_moves,
    quantile,
    stress_move,
    tail_scenarios,
    window_moves,
)

NEAR = "NEAR/USDT:USDT"
MINUTE = 60_000


def calm_bars(n: int, price: float = 100.0, wiggle: float = 0.002) -> list[Bar]:
    """Bars that each range ``wiggle`` around a flat price."""
    return [
        Bar(i * MINUTE, price, price * (1 + wiggle / 2), price * (1 - wiggle / 2), price)
        for i in range(n)
    ]


@st.composite
def bar_series(draw: st.DrawFn) -> list[Bar]:
    n = draw(st.integers(min_value=31, max_value=80))
    bars: list[Bar] = []
    close = 100.0
    for i in range(n):
        open_ = close * math.exp(draw(st.floats(-0.05, 0.05)))
        close = open_ * math.exp(draw(st.floats(-0.1, 0.1)))
        high = max(open_, close) * math.exp(draw(st.floats(0, 0.2)))
        low = min(open_, close) * math.exp(-draw(st.floats(0, 0.2)))
        bars.append(Bar(i * MINUTE, open_, high, low, close))
    return bars


@settings(max_examples=60, deadline=None)
@given(bars=bar_series(), horizon_s=st.floats(1.0, 600.0))
def test_the_tail_is_never_smaller_than_any_move_the_bars_show(
    bars: list[Bar], horizon_s: float
) -> None:
    tail = learned_tail(NEAR, bars, horizon_s, scale=1.0)

    assert tail is not None
    for previous, bar in itertools.pairwise(bars):
        # From the previous close, and within the bar, both ways.
        assert tail.down >= min(0.99, 1 - bar.low / previous.close) - 1e-12
        assert tail.up >= bar.high / previous.close - 1 - 1e-12
        assert tail.up >= bar.high / bar.low - 1 - 1e-12
    assert 0 <= tail.down < 1


@settings(max_examples=40, deadline=None)
@given(bars=bar_series())
def test_a_longer_horizon_never_learns_a_smaller_tail(bars: list[Bar]) -> None:
    short = learned_tail(NEAR, bars, 15.0)
    long = learned_tail(NEAR, bars, 150.0)

    assert short is not None
    assert long is not None
    assert long.window_bars == 3
    assert short.window_bars == 1
    assert long.down >= short.down
    assert long.up >= short.up


def test_a_one_minute_spike_after_calm_bars_is_learned_and_scaled() -> None:
    bars = calm_bars(100)
    spike = bars[60]
    bars[60] = Bar(spike.time_ms, 100.0, 127.6, 99.9, 101.0)

    tail = learned_tail(NEAR, bars, 16.0, scale=1.5)

    assert tail is not None
    assert tail.one_bar_up == pytest.approx(127.6 / 99.9 - 1)
    assert tail.up == pytest.approx(1.5 * (127.6 / 99.9 - 1))
    assert tail.bars == 100
    assert tail.window_bars == 1
    assert "learned from 100 1-minute bars" in tail.source


def test_a_poll_of_a_minute_spans_two_bars_and_sees_a_move_split_across_them() -> None:
    bars = calm_bars(100)
    # -6% in the last seconds of one minute, -6% more in the first of the next.
    bars[50] = Bar(50 * MINUTE, 100.0, 100.1, 94.0, 94.0)
    bars[51] = Bar(51 * MINUTE, 94.0, 94.1, 88.36, 90.0)

    one = learned_tail(NEAR, bars, 15.0, scale=1.0)
    two = learned_tail(NEAR, bars, 61.0, scale=1.0)

    assert one is not None
    assert two is not None
    assert two.window_bars == 2
    assert one.down == pytest.approx(1 - 88.36 / 94.1)
    assert two.down == pytest.approx(1 - 88.36 / 100.1)


def test_too_few_bars_teach_nothing() -> None:
    assert learned_tail(NEAR, calm_bars(29), 15.0) is None
    assert learned_tail(NEAR, calm_bars(30), 15.0) is not None


def test_a_bar_whose_high_and_low_do_not_bound_it_is_refused_by_name() -> None:
    bars = calm_bars(40)
    bars[7] = Bar(7 * MINUTE, 100.0, 99.0, 98.0, 100.0)

    with pytest.raises(ValueError, match=r"NEAR/USDT:USDT bar at 420000: low 98 and high 99"):
        learned_tail(NEAR, bars, 15.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0.5}, "scale must be at least 1"),
        ({"q": 0.0}, "quantile must be in"),
        ({"bar_s": 0.0}, "must be positive"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        learned_tail(NEAR, calm_bars(40), 15.0, **kwargs)  # type: ignore[arg-type]


def test_quantile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 1.0) == 100.0
    assert quantile(values, 0.99) == 99.0
    assert quantile(values, 0.5) == 50.0
    assert quantile([], 0.9) == 0.0


def test_moves_are_measured_per_bar_and_per_window() -> None:
    bars = calm_bars(5, wiggle=0.0)
    bars[2] = Bar(2 * MINUTE, 100.0, 110.0, 100.0, 110.0)

    downs, ups = one_bar_moves(bars)
    assert ups == pytest.approx([0.0, 0.1, 0.0, 0.0])
    # The spike's own bar counts its range both ways; the next bar opens back at 100.
    assert downs == pytest.approx([0.0, 1 - 100 / 110, 1 - 100 / 110, 0.0])
    _win_downs, win_ups = window_moves(bars, 2)
    assert max(win_ups) == pytest.approx(0.1)
    assert len(win_ups) == 3


def test_the_stress_move_is_the_larger_of_the_learned_tail_and_the_configured_gaps() -> None:
    bars = calm_bars(100)
    bars[60] = Bar(60 * MINUTE, 100.0, 100.1, 80.0, 99.0)
    tail = learned_tail(NEAR, bars, 16.0, scale=1.5)
    assert tail is not None

    move = stress_move(NEAR, (-0.12, 0.12), tail)

    assert move.fall == pytest.approx(-1.5 * (1 - 80.0 / 100.1))
    assert move.rise == pytest.approx(1.5 * (100.1 / 80.0 - 1))
    assert move.source.startswith("learned tail: learned from 100")
    assert move.against(long=True) == move.fall
    assert move.against(long=False) == move.rise


def test_a_calm_tail_leaves_the_configured_gaps_in_force_and_says_so() -> None:
    tail = learned_tail(NEAR, calm_bars(100), 16.0)

    move = stress_move(NEAR, (-0.12, 0.12), tail)
    unknown = stress_move(NEAR, (-0.12, 0.12), None, "fetch_ohlcv failed: timeout")

    assert (move.fall, move.rise) == (-0.12, 0.12)
    assert move.source.startswith("configured gaps (learned -0.3%/+0.3% is within them")
    assert (unknown.fall, unknown.rise) == (-0.12, 0.12)
    assert unknown.source == "configured gaps (fetch_ohlcv failed: timeout)"


def test_tail_scenarios_move_only_the_symbols_whose_tail_is_larger() -> None:
    btc = StressMove("BTC/USDT:USDT", -0.12, 0.12, "configured gaps")
    near = StressMove(NEAR, -0.3, 0.45, "learned tail: ...")

    assert tail_scenarios((-0.12, 0.12), {"BTC/USDT:USDT": btc}) == ()
    fall, rise = tail_scenarios((-0.12, 0.12), {"BTC/USDT:USDT": btc, NEAR: near})

    assert fall.move_for(NEAR) == -0.3
    assert fall.move_for("BTC/USDT:USDT") == -0.12
    assert rise.move_for(NEAR) == 0.45
    assert rise.move_for("BTC/USDT:USDT") == 0.12
    assert fall.loss_weight == 1.0
    assert rise.loss_weight == 1.0
