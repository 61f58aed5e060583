"""Liquidation figures for every position of an account, isolated and cross.

Isolated positions stand alone on their collateral. Cross positions share the wallet: each
symbol's liquidation price is found with every other cross position held at its mark (their
unrealised PnL counts for the account, their requirements against it), and the legs of one symbol
(hedge mode) move together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.errors import InputError
from riskguard.risk.distance import distance_fraction
from riskguard.risk.liquidation import (
    Leg,
    bankruptcy_price,
    legs_liquidation,
    single_leg_bankruptcy,
    solve_single_leg,
)
from riskguard.risk.margin import Schedule, schedule_for
from riskguard.risk.venues import VenueProfile, get_profile


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """Liquidation figures of one position.

    ``equity`` is the position's own (collateral + unrealised PnL) when isolated and the cross
    account's equity when cross. ``margin_ratio`` is requirement / equity, normalised so that 1.0
    means liquidation (infinite when equity is zero or negative). ``distance`` is the fraction of
    the mark to liquidation (None when no liquidation price exists, negative when past it).
    """

    symbol: str
    side: str
    margin_mode: MarginMode
    size: float
    mark_price: float
    notional: float
    unrealized_pnl: float
    collateral: float
    equity: float
    maintenance_margin: float
    requirement: float
    margin_ratio: float
    effective_leverage: float
    liquidation_price: float | None
    bankruptcy_price: float | None
    distance: float | None

    @property
    def safe(self) -> bool:
        """True while equity is above the liquidation threshold."""
        return self.margin_ratio < 1.0


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """Liquidation figures of an account: the cross part, and every position in input order."""

    venue: str
    approximate: bool
    wallet_balance: float
    cross_equity: float
    cross_requirement: float
    cross_margin_ratio: float | None
    equity: float
    maintenance_margin: float
    total_notional: float
    effective_leverage: float
    positions: tuple[PositionRisk, ...]

    @property
    def margin_ratio(self) -> float:
        """The ratio nearest liquidation: the cross account's, or the worst isolated position's."""
        ratios = [p.margin_ratio for p in self.positions]
        if self.cross_margin_ratio is not None:
            ratios.append(self.cross_margin_ratio)
        return max(ratios, default=0.0)


def ratio(requirement: float, equity: float) -> float:
    """Requirement / equity with 1.0 at liquidation; infinite once equity is gone."""
    if equity <= 0.0:
        return math.inf
    return requirement / equity


def isolated_collateral(position: Position) -> float:
    """The isolated margin: as given, or the initial margin implied by the leverage.

    In the settlement currency: quote for linear contracts, the base coin for inverse ones, whose
    ``size`` is a quote value (so the implied margin is ``size / entry / leverage`` coins).
    """
    if position.collateral is not None:
        return position.collateral
    if position.leverage is not None:
        if position.inverse:
            return position.size / position.entry_price / position.leverage
        return position.size * position.entry_price / position.leverage
    raise InputError(
        f"{position.symbol}: isolated position needs collateral (or leverage to derive it)"
    )


def closed_part_equity(position: Position, closed: float, average: float, fee: float) -> float:
    """What closing ``closed`` of an isolated position at ``average`` moved to the wallet.

    Under proportional release (every venue profile here) the closed part takes its share of
    the isolated margin with it, plus its realised PnL, less ``fee``: that is the closed part's
    equity at the fill. ``closed`` is in the position's size units (base for linear contracts,
    quote value for inverse ones, whose money figures are in the base coin). It can be
    negative: a part closed past its bankruptcy price takes money from the wallet.
    """
    if not (math.isfinite(closed) and 0 < closed <= position.size * (1 + 1e-9)):
        raise ValueError(f"closed must be in (0, size], got {closed}")
    if not (math.isfinite(average) and average > 0):
        raise ValueError(f"average must be a positive finite price, got {average}")
    released = isolated_collateral(position) * min(closed, position.size) / position.size
    s = position.side.sign
    if position.inverse:
        realized = s * closed * (1.0 / position.entry_price - 1.0 / average)
    else:
        realized = s * closed * (average - position.entry_price)
    return released + realized - fee


def assess_isolated(position: Position, profile: VenueProfile) -> PositionRisk:
    """Figures for one isolated position on its own collateral."""
    if position.inverse:
        from riskguard.risk.inverse import from_reciprocal, reciprocal

        return from_reciprocal(assess_isolated(reciprocal(position), profile), position)
    schedule = schedule_for(position, profile)
    s = 1 if position.side is Side.LONG else -1
    collateral = isolated_collateral(position)
    mark = position.mark_price
    upnl = s * position.size * (mark - position.entry_price)
    equity = collateral + upnl
    mm = schedule.maintenance_margin(mark)
    req = mm + position.size * mark * schedule.fee_rate
    lp = solve_single_leg(collateral, s, position.size, position.entry_price, mark, schedule)[0]
    notional = position.size * mark
    r = ratio(req, equity)
    return PositionRisk(
        symbol=position.symbol,
        side=position.side.value,
        margin_mode=MarginMode.ISOLATED,
        size=position.size,
        mark_price=mark,
        notional=notional,
        unrealized_pnl=upnl,
        collateral=collateral,
        equity=equity,
        maintenance_margin=mm,
        requirement=req,
        margin_ratio=r,
        effective_leverage=notional / equity if equity > 0 else math.inf,
        liquidation_price=lp,
        bankruptcy_price=single_leg_bankruptcy(collateral, s, position.size, position.entry_price),
        distance=distance_fraction(mark, lp, r < 1.0),
    )


def assess_account(snapshot: AccountSnapshot, profile: VenueProfile | None = None) -> AccountRisk:
    """Figures for every position of ``snapshot`` (input order) and for the account."""
    profile = profile or get_profile(snapshot.venue)
    originals = snapshot.positions
    inverse = settlement_is_coin(originals)
    if inverse:
        from riskguard.risk.inverse import reciprocal

        positions = tuple(reciprocal(p) for p in originals)
    else:
        positions = originals
    results: list[PositionRisk | None] = [None] * len(positions)
    cross = [(i, p) for i, p in enumerate(positions) if p.margin_mode is MarginMode.CROSS]
    for i, p in enumerate(positions):
        if p.margin_mode is MarginMode.ISOLATED:
            results[i] = assess_isolated(p, profile)
    cross_equity, cross_req = _assess_cross(snapshot.wallet_balance, cross, profile, results)
    done = [r for r in results if r is not None]
    if inverse:
        from riskguard.risk.inverse import from_reciprocal

        done = [from_reciprocal(r, p) for r, p in zip(done, originals, strict=True)]
    equity = cross_equity + sum(r.equity for r in done if r.margin_mode is MarginMode.ISOLATED)
    total_notional = sum(r.notional for r in done)
    return AccountRisk(
        venue=profile.name,
        approximate=profile.approximate,
        wallet_balance=snapshot.wallet_balance,
        cross_equity=cross_equity,
        cross_requirement=cross_req,
        cross_margin_ratio=ratio(cross_req, cross_equity) if cross else None,
        equity=equity,
        maintenance_margin=sum(r.maintenance_margin for r in done),
        total_notional=total_notional,
        effective_leverage=total_notional / equity if equity > 0 else math.inf,
        positions=tuple(done),
    )


def settlement_is_coin(positions: Sequence[Position]) -> bool:
    """True for an all-inverse snapshot; mixing inverse and linear positions is an InputError.

    One snapshot is one settlement currency: a USDT wallet cannot back a coin-margined position,
    and money figures in coins and in USDT cannot be added.
    """
    kinds = {p.inverse for p in positions}
    if len(kinds) > 1:
        raise InputError(
            "positions: a snapshot cannot mix inverse (coin-margined) and linear positions; "
            "split them into one snapshot per settlement currency"
        )
    if True in kinds:
        settles = {p.symbol.partition(":")[2] for p in positions}
        if len(settles) > 1:
            raise InputError(
                f"positions: inverse positions settle in different coins ({sorted(settles)})"
            )
        return True
    return False


def _assess_cross(
    wallet: float,
    cross: Sequence[tuple[int, Position]],
    profile: VenueProfile,
    results: list[PositionRisk | None],
) -> tuple[float, float]:
    """Fill ``results`` for the cross positions; return the cross equity and requirement."""
    legs: dict[str, list[tuple[int, Position, int, Schedule, float, float, float]]] = {}
    total_upnl = 0.0
    total_req = 0.0
    for i, p in cross:
        schedule = schedule_for(p, profile)
        s = 1 if p.side is Side.LONG else -1
        upnl = s * p.size * (p.mark_price - p.entry_price)
        mm = schedule.maintenance_margin(p.mark_price)
        req = mm + p.size * p.mark_price * schedule.fee_rate
        total_upnl += upnl
        total_req += req
        legs.setdefault(p.symbol, []).append((i, p, s, schedule, upnl, mm, req))
    equity = wallet + total_upnl
    account_ratio = ratio(total_req, equity)
    safe = account_ratio < 1.0
    for group in legs.values():
        # Sums start at 0 as sum() does, so a lone leg's -0.0 counts as 0.0 here too.
        group_upnl = sum(g[4] for g in group) if len(group) > 1 else 0.0 + group[0][4]
        group_req = sum(g[6] for g in group) if len(group) > 1 else 0.0 + group[0][6]
        mark = group[0][1].mark_price
        if any(g[1].mark_price != mark for g in group):
            raise InputError(f"{group[0][1].symbol}: legs of one symbol must share one mark price")
        # The rest of the account, held at its marks, backs this symbol.
        backing = wallet + (total_upnl - group_upnl) - (total_req - group_req)
        rest = wallet + total_upnl - group_upnl
        if len(group) == 1:
            _i, p, s, schedule, _upnl, _mm, _req = group[0]
            lp = solve_single_leg(backing, s, p.size, p.entry_price, mark, schedule)[0]
            bp = single_leg_bankruptcy(rest, s, p.size, p.entry_price)
        else:
            solver_legs = [Leg(g[2], g[1].size, g[1].entry_price, g[3]) for g in group]
            lp = legs_liquidation(backing, solver_legs, mark)
            bp = bankruptcy_price(rest, solver_legs)
        distance = distance_fraction(mark, lp, safe)
        for i, p, _s, _schedule, upnl, mm, req in group:
            notional = p.size * p.mark_price
            results[i] = PositionRisk(
                symbol=p.symbol,
                side=p.side.value,
                margin_mode=MarginMode.CROSS,
                size=p.size,
                mark_price=p.mark_price,
                notional=notional,
                unrealized_pnl=upnl,
                collateral=wallet,
                equity=equity,
                maintenance_margin=mm,
                requirement=req,
                margin_ratio=account_ratio,
                effective_leverage=notional / equity if equity > 0 else math.inf,
                liquidation_price=lp,
                bankruptcy_price=bp,
                distance=distance,
            )
    return equity, total_req
