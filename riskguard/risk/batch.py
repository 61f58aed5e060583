"""Liquidation price and distance for many isolated positions at once (screening, dashboards).

Two paths give the same floats. Below :data:`ARRAY_MIN` positions a loop calls the scalar solver
(:func:`riskguard.risk.liquidation.solve_single_leg`) per position; numpy's fixed cost per call
would outweigh the work. Above it, :func:`liquidation_arrays` runs the same tier walk over
columns (:mod:`riskguard.risk.arrays`): every position starts in the tier in force at its mark
and steps tier by tier in lockstep with the others, each leaving the walk where the scalar
solver returns, with the same operations in the same order, so the results are equal bit for
bit (tests/risk/test_batch_arrays.py holds the two paths to that).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from riskguard.domain import Position
from riskguard.risk.account import isolated_collateral
from riskguard.risk.inverse import reciprocal
from riskguard.risk.liquidation import solve_single_leg
from riskguard.risk.margin import schedule_for
from riskguard.risk.venues import VenueProfile

if TYPE_CHECKING:
    from riskguard.risk.arrays import Bools, Floats, Ints, PositionArrays

ARRAY_MIN = 128
"""From this many positions on the batch runs on arrays (the crossover bench/risk_core.py shows)."""


def liquidation_distances(
    positions: Iterable[Position], profile: VenueProfile
) -> list[tuple[float | None, float | None]]:
    """``(liquidation_price, distance)`` per isolated position, in order.

    The same numbers as :func:`riskguard.risk.assess_isolated`, without the other figures.
    Distance is the fraction of the mark to the liquidation price, negative when past it.
    Inverse positions are mapped through :mod:`riskguard.risk.inverse`.
    """
    rows = positions if isinstance(positions, list | tuple) else list(positions)
    if len(rows) < ARRAY_MIN:
        return scalar_liquidation_distances(rows, profile)
    from riskguard.risk.arrays import position_arrays

    price, distance = liquidation_arrays(position_arrays(rows, profile))
    out = list(zip(price.tolist(), distance.tolist(), strict=True))
    for i in _nan_rows(price):
        out[i] = (None, None)
    return out


def scalar_liquidation_distances(
    positions: Sequence[Position], profile: VenueProfile
) -> list[tuple[float | None, float | None]]:
    """:func:`liquidation_distances` one position at a time: the reference of the array path."""
    out: list[tuple[float | None, float | None]] = []
    append = out.append
    for original in positions:
        p = reciprocal(original) if original.inverse else original
        schedule = schedule_for(p, profile)
        collateral = isolated_collateral(p)
        lp, safe = solve_single_leg(
            collateral, p.side.sign, p.size, p.entry_price, p.mark_price, schedule
        )
        mark = original.mark_price
        if lp is not None and original.inverse:
            lp = 1.0 / lp
        if lp is None:
            append((None, None))
        else:
            gap = abs(mark - lp) / mark
            append((lp, gap if safe else -gap))
    return out


CHUNK = 8192
"""Rows solved together: the temporaries of a chunk stay in cache and their memory is reused."""


def liquidation_arrays(a: PositionArrays) -> tuple[Floats, Floats]:
    """``(liquidation price, distance)`` per row, NaN in both where there is no price.

    Prices and distances as quoted (inverse contracts mapped back from reciprocal space).
    """
    import numpy as np

    n = len(a)
    price = np.empty(n)
    distance = np.empty(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, n, CHUNK):
            part = a.rows(lo, lo + CHUNK)
            lp, safe = solve_arrays(part)
            if part.inverse.any():
                lp = np.where(part.inverse, 1.0 / lp, lp)
            gap = np.abs(part.quote_mark - lp) / part.quote_mark
            price[lo : lo + CHUNK] = lp
            distance[lo : lo + CHUNK] = np.where(safe, gap, -gap)
    return price, distance


def solve_arrays(a: PositionArrays) -> tuple[Floats, Bools]:
    """:func:`~riskguard.risk.liquidation.solve_single_leg` per row: (price or NaN, safe)."""
    import numpy as np

    t = a.tables
    width = t.floors.shape[1]
    s, q, e, m, fee, entry_basis = a.sign, a.size, a.entry, a.mark, a.fee, a.entry_basis
    k = -s * q * e + a.collateral
    row = a.table
    count = t.counts[row]
    size_unit = t.size_unit[row]
    # The tier in force at the mark: how many of the table's floors past the first are <= value.
    charged = np.where(entry_basis, e, m)
    selector = np.where(size_unit, q, q * charged)
    if len(t.counts) == 1:
        index = np.searchsorted(t.floors[0, 1 : t.counts[0]], selector, side="right")
    else:
        index = np.zeros(len(q), dtype=np.intp)
        for col in range(1, width):
            index += t.floors[row, col] <= selector
    base = row * width
    rate = t.rates.ravel()[base + index]
    amount = t.amounts.ravel()[base + index]
    free_slope = q * (s - fee)
    slope = np.where(entry_basis, free_slope, q * (s - rate - fee))
    const = np.where(entry_basis, amount - q * e * rate, amount)
    walk = (count > 1) & ~entry_basis & ~size_unit
    price = np.full(len(q), np.nan)
    # A margin that would be negative at the mark is charged as zero (never for walked rows).
    clamped = ~walk & (q * charged * rate < amount)
    if clamped.any():
        slope = np.where(clamped, free_slope, slope)
        const = np.where(clamped, 0.0, const)
    safe = k + const + slope * m > 0
    fixed = np.flatnonzero(~walk)
    if len(fixed):
        price[fixed] = _fixed_tier_roots(
            k[fixed],
            const[fixed],
            slope[fixed],
            free_slope[fixed],
            q[fixed] * np.where(entry_basis[fixed], e[fixed], 1.0),
            rate[fixed],
            amount[fixed],
            entry_basis[fixed],
        )
    rows = np.flatnonzero(walk)
    if len(rows):
        price[rows] = _walk_tiers(
            k[rows],
            slope[rows],
            const[rows],
            safe[rows],
            index[rows],
            count[rows] - 1,
            base[rows],
            s[rows],
            q[rows],
            fee[rows],
            t.floors.ravel(),
            t.rates.ravel(),
            t.amounts.ravel(),
        )
    return price, safe


def _fixed_tier_roots(
    k: Floats,
    const: Floats,
    slope: Floats,
    free_slope: Floats,
    charged_per_price: Floats,
    rate: Floats,
    amount: Floats,
    entry_basis: Bools,
) -> Floats:
    """Roots where the tier cannot change with the price (one tier, entry basis, size tiers).

    ``charged_per_price`` is ``q * E`` on the entry basis and ``q`` on the mark basis: a root
    past which the mark-basis margin turns negative is solved again with the margin at zero.
    """
    import numpy as np

    root = -(k + const) / slope
    root = np.where((slope != 0.0) & (root > 0.0), root, np.nan)
    charged = np.where(entry_basis, charged_per_price, charged_per_price * root)
    again = (charged * rate < amount) & ~np.isnan(root)
    if again.any():
        second = -k / free_slope
        second = np.where((free_slope != 0.0) & (second > 0.0), second, np.nan)
        root = np.where(again, second, root)
    return root


def _walk_tiers(
    k: Floats,
    slope: Floats,
    const: Floats,
    safe: Bools,
    index: Ints,
    last: Ints,
    base: Ints,
    s: Floats,
    q: Floats,
    fee: Floats,
    floors: Floats,
    rates: Floats,
    amounts: Floats,
) -> Floats:
    """The scalar tier walk in lockstep: rows leave where ``solve_single_leg`` returns."""
    import numpy as np

    out = np.full(len(k), np.nan)
    step = np.where((slope > 0) == safe, -1, 1)
    live = np.arange(len(k))
    while len(live):
        root = -(k + const) / slope
        low = np.where(index == 0, 0.0, floors[base + index] / q)
        at_last = index == last
        high = np.where(at_last, np.inf, floors[base + np.where(at_last, index, index + 1)] / q)
        hit = (slope != 0.0) & (low <= root) & (root <= high) & (root > 0.0)
        out[live[hit]] = root[hit]
        nxt = index + step
        # Rows stepping off the end of their table have no price: they stay NaN.
        keep = np.flatnonzero(~hit & (nxt >= 0) & (nxt <= last))
        live, k, safe, index, nxt = live[keep], k[keep], safe[keep], index[keep], nxt[keep]
        last, base, step, s, q, fee = _rows(keep, last, base, step, s, q, fee)
        boundary = floors[base + np.where(step < 0, index, nxt)] / q
        const = amounts[base + nxt]
        slope = q * (s - rates[base + nxt] - fee)
        jumped = (k + const + slope * boundary > 0) != safe
        out[live[jumped]] = boundary[jumped]
        keep = np.flatnonzero(~jumped)
        live, k, safe, index = live[keep], k[keep], safe[keep], nxt[keep]
        last, base, step, s, q, fee = _rows(keep, last, base, step, s, q, fee)
        slope, const = slope[keep], const[keep]
    return out


def _rows(keep: Ints, *columns: Any) -> tuple[Any, ...]:
    """The rows ``keep`` of every column (the walk's per-row constants, filtered together)."""
    return tuple(column[keep] for column in columns)


def _nan_rows(values: Floats) -> list[int]:
    import numpy as np

    return [int(i) for i in np.flatnonzero(np.isnan(values))]
