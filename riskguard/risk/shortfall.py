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
from operator import add

from riskguard.domain import AccountSnapshot, MarginMode, Position, TierUnit
from riskguard.errors import InputError
from riskguard.risk.account import isolated_collateral, settlement_is_coin
from riskguard.risk.inverse import reciprocal, reciprocal_move
from riskguard.risk.margin import schedule_for, split_negative_margin, tier_index
from riskguard.risk.scenarios import Scenario
from riskguard.risk.venues import MarginBasis, ReduceMarginPolicy, VenueProfile, get_profile

DEFAULT_SLIPPAGE = 0.0005
"""Closing slippage as a fraction of notional when none is configured (5 bp)."""

STRESS_ARRAY_MIN = 400
"""From this many position-scenario pairs on, the stress runs on arrays (:mod:`.stress_arrays`);
below, the per-position loop wins over numpy's fixed cost per call (bench/risk_core.py)."""


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


class StressResult:
    """Every scenario's outcome and the worst of them.

    Kept as one column of equities per position (over the scenarios) and one figure per
    scenario; the :class:`ScenarioOutcome` objects are built when first asked for, since a
    guard poll mostly reads a position's worst figures and never needs all of them.
    """

    __slots__ = ("_built", "_columns", "_cross", "_equity_after", "_scenarios", "_shortfall")

    def __init__(self, outcomes: Sequence[ScenarioOutcome] = ()) -> None:
        built = tuple(outcomes)
        width = len(built[0].position_equity) if built else 0
        self._built: tuple[ScenarioOutcome, ...] | None = built
        self._scenarios = tuple(o.scenario for o in built)
        self._equity_after = [o.equity_after for o in built]
        self._shortfall = [o.shortfall for o in built]
        self._cross = [o.cross_equity_after for o in built]
        self._columns = [[o.position_equity[i] for o in built] for i in range(width)]

    @classmethod
    def of_columns(
        cls,
        scenarios: tuple[Scenario, ...],
        columns: list[list[float]],
        cross: list[float] | None,
        equity_after: list[float],
        shortfall: list[float],
    ) -> StressResult:
        """A result from its columns: ``columns[i][s]`` is position ``i``'s equity in scenario
        ``s``; ``cross`` the cross account's equity per scenario (None without cross positions).
        """
        result = cls.__new__(cls)
        result._built = None
        result._scenarios = scenarios
        result._columns = columns
        result._cross = list(cross) if cross is not None else [None] * len(scenarios)
        result._equity_after = equity_after
        result._shortfall = shortfall
        return result

    @property
    def outcomes(self) -> tuple[ScenarioOutcome, ...]:
        """Every scenario's outcome, in scenario order."""
        if self._built is None:
            self._built = tuple(self._outcome(s) for s in range(len(self._scenarios)))
        return self._built

    def _outcome(self, s: int) -> ScenarioOutcome:
        if self._built is not None:
            return self._built[s]
        equities = tuple([column[s] for column in self._columns])
        return ScenarioOutcome(
            scenario=self._scenarios[s],
            equity_after=self._equity_after[s],
            cross_equity_after=self._cross[s],
            shortfall=self._shortfall[s],
            position_equity=equities,
            position_shortfall=tuple([max(0.0, -e) for e in equities]),
        )

    @property
    def worst(self) -> ScenarioOutcome:
        """The scenario with the largest shortfall (ties: the lowest equity after)."""
        return self._outcome(self._worst_index())

    def _worst_index(self) -> int:
        shortfall, equity = self._shortfall, self._equity_after
        if not shortfall:
            raise ValueError("no scenarios: a stress result without outcomes has no worst")
        return max(range(len(shortfall)), key=lambda s: (shortfall[s], -equity[s]))

    @property
    def potential_shortfall(self) -> float:
        """The shortfall of the worst scenario (0.0 when every scenario leaves equity >= 0)."""
        return self._shortfall[self._worst_index()] if self._shortfall else 0.0

    def position_shortfall(self, index: int) -> float:
        """Worst shortfall attributable to the position at ``index`` (shared when cross)."""
        if not self._scenarios:
            return 0.0
        return max(0.0, -min(self._columns[index]))

    def position_worst(self, index: int) -> ScenarioOutcome | None:
        """The scenario giving the position at ``index`` its lowest equity."""
        if not self._scenarios:
            return None
        column = self._columns[index]
        return self._outcome(column.index(min(column)))

    def position_worst_scenario(self, index: int) -> Scenario | None:
        """The scenario of :meth:`position_worst`, without building its outcome."""
        if not self._scenarios:
            return None
        column = self._columns[index]
        return self._scenarios[column.index(min(column))]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StressResult):
            return NotImplemented
        return self.outcomes == other.outcomes

    def __hash__(self) -> int:
        return hash(self.outcomes)

    def __repr__(self) -> str:
        return f"StressResult(outcomes={self.outcomes!r})"


