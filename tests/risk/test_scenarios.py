"""The stress scenarios stay finite and every fall above -100%, however wild the volatility."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.risk.scenarios import log_move, span_scenarios


def test_a_wild_volatility_gives_finite_moves_and_no_fall_of_a_whole_price() -> None:
    # A mark that jumped a million-fold between two samples makes an absurd EWMA sigma; the
    # stress set must stay finite and every fall above -100% (else the cycle cannot evaluate).
    scenarios = span_scenarios(10.0, 90_000.0)

    moves = [s.move for s in scenarios]
    assert all(math.isfinite(m) for m in moves)
    assert min(moves) > -1.0
    assert max(moves) == pytest.approx(math.expm1(20.0))


@given(
    sigmas=st.dictionaries(
        st.sampled_from(["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]),
        st.floats(0.0, 1.0),
        max_size=4,
    ),
    default=st.floats(0.0, 1.0),
    horizon=st.floats(0.1, 100_000.0),
    scan=st.floats(0.5, 6.0),
    multiple=st.floats(1.0, 5.0),
)
def test_every_span_move_is_the_bounded_log_move_of_its_fraction_of_the_scan_range(
    sigmas: dict[str, float], default: float, horizon: float, scan: float, multiple: float
) -> None:
    # The same floats as log_move(fraction * scan_sigmas * sigma * sqrt(horizon)), bit for bit:
    # the guard compares settings between cycles, so a cheaper build must not move a last digit.
    scenarios = span_scenarios(
        sigmas,
        horizon,
        scan_sigmas=scan,
        extreme_multiple=multiple,
        default_sigma_per_sqrt_s=default,
    )

    fractions = [f for f in (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0) for _ in (0, 1)]
    fractions += [multiple, -multiple]
    root_h = math.sqrt(horizon)
    for scenario, fraction in zip(scenarios, fractions, strict=True):
        assert scenario.move == log_move(fraction * scan * default * root_h)
        assert scenario.symbol_moves == tuple(
            (s, log_move(fraction * scan * sigma * root_h)) for s, sigma in sorted(sigmas.items())
        )
