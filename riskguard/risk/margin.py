"""Maintenance-margin schedules: which tier applies, and the threshold a position must keep.

The *threshold* (called the requirement here) is what equity is compared with for liquidation:
the venue's maintenance margin, plus the taker fee to close on venues that count it (OKX, Gate).
Within one tier the requirement is linear in the price the position is marked at, so every
liquidation and safe-size problem in this package reduces to piecewise-linear root finding.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from riskguard.domain import MarginMode, Position, Tier, TierUnit
from riskguard.errors import InputError, UnsupportedError
from riskguard.risk.venues import MarginBasis, VenueProfile


@lru_cache(maxsize=4096)
def _flat_tiers(rate: float, amount: float) -> tuple[Tier, ...]:
    return split_negative_margin((Tier(0.0, float("inf"), rate, amount),))


def split_negative_margin(
    tiers: tuple[Tier, ...], unit_price: float | None = None
) -> tuple[Tier, ...]:
    """Tiers whose maintenance margin never goes negative.

    ``notional * rate - amount`` is negative below ``amount / rate``; the venue charges zero there.
    A notional tier reaching below that point is split into a zero-rate part and the rest, so
    the margin stays linear within every tier and the solver needs no special case. (A flat
    "0.5% minus 50" bracket given for a 5,000 notional position charges 0, not -25.)
    Size tiers are split only for a known price (``unit_price``: the value of one base unit).
    """
    if tiers[0].unit is TierUnit.SIZE:
        if unit_price is None:
            return tiers
        scale = unit_price
    else:
        scale = 1.0
    out: list[Tier] = []
    changed = False
    for t in tiers:
        rate, amount = t.maintenance_margin_rate, t.maintenance_amount
        zero_at = amount / (rate * scale) if rate > 0 else (math.inf if amount > 0 else 0.0)
        if zero_at <= t.min_bound:
            out.append(t)
            continue
        changed = True
        free = Tier(t.min_bound, min(zero_at, t.max_bound), 0.0, 0.0, t.max_leverage, t.unit)
        out.append(free)
        if zero_at < t.max_bound:
            out.append(Tier(zero_at, t.max_bound, rate, amount, t.max_leverage, t.unit))
    return tuple(out) if changed else tiers


_FLOORED: dict[int, tuple[tuple[Tier, ...], tuple[Tier, ...]]] = {}
_FLOORED_LIMIT = 4096


def _floored(tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
    """:func:`split_negative_margin`, cached by the identity of the tiers tuple.

    Positions of one market share one tiers tuple, so this is a dictionary hit per position; the
    cache keeps the tuple alive, so an id is never reused while its entry exists.
    """
    hit = _FLOORED.get(id(tiers))
    if hit is not None and hit[0] is tiers:
        return hit[1]
    result = split_negative_margin(tiers)
    if len(_FLOORED) >= _FLOORED_LIMIT:
        _FLOORED.clear()
    _FLOORED[id(tiers)] = (tiers, result)
    return result


_FLOORS: dict[int, tuple[tuple[Tier, ...], tuple[float, ...]]] = {}


def tier_floors(tiers: tuple[Tier, ...]) -> tuple[float, ...]:
    """The lower bounds of every tier but the first, cached by the identity of ``tiers``.

    Tiers are sorted by lower bound, so the number of these floors at or below a value is the
    index :func:`tier_index` finds, and ``bisect_right`` counts them without a Python loop.
    """
    hit = _FLOORS.get(id(tiers))
    if hit is not None and hit[0] is tiers:
        return hit[1]
    floors = tuple(t.min_bound for t in tiers[1:])
    if len(_FLOORS) >= _FLOORED_LIMIT:
        _FLOORS.clear()
    _FLOORS[id(tiers)] = (tiers, floors)
    return floors


def tier_index(tiers: Sequence[Tier], value: float) -> int:
    """Index of the tier that ``value`` falls in: the last tier whose lower bound is <= value.

    Values below the first tier's lower bound use the first tier, and values past the last
    tier's upper bound use the last one (venues cap position size, so this only matters for
    hypothetical stress prices).
    """
    index = 0
    for i in range(1, len(tiers)):
        if tiers[i].min_bound <= value:
            index = i
        else:
            break
    return index


@dataclass(slots=True)  # not frozen: built per position per call, frozen init costs 1 us
class Schedule:
    """A position's maintenance-margin schedule under a venue profile.

    ``price_dependent`` is true when the tier depends on the price the position is marked at
    (notional tiers charged on the mark value): then the tier at liquidation is the one for the
    notional at the liquidation price.
    """

    tiers: tuple[Tier, ...]
    basis: MarginBasis
    fee_rate: float
    size: float
    entry_price: float
    price_dependent: bool
    floors: tuple[float, ...] = ()
    """The lower bounds of ``tiers[1:]`` (see :func:`tier_floors`)."""

    def index_at(self, price: float) -> int:
        """The tier in force when the position is marked at ``price`` (:func:`tier_index`)."""
        floors = self.floors
        if not floors:
            return 0
        if self.tiers[0].unit is TierUnit.SIZE:
            return bisect_right(floors, self.size)
        base = price if self.basis is MarginBasis.MARK else self.entry_price
        return bisect_right(floors, self.size * base)

    def price_floor(self, index: int) -> float:
        """Lowest mark price at which tier ``index`` applies (price-dependent schedules)."""
        return 0.0 if index == 0 else self.tiers[index].min_bound / self.size

    def maintenance_margin(self, price: float) -> float:
        """The venue's maintenance margin with the position marked at ``price`` (no fee term)."""
        tier = self.tiers[self.index_at(price)]
        base = price if self.basis is MarginBasis.MARK else self.entry_price
        return max(0.0, self.size * base * tier.maintenance_margin_rate - tier.maintenance_amount)

    def clamped_at(self, index: int, price: float) -> bool:
        """True when tier ``index``'s linear margin is negative at ``price`` (charged as zero).

        Notional tiers are split so this never happens; size tiers (fixed by size, charged on the
        mark value) can still reach it at very low prices.
        """
        tier = self.tiers[index]
        base = price if self.basis is MarginBasis.MARK else self.entry_price
        return self.size * base * tier.maintenance_margin_rate < tier.maintenance_amount

    def requirement(self, price: float) -> float:
        """The liquidation threshold at ``price``: maintenance margin plus any fee term."""
        return self.maintenance_margin(price) + self.size * price * self.fee_rate

    def clamp_price(self) -> float | None:
        """For size tiers charged on the mark: the price below which the margin would be negative.

        None when no such price exists (notional tiers are split in advance instead).
        """
        if self.tiers[0].unit is not TierUnit.SIZE or self.basis is not MarginBasis.MARK:
            return None
        tier = self.tiers[self.index_at(0.0)]
        if tier.maintenance_amount <= 0 or tier.maintenance_margin_rate <= 0:
            return None
        return tier.maintenance_amount / (self.size * tier.maintenance_margin_rate)

    def linear_terms(
        self, index: int, sign: int, price: float | None = None
    ) -> tuple[float, float]:
        """``(slope, constant)`` of ``sign*size*P - requirement(P)`` within tier ``index``.

        The entry-price term ``-sign*size*entry`` is not included; callers add it. With
        ``price`` given, a margin that would be negative there is charged as zero.
        """
        tier = self.tiers[index]
        q = self.size
        if price is not None and self.clamped_at(index, price):
            return q * (sign - self.fee_rate), 0.0
        if self.basis is MarginBasis.MARK:
            return (
                q * (sign - tier.maintenance_margin_rate - self.fee_rate),
                tier.maintenance_amount,
            )
        return (
            q * (sign - self.fee_rate),
            tier.maintenance_amount - q * self.entry_price * tier.maintenance_margin_rate,
        )


