"""The batch liquidation path over arrays gives the scalar solver's floats, bit for bit.

The scalar loop (``scalar_liquidation_distances``: ``solve_single_leg`` per position) is the
reference. Generated batches cover every venue profile, both sides, entry and mark bases, flat
rates, notional tiers walked from the mark, OKX size tiers, Hyperliquid tables, inverse
contracts, collateral derived from the leverage, one table shared by the whole batch and a
table per position.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import Position, Side, Tier, TierUnit
from riskguard.risk import PROFILES, get_profile, liquidation_distances
from riskguard.risk.arrays import position_arrays
from riskguard.risk.batch import ARRAY_MIN, liquidation_arrays, scalar_liquidation_distances
from tests.risk.test_properties import VENUES, cases

PROPERTY = settings(max_examples=150, deadline=None)


def _as_inverse(p: Position) -> Position:
    """The same exposure as a coin-margined contract: size in USD, collateral in the coin.

    Notional tiers drawn for the USD value would all lie above the coin value: a flat rate
    stands in for them.
    """
    usd_tiers = bool(p.tiers) and p.tiers[0].unit is TierUnit.NOTIONAL
    return replace(
        p,
        symbol="BTC/USD:BTC",
        size=p.size * p.entry_price,
        collateral=None if p.collateral is None else p.collateral / p.entry_price,
        tiers=() if usd_tiers else p.tiers,
        maintenance_margin_rate=0.005 if usd_tiers else p.maintenance_margin_rate,
        inverse=True,
    )


def _from_leverage(p: Position) -> Position:
    """Collateral left out: the solver derives it from the leverage."""
    assert p.collateral is not None
    return replace(p, collateral=None, leverage=p.size * p.entry_price / p.collateral)


KINDS = {"as drawn": lambda p: p, "inverse": _as_inverse, "from leverage": _from_leverage}


@st.composite
def mixed_batches(draw: st.DrawFn) -> tuple[str, list[Position]]:
    """Positions of one venue, each with its own table, some inverse, some without collateral."""
    venue = draw(st.sampled_from(VENUES))
    drawn = draw(st.lists(cases(venues=[venue]), min_size=1, max_size=10))
    kinds = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=len(drawn), max_size=len(drawn)))
    return venue, [KINDS[k](c.position) for c, k in zip(drawn, kinds, strict=True)]


@st.composite
def shared_table_batches(draw: st.DrawFn) -> tuple[str, list[Position]]:
    """One market's table for every position, sizes and marks varied around a drawn case."""
    case = draw(cases())
    factors = draw(
        st.lists(st.tuples(st.floats(0.05, 20.0), st.floats(0.7, 1.4)), min_size=1, max_size=12)
    )
    p = case.position
    batch = [
        replace(p, size=p.size * f, collateral=case.collateral * f, mark_price=p.mark_price * m)
        for f, m in factors
    ]
    return case.venue, batch


@st.composite
def size_tiers_with_deductions(draw: st.DrawFn) -> tuple[str, list[Position]]:
    """Size tiers carrying a maintenance amount: at a low enough price the margin is charged as
    zero (the clamp), at the mark or only at the root."""
    case = draw(cases(venues=VENUES))
    p = case.position
    rate = draw(st.floats(0.002, 0.05))
    deduction = draw(st.floats(0.05, 3.0)) * rate * p.size * p.entry_price
    cut = p.size * draw(st.floats(0.3, 3.0))
    tiers = (
        Tier(0.0, cut, rate, deduction, unit=TierUnit.SIZE),
        Tier(cut, math.inf, rate * 2, deduction * 2, unit=TierUnit.SIZE),
    )
    return case.venue, [replace(p, tiers=tiers, maintenance_margin_rate=None)]


def _as_optional(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def _array_path(venue: str, positions: list[Position]) -> list[tuple[float | None, float | None]]:
    price, distance = liquidation_arrays(position_arrays(positions, get_profile(venue)))
    return list(zip(_as_optional(price.tolist()), _as_optional(distance.tolist()), strict=True))


@PROPERTY
@given(batch=st.one_of(mixed_batches(), shared_table_batches(), size_tiers_with_deductions()))
def test_array_path_equals_the_scalar_solver_exactly(batch: tuple[str, list[Position]]) -> None:
    venue, positions = batch

    result = _array_path(venue, positions)

    assert result == scalar_liquidation_distances(positions, get_profile(venue))


@settings(max_examples=60, deadline=None)
@given(
    batch=st.one_of(mixed_batches(), shared_table_batches()),
    moves=st.lists(st.floats(0.5, 2.0), min_size=12, max_size=12),
)
def test_columns_marked_anew_equal_positions_built_at_the_new_marks(
    batch: tuple[str, list[Position]], moves: list[float]
) -> None:
    venue, positions = batch
    profile = get_profile(venue)
    marks = [p.mark_price * m for p, m in zip(positions, moves, strict=False)]
    moved = [replace(p, mark_price=m) for p, m in zip(positions, marks, strict=False)]

    columns = position_arrays(positions, profile).with_marks(np.array(marks))

    price, distance = liquidation_arrays(columns)
    result = list(zip(_as_optional(price.tolist()), _as_optional(distance.tolist()), strict=True))
    assert result == scalar_liquidation_distances(moved, profile)


@settings(max_examples=40, deadline=None)
@given(batch=st.one_of(mixed_batches(), shared_table_batches()))
def test_large_batches_take_the_array_path_with_the_same_results(
    batch: tuple[str, list[Position]],
) -> None:
    venue, positions = batch
    many = (positions * ARRAY_MIN)[: max(ARRAY_MIN, len(positions))]

    result = liquidation_distances(many, get_profile(venue))

    assert result == scalar_liquidation_distances(many, get_profile(venue))


def test_a_long_paid_in_full_has_no_price_on_either_path() -> None:
    # Collateral 1.5x the value: no fall of the price reaches the threshold (None, None).
    paid = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        1.0,
        100.0,
        100.0,
        collateral=150.0,
        maintenance_margin_rate=0.01,
    )
    batch = [paid] * ARRAY_MIN

    result = liquidation_distances(batch, PROFILES["binance"])

    assert result == [(None, None)] * ARRAY_MIN
    assert _array_path("binance", [paid]) == [(None, None)]


def test_a_size_tier_charged_as_zero_at_the_mark_gives_the_scalar_root_on_arrays() -> None:
    # Short 1 at 100 on 10: a 1% size tier less 1.05 charges nothing below 105 (the mark is 100),
    # so equity 110 - P meets a zero threshold at 110, where the margin would be 0.05.
    tiers = (Tier(0.0, math.inf, 0.01, 1.05, unit=TierUnit.SIZE),)
    short = Position("BTC/USDT:USDT", Side.SHORT, 1.0, 100.0, 100.0, collateral=10.0, tiers=tiers)

    result = _array_path("okx", [short])

    assert result == scalar_liquidation_distances([short], PROFILES["okx"])
    assert result[0][0] == pytest.approx(110.0)
