"""Stress testing and the potential shortfall: what an account could lose beyond its collateral.

For each scenario every position is marked at ``M * (1 + w * x)`` (``x`` the scenario's move for
its symbol, ``w`` its loss weight) and closed there at the taker fee plus slippage:

    equity_after = collateral + sum s*q*(P' - E) - sum q*P'*(taker_fee + slippage*cost_factor)

with the cross wallet as collateral for cross positions (moved jointly) and each isolated
position's own collateral for it. The shortfall of a scenario is the negative equity left: the
cross account's, plus each isolated position's. The potential shortfall is the worst scenario's.

The largest safe size answers the other question: how much of a position may be kept so that,
after an adverse move, its equity (the cross account's, or the isolated position's) is still at
least a floor: zero, or the venue's liquidation threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from riskguard.domain import AccountSnapshot, MarginMode, Position, TierUnit
from riskguard.errors import InputError
from riskguard.risk.account import isolated_collateral, settlement_is_coin
from riskguard.risk.inverse import reciprocal, reciprocal_move
from riskguard.risk.margin import schedule_for, split_negative_margin, tier_index
from riskguard.risk.scenarios import Scenario
from riskguard.risk.venues import MarginBasis, ReduceMarginPolicy, VenueProfile, get_profile

DEFAULT_SLIPPAGE = 0.0005
"""Closing slippage as a fraction of notional when none is configured (5 bp)."""


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """An account after one scenario.

    ``position_equity`` and ``position_shortfall`` follow the snapshot's position order: an
    isolated position's own figures, or the cross account's for a cross position.
    """

    scenario: Scenario
    equity_after: float
    cross_equity_after: float | None
    shortfall: float
    position_equity: tuple[float, ...]
    position_shortfall: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class StressResult:
    """Every scenario's outcome and the worst of them."""

    outcomes: tuple[ScenarioOutcome, ...]

    @property
    def worst(self) -> ScenarioOutcome:
        """The scenario with the largest shortfall (ties: the lowest equity after)."""
        return max(self.outcomes, key=lambda o: (o.shortfall, -o.equity_after))

    @property
    def potential_shortfall(self) -> float:
        """The shortfall of the worst scenario (0.0 when every scenario leaves equity >= 0)."""
        return self.worst.shortfall if self.outcomes else 0.0

    def position_shortfall(self, index: int) -> float:
        """Worst shortfall attributable to the position at ``index`` (shared when cross)."""
        return max((o.position_shortfall[index] for o in self.outcomes), default=0.0)

    def position_worst(self, index: int) -> ScenarioOutcome | None:
        """The scenario giving the position at ``index`` its lowest equity."""
        if not self.outcomes:
            return None
        return min(self.outcomes, key=lambda o: o.position_equity[index])


def stress_account(
    snapshot: AccountSnapshot,
    scenarios: Sequence[Scenario],
    profile: VenueProfile | None = None,
    *,
    slippage: float = DEFAULT_SLIPPAGE,
) -> StressResult:
    """Apply every scenario jointly to the account and report each outcome."""
    del profile  # the stressed equity does not depend on the venue's margin formula
    if slippage < 0:
        raise InputError(f"slippage: must be >= 0, got {slippage}")
    positions = snapshot.positions
    settlement_is_coin(positions)
    collaterals = [
        isolated_collateral(p) if p.margin_mode is MarginMode.ISOLATED else 0.0 for p in positions
    ]
    has_cross = any(p.margin_mode is MarginMode.CROSS for p in positions)
    outcomes = []
    for scenario in scenarios:
        cross_equity = snapshot.wallet_balance
        own: list[float] = []
        for p, collateral in zip(positions, collaterals, strict=True):
            value = _stressed_value(p, scenario, slippage)
            if p.margin_mode is MarginMode.CROSS:
                cross_equity += value
                own.append(0.0)
            else:
                own.append(collateral + value)
        equities = tuple(
            cross_equity if p.margin_mode is MarginMode.CROSS else e
            for p, e in zip(positions, own, strict=True)
        )
        shortfalls = tuple(max(0.0, -e) for e in equities)
        iso_total = sum(
            e for p, e in zip(positions, own, strict=True) if p.margin_mode is MarginMode.ISOLATED
        )
        iso_short = sum(
            s
            for p, s in zip(positions, shortfalls, strict=True)
            if p.margin_mode is MarginMode.ISOLATED
        )
        outcomes.append(
            ScenarioOutcome(
                scenario=scenario,
                equity_after=(cross_equity if has_cross else snapshot.wallet_balance) + iso_total,
                cross_equity_after=cross_equity if has_cross else None,
                shortfall=(max(0.0, -cross_equity) if has_cross else 0.0) + iso_short,
                position_equity=equities,
                position_shortfall=shortfalls,
            )
        )
    return StressResult(tuple(outcomes))


def position_shortfall(
    position: Position, scenarios: Sequence[Scenario], *, slippage: float = DEFAULT_SLIPPAGE
) -> tuple[float, Scenario | None]:
    """Worst shortfall of one isolated position on its own collateral, and its scenario."""
    collateral = isolated_collateral(position)
    worst = 0.0
    which: Scenario | None = None
    lowest = float("inf")
    for scenario in scenarios:
        equity = collateral + _stressed_value(position, scenario, slippage)
        if equity < lowest:
            lowest = equity
            which = scenario
            worst = max(0.0, -equity)
    return worst, which