def tiers_for(position: Position, profile: VenueProfile) -> tuple[Tier, ...]:
    """The tiers that describe ``position``'s maintenance margin on ``profile``'s venue."""
    if position.inverse:
        raise UnsupportedError(
            f"{position.symbol}: an inverse position must be mapped to reciprocal-price space "
            "(riskguard.risk.inverse.reciprocal) before its margin schedule is built"
        )
    return margin_tiers(position, profile)


def margin_tiers(position: Position, profile: VenueProfile) -> tuple[Tier, ...]:
    """:func:`tiers_for` without the inverse check: the tiers are the same in reciprocal space.

    Positions of one market get the identical tuple (cached), so callers may group by identity.
    """
    if position.tiers:
        return _floored(position.tiers)
    if position.maintenance_margin_rate is not None:
        return _flat_tiers(position.maintenance_margin_rate, position.maintenance_amount)
    if profile.mmr_from_max_leverage and position.max_leverage is not None:
        return _flat_tiers(1.0 / (2.0 * position.max_leverage), 0.0)
    hint = " or max_leverage" if profile.mmr_from_max_leverage else ""
    raise InputError(
        f"{position.symbol}: no maintenance margin data; "
        f"give tiers or maintenance_margin_rate{hint}"
    )


def schedule_for(position: Position, profile: VenueProfile) -> Schedule:
    """Build the schedule for ``position`` (its own margin mode decides the basis)."""
    tiers = tiers_for(position, profile)
    basis = (
        profile.isolated_basis
        if position.margin_mode is MarginMode.ISOLATED
        else profile.cross_basis
    )
    return Schedule(
        tiers,
        basis,
        position.taker_fee if profile.fee_in_threshold else 0.0,
        position.size,
        position.entry_price,
        len(tiers) > 1 and basis is MarginBasis.MARK and tiers[0].unit is TierUnit.NOTIONAL,
        tier_floors(tiers),
    )


def with_cumulative_amounts(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """Fill in maintenance amounts so the maintenance margin is continuous across tiers.

    ``cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1})``, ``cum_1 = 0``: the rule Binance, Bybit
    and Hyperliquid use. For venues whose tier data carries no amount (ccxt's unified tiers).
    """
    ordered = sorted(tiers, key=lambda t: t.min_bound)
    result: list[Tier] = []
    cum = 0.0
    previous_rate = 0.0
    for i, tier in enumerate(ordered):
        if i > 0:
            cum += tier.min_bound * (tier.maintenance_margin_rate - previous_rate)
        previous_rate = tier.maintenance_margin_rate
        result.append(
            Tier(
                tier.min_bound,
                tier.max_bound,
                tier.maintenance_margin_rate,
                cum,
                tier.max_leverage,
                tier.unit,
            )
        )
    return tuple(result)


def tiers_from_max_leverage(
    brackets: Sequence[tuple[float, float]], unit: TierUnit = TierUnit.NOTIONAL
) -> tuple[Tier, ...]:
    """Hyperliquid-style margin table ``[(lower_bound, max_leverage), ...]`` to tiers.

    Each tier's rate is ``1 / (2 * max_leverage)`` with continuous deductions.
    """
    if not brackets:
        raise InputError("margin table: at least one (lower_bound, max_leverage) row is needed")
    ordered = sorted(brackets)
    tiers = []
    for i, (lower, max_lev) in enumerate(ordered):
        upper = ordered[i + 1][0] if i + 1 < len(ordered) else float("inf")
        tiers.append(Tier(lower, upper, 1.0 / (2.0 * max_lev), 0.0, max_lev, unit))
    return with_cumulative_amounts(tiers)
