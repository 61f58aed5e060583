"""The stress scenarios stay finite and every fall above -100%, however wild the volatility."""

from __future__ import annotations

import math

import pytest

from riskguard.risk.scenarios import span_scenarios


def test_a_wild_volatility_gives_finite_moves_and_no_fall_of_a_whole_price() -> None:
    # A mark that jumped a million-fold between two samples makes an absurd EWMA sigma; the
    # stress set must stay finite and every fall above -100% (else the cycle cannot evaluate).
    scenarios = span_scenarios(10.0, 90_000.0)

    moves = [s.move for s in scenarios]
    assert all(math.isfinite(m) for m in moves)
    assert min(moves) > -1.0
    assert max(moves) == pytest.approx(math.expm1(20.0))