def _stressed_value(p: Position, scenario: Scenario, slippage: float) -> float:
    """PnL at the stressed price minus the cost of closing there (coins for inverse)."""
    stressed = p.mark_price * (1.0 + scenario.loss_weight * scenario.move_for(p.symbol))
    if p.inverse:
        coin_value = p.size / stressed
        pnl_coin = p.side.sign * p.size * (1.0 / p.entry_price - 1.0 / stressed)
        return pnl_coin - coin_value * (p.taker_fee + slippage * scenario.cost_factor)
    pnl = p.side.sign * p.size * (stressed - p.entry_price)
    cost = p.size * stressed * (p.taker_fee + slippage * scenario.cost_factor)
    return pnl - cost


class EquityFloor(StrEnum):
    """What a position must keep after the stress move."""

    ZERO = "zero"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class CrossBacking:
    """What the rest of a cross account contributes: its equity and its liquidation threshold."""

    equity: float
    requirement: float


def cross_backing(
    snapshot: AccountSnapshot, index: int, profile: VenueProfile | None = None
) -> CrossBacking:
    """The wallet plus the other cross positions' PnL, and their requirements."""
    profile = profile or get_profile(snapshot.venue)
    equity = snapshot.wallet_balance
    requirement = 0.0
    for i, p in enumerate(snapshot.positions):
        if i == index or p.margin_mode is not MarginMode.CROSS:
            continue
        linear = reciprocal(p) if p.inverse else p
        schedule = schedule_for(linear, profile)
        equity += linear.unrealized_pnl
        requirement += schedule.requirement(linear.mark_price)
    return CrossBacking(equity, requirement)


def largest_safe_size(
    position: Position,
    profile: VenueProfile,
    adverse_move: float,
    *,
    floor: EquityFloor | str = EquityFloor.ZERO,
    slippage: float = DEFAULT_SLIPPAGE,
    cost_factor: float = 1.0,
    backing: CrossBacking | None = None,
    policy: ReduceMarginPolicy | str | None = None,
) -> float:
    """The biggest size (base units, at most the current size) that survives ``adverse_move``.

    ``adverse_move`` is a fraction of the mark against the position (0.2: a long's mark falls
    20%, a short's rises 20%). The part above the result is assumed closed now at the mark with
    the taker fee and slippage; the rest is marked at the stressed price and closed there.
    Cross positions need ``backing`` (see :func:`cross_backing`). For isolated positions
    ``policy`` says whether reducing releases margin (the venue profile's default) or keeps it.
    """
    floor = EquityFloor(floor)
    policy = None if policy is None else ReduceMarginPolicy(policy)
    s = position.side.sign
    if not (adverse_move >= 0.0 and (s < 0 or adverse_move < 1.0)):
        raise InputError(
            f"adverse_move: must be in [0, 1) for a long and >= 0 for a short, got {adverse_move}"
        )
    if position.inverse:
        return largest_safe_size(
            reciprocal(position),
            profile,
            reciprocal_move(adverse_move, position.side),
            floor=floor,
            slippage=slippage,
            cost_factor=cost_factor,
            backing=backing,
            policy=policy,
        )
    q = position.size
    mark = position.mark_price
    stressed = mark * (1.0 - s * adverse_move)
    fee_now = position.taker_fee + slippage
    fee_then = position.taker_fee + slippage * cost_factor
    if position.margin_mode is MarginMode.CROSS:
        if backing is None:
            raise InputError(f"{position.symbol}: a cross position needs the account's backing")
        policy = ReduceMarginPolicy.RETAINED
        base_equity = backing.equity
        base_requirement = backing.requirement
    else:
        policy = policy or profile.reduce_margin_policy
        base_equity = isolated_collateral(position)
        base_requirement = 0.0
    if policy is ReduceMarginPolicy.RETAINED:
        const = base_equity + s * q * (mark - position.entry_price) - q * mark * fee_now
        slope = mark * fee_now + s * (stressed - mark) - stressed * fee_then
    else:
        const = 0.0
        slope = base_equity / q + s * (stressed - position.entry_price) - stressed * fee_then
    if floor is EquityFloor.ZERO:
        best = q if const + slope * q >= 0.0 else (max(0.0, -const / slope) if slope < 0 else 0.0)
        return min(q, best)
    return _largest_above_threshold(position, profile, stressed, const - base_requirement, slope)


def _largest_above_threshold(
    position: Position, profile: VenueProfile, stressed: float, const: float, slope: float
) -> float:
    """Largest q' in [0, size] with ``const + slope*q' - requirement(q', stressed) >= 0``."""
    schedule = schedule_for(position, profile)
    mm_price = stressed if schedule.basis is MarginBasis.MARK else position.entry_price
    tiers = schedule.tiers
    if tiers[0].unit is TierUnit.SIZE:
        # At a fixed price a size tier's margin is linear in size: split where it turns negative.
        tiers = split_negative_margin(tiers, mm_price)
    select_per_unit = 1.0 if tiers[0].unit is TierUnit.SIZE else mm_price
    fee_term = stressed * schedule.fee_rate
    upper = position.size
    k = tier_index(tiers, upper * select_per_unit) if len(tiers) > 1 else 0

    def g(tier_k: int, size: float) -> tuple[float, float]:
        tier = tiers[tier_k]
        c = const + tier.maintenance_amount
        m = slope - mm_price * tier.maintenance_margin_rate - fee_term
        return c + m * size, m

    value, m = g(k, upper)
    if value >= 0.0:
        return upper
    while True:
        tier = tiers[k]
        lower = 0.0 if k == 0 else tier.min_bound / select_per_unit
        if m < 0.0:
            root = upper + value / -m  # g falls with size: solve g(root) = 0 below ``upper``
            if root >= lower:
                return max(0.0, root)
        if k == 0:
            return 0.0
        k -= 1
        upper = lower
        value, m = g(k, upper)
        if value >= 0.0:
            return upper