def stress_account(
    snapshot: AccountSnapshot,
    scenarios: Sequence[Scenario],
    profile: VenueProfile | None = None,
    *,
    slippage: float = DEFAULT_SLIPPAGE,
) -> StressResult:
    """Apply every scenario jointly to the account and report each outcome.

    One pass per position over all scenarios; the cross account's equity adds the cross
    positions' values in snapshot order, as a scenario-by-scenario sum would.
    """
    del profile  # the stressed equity does not depend on the venue's margin formula
    if slippage < 0:
        raise InputError(f"slippage: must be >= 0, got {slippage}")
    positions = snapshot.positions
    settlement_is_coin(positions)
    scenarios = tuple(scenarios)
    wallet = snapshot.wallet_balance
    count = len(scenarios)
    slips = [slippage * sc.cost_factor for sc in scenarios]
    factors = _PriceFactors(scenarios)
    if len(positions) * count >= STRESS_ARRAY_MIN:
        from riskguard.risk.stress_arrays import stress_rows

        rows = [factors.of(p.symbol) for p in positions]
        return StressResult.of_columns(scenarios, *stress_rows(positions, wallet, rows, slips))
    cross: list[float] | None = None
    iso_total = [0.0] * count
    iso_short = [0.0] * count
    columns: list[list[float]] = []
    for p in positions:
        values = _stressed_values(p, factors.of(p.symbol), slips)
        if p.margin_mode is MarginMode.CROSS:
            cross = list(map(add, [wallet] * count if cross is None else cross, values))
            columns.append(values)
        else:
            collateral = isolated_collateral(p)
            own = [collateral + v for v in values]
            columns.append(own)
            iso_total = list(map(add, iso_total, own))
            iso_short = list(map(add, iso_short, [max(0.0, -e) for e in own]))
    if cross is None:
        equity_after = [wallet + t for t in iso_total]
        shortfall = iso_short
    else:
        for i, p in enumerate(positions):
            if p.margin_mode is MarginMode.CROSS:
                columns[i] = cross
        equity_after = list(map(add, cross, iso_total))
        shortfall = [max(0.0, -c) + s for c, s in zip(cross, iso_short, strict=True)]
    return StressResult.of_columns(scenarios, columns, cross, equity_after, shortfall)


def position_shortfall(
    position: Position, scenarios: Sequence[Scenario], *, slippage: float = DEFAULT_SLIPPAGE
) -> tuple[float, Scenario | None]:
    """Worst shortfall of one isolated position on its own collateral, and its scenario."""
    collateral = isolated_collateral(position)
    scenarios = tuple(scenarios)
    if not scenarios:
        return 0.0, None
    slips = [slippage * sc.cost_factor for sc in scenarios]
    values = _stressed_values(position, _PriceFactors(scenarios).of(position.symbol), slips)
    equities = [collateral + v for v in values]
    lowest = min(equities)
    return max(0.0, -lowest), scenarios[equities.index(lowest)]


class _PriceFactors:
    """``1 + loss_weight x move`` per scenario for each symbol, computed once per symbol."""

    __slots__ = ("_by_symbol", "_common", "_overridden", "_overrides", "_scenarios")

    def __init__(self, scenarios: tuple[Scenario, ...]) -> None:
        self._scenarios = scenarios
        # move_for takes a symbol's first override: reversed, the first one is written last.
        self._overrides: list[dict[str, float]] = [
            dict(reversed(sc.symbol_moves)) if sc.symbol_moves else {} for sc in scenarios
        ]
        self._overridden: set[str] = set().union(*self._overrides)
        self._common: list[float] | None = None
        self._by_symbol: dict[str, list[float]] = {}

    def of(self, symbol: str) -> list[float]:
        hit = self._by_symbol.get(symbol)
        if hit is not None:
            return hit
        if symbol in self._overridden:
            hit = [
                1.0 + sc.loss_weight * o.get(symbol, sc.move)
                for sc, o in zip(self._scenarios, self._overrides, strict=True)
            ]
        else:
            if self._common is None:
                self._common = [1.0 + sc.loss_weight * sc.move for sc in self._scenarios]
            hit = self._common
        self._by_symbol[symbol] = hit
        return hit


def _stressed_values(p: Position, factors: list[float], slips: list[float]) -> list[float]:
    """PnL at each stressed price ``mark x factor`` minus the cost of closing there, with the
    scenario's slippage (coins for inverse contracts)."""
    mark, entry, size, fee = p.mark_price, p.entry_price, p.size, p.taker_fee
    signed = p.side.sign * size
    if p.inverse:
        inverse_entry = 1.0 / entry
        return [
            signed * (inverse_entry - 1.0 / (st := mark * f)) - size / st * (fee + slip)
            for f, slip in zip(factors, slips, strict=True)
        ]
    return [
        signed * ((st := mark * f) - entry) - size * st * (fee + slip)
        for f, slip in zip(factors, slips, strict=True)
    ]


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
