"""Positions as columns: what the batch paths of the risk core compute on, instead of objects.

One row per position, already in the space the solver works in: an inverse contract is its
linear twin in reciprocal-price space (:mod:`riskguard.risk.inverse`: opposite side, entry
``1/E``, mark ``1/M``), and ``quote_mark`` keeps the mark as quoted for distances. Margin data
is one padded matrix of tier tables (floors, rates, amounts), rows shared by every position
whose market uses the same table, and each position points at its row.

Building the columns reads each attribute once per position (one pass per field); that
extraction costs more than the arithmetic on them, so callers with many positions that screen
repeatedly should keep the :class:`PositionArrays` and only replace marks
(:meth:`PositionArrays.with_marks`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from operator import attrgetter, is_

import numpy as np
import numpy.typing as npt

from riskguard.domain import MarginMode, Position, Side, Tier, TierUnit
from riskguard.risk.account import isolated_collateral
from riskguard.risk.inverse import reciprocal
from riskguard.risk.margin import margin_tiers
from riskguard.risk.venues import MarginBasis, VenueProfile

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

_SIDE = attrgetter("side")
_SIZE = attrgetter("size")
_ENTRY = attrgetter("entry_price")
_MARK = attrgetter("mark_price")
_COLLATERAL = attrgetter("collateral")
_INVERSE = attrgetter("inverse")
_FEE = attrgetter("taker_fee")
_MODE = attrgetter("margin_mode")
_TIERS = attrgetter("tiers")


@dataclass(frozen=True, slots=True, eq=False)
class MarginTables:
    """Tier tables padded to one width: row ``t`` is one table, column ``k`` its tier ``k``.

    Floors past a table's last tier are infinite, so "how many floors are <= x" is the index of
    the tier in force at ``x`` (the rule of :func:`riskguard.risk.margin.tier_index`).
    """

    floors: Floats
    rates: Floats
    amounts: Floats
    counts: Ints
    size_unit: Bools


def margin_tables(tables: Sequence[tuple[Tier, ...]]) -> MarginTables:
    """The padded matrix of ``tables`` (each one as :func:`margin_tiers` returns it)."""
    width = max((len(t) for t in tables), default=1)
    shape = (len(tables), width)
    floors = np.full(shape, math.inf)
    rates = np.zeros(shape)
    amounts = np.zeros(shape)
    for row, tiers in enumerate(tables):
        floors[row, : len(tiers)] = [t.min_bound for t in tiers]
        rates[row, : len(tiers)] = [t.maintenance_margin_rate for t in tiers]
        amounts[row, : len(tiers)] = [t.maintenance_amount for t in tiers]
    return MarginTables(
        floors=floors,
        rates=rates,
        amounts=amounts,
        counts=np.array([len(t) for t in tables], dtype=np.intp),
        size_unit=np.array([t[0].unit is TierUnit.SIZE for t in tables], dtype=np.bool_),
    )


@dataclass(frozen=True, slots=True, eq=False)
class PositionArrays:
    """Liquidation inputs of many positions, one array per field, in the solver's space.

    ``sign`` is +1 for long and -1 for short (flipped for inverse contracts), ``fee`` the taker
    fee counted in the venue's threshold (0 where it counts none), ``entry_basis`` whether the
    maintenance margin is charged on the entry value, ``table`` the row of ``tables``.
    ``quote_mark`` and ``quote_entry`` are the prices as quoted and ``taker_fee`` the fee to
    close, for the stress test, which works on real prices.
    """

    sign: Floats
    size: Floats
    entry: Floats
    mark: Floats
    collateral: Floats
    fee: Floats
    entry_basis: Bools
    inverse: Bools
    quote_mark: Floats
    quote_entry: Floats
    taker_fee: Floats
    table: Ints
    tables: MarginTables

    def __len__(self) -> int:
        return len(self.size)

    def rows(self, start: int, stop: int) -> PositionArrays:
        """Rows ``start:stop`` (views, no copy), sharing the tables."""
        cut = slice(start, stop)
        return PositionArrays(
            sign=self.sign[cut],
            size=self.size[cut],
            entry=self.entry[cut],
            mark=self.mark[cut],
            collateral=self.collateral[cut],
            fee=self.fee[cut],
            entry_basis=self.entry_basis[cut],
            inverse=self.inverse[cut],
            quote_mark=self.quote_mark[cut],
            quote_entry=self.quote_entry[cut],
            taker_fee=self.taker_fee[cut],
            table=self.table[cut],
            tables=self.tables,
        )

    def with_marks(self, quote_marks: Floats) -> PositionArrays:
        """The same positions marked at ``quote_marks`` (as quoted: the real price)."""
        marks = np.asarray(quote_marks, dtype=np.float64)
        solver_marks = np.where(self.inverse, 1.0 / marks, marks)
        return replace(self, mark=solver_marks, quote_mark=marks)


def position_arrays(positions: Iterable[Position], profile: VenueProfile) -> PositionArrays:
    """The columns of ``positions`` under ``profile`` (same inputs as the scalar solver reads).

    Raises the scalar path's InputError for a position without margin data or, when isolated,
    without collateral or leverage.
    """
    rows = positions if isinstance(positions, list | tuple) else list(positions)
    n = len(rows)
    long = np.fromiter(map(is_, map(_SIDE, rows), repeat(Side.LONG)), np.bool_, n)
    sign = np.where(long, 1.0, -1.0)
    size = np.fromiter(map(_SIZE, rows), np.float64, n)
    entry = np.fromiter(map(_ENTRY, rows), np.float64, n)
    mark = np.fromiter(map(_MARK, rows), np.float64, n)
    try:
        collateral = np.fromiter(map(_COLLATERAL, rows), np.float64, n)
    except TypeError:  # some collateral is None: NaN for now, filled below from the leverage
        collateral = np.array(list(map(_COLLATERAL, rows)), dtype=np.float64)
    quote_mark, quote_entry = mark, entry
    if any(map(_INVERSE, rows)):
        inverse = np.fromiter(map(_INVERSE, rows), np.bool_, n)
        sign = np.where(inverse, -sign, sign)
        entry = np.where(inverse, 1.0 / entry, entry)
        mark = np.where(inverse, 1.0 / mark, mark)
    else:
        inverse = np.zeros(n, dtype=np.bool_)
    for i in np.flatnonzero(np.isnan(collateral)).tolist():
        p = rows[i]
        collateral[i] = isolated_collateral(reciprocal(p) if p.inverse else p)
    taker_fee = np.fromiter(map(_FEE, rows), np.float64, n)
    fee = taker_fee if profile.fee_in_threshold else np.zeros(n)
    isolated_entry = profile.isolated_basis is MarginBasis.ENTRY
    cross_entry = profile.cross_basis is MarginBasis.ENTRY
    if isolated_entry == cross_entry:
        entry_basis = np.full(n, isolated_entry, dtype=np.bool_)
    else:
        modes = map(_MODE, rows)
        isolated = np.fromiter(map(is_, modes, repeat(MarginMode.ISOLATED)), np.bool_, n)
        entry_basis = isolated if isolated_entry else ~isolated
    table, tables = _table_rows(rows, profile)
    return PositionArrays(
        sign=sign,
        size=size,
        entry=entry,
        mark=mark,
        collateral=collateral,
        fee=fee,
        entry_basis=entry_basis,
        inverse=inverse,
        quote_mark=quote_mark,
        quote_entry=quote_entry,
        taker_fee=taker_fee,
        table=table,
        tables=margin_tables(tables),
    )


def _table_rows(
    rows: Sequence[Position], profile: VenueProfile
) -> tuple[Ints, list[tuple[Tier, ...]]]:
    """Each position's row in the list of distinct tier tables.

    Positions of one market share one tiers tuple, so the tuple's identity is the key; positions
    without tiers (a flat rate or a max leverage) are keyed by those fields.
    """
    first = rows[0].tiers if rows else ()
    if first and all(map(is_, map(_TIERS, rows), repeat(first))):
        return np.zeros(len(rows), dtype=np.intp), [margin_tiers(rows[0], profile)]
    representatives = {id(p.tiers): p for p in rows}
    keyed = {key: row for row, key in enumerate(representatives)}
    index = np.array([keyed[id(p.tiers)] for p in rows], dtype=np.intp)
    tables = [margin_tiers(p, profile) if p.tiers else () for p in representatives.values()]
    flat_key = keyed.get(id(()))
    if flat_key is not None:
        by_fields: dict[tuple[float | None, float, float | None], int] = {}
        for i in np.flatnonzero(index == flat_key).tolist():
            p = rows[i]
            fields = (p.maintenance_margin_rate, p.maintenance_amount, p.max_leverage)
            row = by_fields.get(fields)
            if row is None:
                row = by_fields[fields] = len(tables)
                tables.append(margin_tiers(p, profile))
            index[i] = row
        # The row of the empty tuple is no position's now; give it a valid table all the same.
        tables[flat_key] = tables[-1]
    return index, tables
