"""``shortfall``: the potential shortfall under the stress scenarios must stay within a maximum.

The potential shortfall is what a position (isolated) or the cross account could lose beyond its
collateral under the evaluation's scenario set (SPAN array plus historical gaps, see
:mod:`riskguard.risk.shortfall`). The rule measures one figure per isolated position and one for
the cross account, and grades each by amount (settlement currency) and by percent of the equity
behind it (the isolated position's own, or the cross account's); the worse of the two wins.
By default any shortfall warns and acts (``max_shortfall: 0``), and a shortfall above half the
equity behind it is critical. A zero shortfall is always OK.

When it acts the rule does not stop at ``max_shortfall``: it restores no shortfall at all (or,
with ``equity_floor: maintenance``, no liquidation) under every scenario, by reducing:

- An isolated position is reduced to the smallest of :func:`largest_safe_size` over the
  scenarios (the worst one binds), with the margin the closed part moved to the wallet put back
  (an ADD_MARGIN), because under proportional release a partial close leaves the potential
  shortfall per unit where it was. CLOSE when nothing can be kept.
- Cross positions share one wallet, so sizing each against the unstressed rest of the account
  (:func:`cross_backing`) would let every position spend the same wallet. Instead, scenario by
  scenario (worst first), the in-scope positions that lose in it are reduced largest loss first,
  each with :func:`largest_safe_size` against a backing of the wallet plus every other cross
  position's value *in that scenario* at its planned size; the passes repeat until no size
  changes, so the plan survives every scenario jointly. A hedged book can take many passes (less
  of one leg is less cover for the other), so after a bounded number the planned sizes are
  scaled by the largest common factor that survives every scenario. Positions outside the scope
  keep their size; if they alone leave a shortfall the rule says so with an ALERT (as it does
  when even closing everything costs more than the equity left).

Every proposal carries the shortfall after the plan (``shortfall_after``), recomputed the same way
as the risk core's stress test.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import replace
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Figures,
    FigureValue,
    Finding,
    Level,
    Memory,
    RuleInput,
    RuleResult,
    classify,
    figures,
    level_of,
)
from riskguard.guard.rules.config_base import ConfiguredRule, RuleConfigBase
from riskguard.risk.account import PositionRisk
from riskguard.risk.inverse import reciprocal
from riskguard.risk.margin import schedule_for
from riskguard.risk.scenarios import Scenario
from riskguard.risk.shortfall import CrossBacking, EquityFloor, largest_safe_size
from riskguard.risk.venues import ReduceMarginPolicy, VenueProfile, get_profile
from riskguard.validation import StrictModel

CROSS_KEY = "cross"
"""Memory key of the cross account's level (isolated positions use ``symbol:side``)."""

_PASSES = 16
"""Most passes over the scenarios when planning cross reductions (sizes only ever shrink)."""

_BISECTIONS = 40
"""Halvings of the common factor when the passes have not settled (about 1e-12 of size)."""

_DUST = 1e-9
"""A shortfall below this fraction of the notional at stake is rounding, not risk."""


class ShortfallThreshold(StrictModel):
    """A potential shortfall by amount and/or in percent of the equity behind it."""

    amount: Annotated[float, Field(ge=0)] | None = Field(
        None, description="potential shortfall in the settlement currency"
    )
    equity_pct: Annotated[float, Field(gt=0)] | None = Field(
        None, description="potential shortfall in percent of the equity behind it"
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.amount is None and self.equity_pct is None:
            raise ValueError("give amount and/or equity_pct")
        return self


class ShortfallConfig(RuleConfigBase):
    """Config of the ``shortfall`` rule."""

    type: Literal["shortfall"]
    warn: ShortfallThreshold | None = Field(
        ShortfallThreshold(amount=0.0), description="warn at this shortfall (default: any)"
    )
    max_shortfall: Annotated[float, Field(ge=0)] = Field(
        0.0, description="act once the potential shortfall exceeds this (settlement currency)"
    )
    max_shortfall_equity_pct: Annotated[float, Field(gt=0)] | None = Field(
        None, description="act also once it exceeds this percent of the equity behind it"
    )
    critical: ShortfallThreshold | None = Field(
        ShortfallThreshold(equity_pct=50.0), description="critical at this shortfall"
    )
    equity_floor: EquityFloor = Field(
        EquityFloor.ZERO,
        description="what a reduced position must keep after the worst move: zero equity or "
        "its maintenance margin (no liquidation)",
    )
    close_at_critical: bool = Field(False, description="close instead of reducing at critical")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        w, c = self.warn, self.critical
        for values in (
            [
                ("warn.amount", w.amount if w else None),
                ("max_shortfall", self.max_shortfall),
                ("critical.amount", c.amount if c else None),
            ],
            [
                ("warn.equity_pct", w.equity_pct if w else None),
                ("max_shortfall_equity_pct", self.max_shortfall_equity_pct),
                ("critical.equity_pct", c.equity_pct if c else None),
            ],
        ):
            present = [(n, v) for n, v in values if v is not None]
            for (n1, v1), (n2, v2) in itertools.pairwise(present):
                # warn may coincide with act (any shortfall warns and acts by default)
                if v2 < v1 or (v2 == v1 and not n1.startswith("warn")):
                    raise ValueError(f"{n2}: must be above {n1} ({v2} <= {v1})")
        return self


class ShortfallRule(ConfiguredRule[ShortfallConfig]):
    """The configured rule."""

    rule_type = "shortfall"

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        account = data.snapshot.account
        findings: list[Finding] = []
        actions: list[Action] = []
        new_memory: dict[str, float | int | str | None] = {}
        cross: list[int] = []
        pairs = zip(data.snapshot.positions, data.evaluation.positions, strict=True)
        for i, (position, item) in enumerate(pairs):
            if not self.applies_to(account, position.symbol):
                continue
            if position.margin_mode is MarginMode.CROSS:
                cross.append(i)
                continue
            key = f"{position.symbol}:{position.side.value}"
            shortfall = _material(item.shortfall, item.risk.notional)
            level, finding = self._grade(
                data, memory, key, shortfall, item.risk.equity, item.worst_scenario, position
            )
            new_memory[key] = int(level)
            if finding is None:
                continue
            findings.append(finding)
            if level >= Level.ACT:
                actions.extend(self._isolated(data, i, level, finding.figures))
        if cross:
            all_cross = [
                i
                for i, p in enumerate(data.snapshot.positions)
                if p.margin_mode is MarginMode.CROSS
            ]
            stress = data.evaluation.stress
            shortfall = _material(
                max((max(0.0, -(o.cross_equity_after or 0.0)) for o in stress.outcomes), default=0),
                sum(data.evaluation.positions[i].risk.notional for i in all_cross),
            )
            worst = min(stress.outcomes, key=lambda o: o.cross_equity_after or 0.0, default=None)
            name = worst.scenario.name if worst is not None and shortfall > 0 else None
            level, finding = self._grade(
                data, memory, CROSS_KEY, shortfall, data.evaluation.risk.cross_equity, name, None
            )
            new_memory[CROSS_KEY] = int(level)
            if finding is not None:
                findings.append(finding)
                if level >= Level.ACT:
                    actions.extend(self._cross(data, cross, level, finding.figures))
        return RuleResult(tuple(findings), tuple(actions), new_memory)

    def _grade(
        self,
        data: RuleInput,
        memory: Memory,
        key: str,
        shortfall: float,
        equity: float,
        scenario: str | None,
        position: Position | None,
    ) -> tuple[Level, Finding | None]:
        cfg = self.config
        previous = level_of(int(memory.get(key) or 0))
        amount = shortfall if shortfall > 0 else None
        pct = None
        if amount is not None:
            pct = shortfall / equity * 100.0 if equity > 0 else math.inf
        hysteresis = cfg.hysteresis_pct / 100.0
        by_amount = self._thresholds("amount")
        by_pct = self._thresholds("equity_pct")
        level_amount = classify(
            amount, by_amount, previous, worse_when_lower=False, hysteresis=hysteresis
        )
        level_pct = classify(pct, by_pct, previous, worse_when_lower=False, hysteresis=hysteresis)
        level = max(level_amount, level_pct)
        if level is Level.OK:
            return level, None
        where = (
            "cross account"
            if position is None
            else f"{position.symbol} {position.side.value} (isolated)"
        )
        facts = figures(
            shortfall=shortfall,
            shortfall_equity_pct=pct,
            equity=equity,
            worst_scenario=scenario,
            max_shortfall=cfg.max_shortfall,
            equity_floor=cfg.equity_floor.value,
            **_tail_facts(data, position),
        )
        return level, Finding(
            rule=self.name,
            rule_type=self.rule_type,
            level=level,
            account=data.snapshot.account,
            symbol=None if position is None else position.symbol,
            side=None if position is None else position.side,
            metric="shortfall" if level_amount >= level_pct else "shortfall_equity_pct",
            measured=shortfall if level_amount >= level_pct else pct,
            threshold=dict(by_amount if level_amount >= level_pct else by_pct)[level],
            message=(
                f"{where}: potential shortfall {shortfall:,.2f} "
                f"({_fmt(pct)}% of equity {equity:,.2f}) under {scenario!r}"
                + _tail_words(dict(facts), scenario)
            ),
            figures=facts,
        )

    def _thresholds(self, unit: str) -> tuple[tuple[Level, float | None], ...]:
        """The ``amount`` or ``equity_pct`` of each level."""
        return self._by_unit[unit]

    @functools.cached_property
    def _by_unit(self) -> dict[str, tuple[tuple[Level, float | None], ...]]:
        """Both units' thresholds, built once per rule (the config is frozen)."""
        return {unit: tuple(self._build_thresholds(unit)) for unit in ("amount", "equity_pct")}

    def _build_thresholds(self, unit: str) -> list[tuple[Level, float | None]]:
        c = self.config
        if unit == "amount":
            act: float | None = c.max_shortfall
        else:
            act = c.max_shortfall_equity_pct
        return [
            (Level.WARN, getattr(c.warn, unit) if c.warn else None),
            (Level.ACT, act),
            (Level.CRITICAL, getattr(c.critical, unit) if c.critical else None),
        ]

    def _isolated(self, data: RuleInput, index: int, level: Level, facts: Figures) -> list[Action]:
        position = data.snapshot.positions[index]
        risk = data.evaluation.positions[index].risk
        profile = get_profile(data.snapshot.venue)
        slippage = data.evaluation.settings.slippage
        scenarios = [o.scenario for o in data.evaluation.stress.outcomes]
        if level is Level.CRITICAL and self.config.close_at_critical:
            keep = 0.0
        else:
            keep = position.size
            for scenario in scenarios:
                adverse = _adverse(position, scenario)
                if adverse > 0:
                    keep = min(
                        keep,
                        largest_safe_size(
                            position,
                            profile,
                            adverse,
                            floor=self.config.equity_floor,
                            slippage=slippage,
                            cost_factor=scenario.cost_factor,
                            policy=ReduceMarginPolicy.RETAINED,
                        ),
                    )
        base = risk.collateral
        after = _material(
            _shortfall_after([(position, keep)], base, scenarios, slippage), risk.notional
        )
        actions = self._reduce(data, position, keep, level, facts, after)
        if actions and keep > 0:
            margin = _margin_left(
                risk, keep, position.taker_fee + slippage, profile.reduce_margin_policy
            )
            if margin > 0:
                actions.append(
                    replace(
                        actions[0],
                        kind=ActionKind.ADD_MARGIN,
                        reason="put back what the reduction moved to the wallet",
                        size_before=keep,
                        margin=margin,
                    )
                )
        return actions

    def _cross(
        self, data: RuleInput, movable: list[int], level: Level, facts: Figures
    ) -> list[Action]:
        outcomes = sorted(data.evaluation.stress.outcomes, key=lambda o: o.cross_equity_after or 0)
        plan = _CrossPlan(
            data.snapshot,
            [o.scenario for o in outcomes],
            movable,
            get_profile(data.snapshot.venue),
            data.evaluation.settings.slippage,
            self.config.equity_floor,
        )
        if level is Level.CRITICAL and self.config.close_at_critical:
            plan.keep.update(dict.fromkeys(movable, 0.0))
        else:
            plan.solve()
        after = _material(
            plan.shortfall(),
            sum(data.evaluation.positions[i].risk.notional for i in plan.cross),
        )
        positions = data.snapshot.positions
        actions: list[Action] = []
        for i in movable:
            actions.extend(self._reduce(data, positions[i], plan.keep[i], level, facts, after))
        if after > 0:
            actions.append(
                Action(
                    kind=ActionKind.ALERT,
                    account=data.snapshot.account,
                    symbol=None,
                    side=None,
                    rule=self.name,
                    level=level,
                    reason=(
                        f"reducing the positions in scope leaves a potential shortfall of "
                        f"{after:,.2f}"
                    ),
                    figures=(*facts, ("shortfall_after", after)),
                )
            )
        return actions

    def _reduce(
        self,
        data: RuleInput,
        position: Position,
        keep: float,
        level: Level,
        facts: Figures,
        after: float,
    ) -> list[Action]:
        keep = max(0.0, min(keep, position.size))
        if keep >= position.size:
            return []
        return [
            Action(
                kind=ActionKind.REDUCE if keep > 0 else ActionKind.CLOSE,
                account=data.snapshot.account,
                symbol=position.symbol,
                side=position.side,
                rule=self.name,
                level=level,
                reason=(
                    f"potential shortfall: reduce to {keep:.6g} "
                    f"to keep {self.config.equity_floor.value} equity after the worst move"
                ),
                size_before=position.size,
                target_size=keep,
                figures=(*facts, ("target_size", keep), ("shortfall_after", after)),
            )
        ]


class _CrossPlan:
    """Planned sizes of a cross account's positions, and how they fare in each scenario.

    A position's value in a scenario is linear in the size kept: ``a + b*keep`` (see
    :func:`_line`), so the lines are computed once and every pass is arithmetic, apart from
    :func:`largest_safe_size` itself and, for the maintenance floor, the tiered requirement.
    """

    def __init__(
        self,
        snapshot: AccountSnapshot,
        scenarios: list[Scenario],
        movable: list[int],
        profile: VenueProfile,
        slippage: float,
        floor: EquityFloor,
    ) -> None:
        self.positions = snapshot.positions
        self.wallet = snapshot.wallet_balance
        self.cross = [i for i, p in enumerate(self.positions) if p.margin_mode is MarginMode.CROSS]
        self.movable = movable
        self.scenarios = scenarios
        self.profile = profile
        self.slippage = slippage
        self.floor = floor
        self.keep = {i: self.positions[i].size for i in self.cross}
        self.lines = [
            {i: _line(self.positions[i], sc, slippage) for i in self.cross} for sc in scenarios
        ]

    def solve(self) -> None:
        """Passes over the scenarios until no size changes, then the common-factor fallback."""
        for _ in range(_PASSES):
            changed = False
            for j in range(len(self.scenarios)):
                changed |= self._pass(j)
            if not changed:
                return
        self._scale_to_fit()

    def shortfall(self) -> float:
        """The worst negative equity of the planned account over the scenarios."""
        return max(0.0, *(-self._equity(j, self.keep) for j in range(len(self.scenarios))))

    def _equity(self, j: int, sizes: dict[int, float]) -> float:
        line = self.lines[j]
        return self.wallet + sum(line[i][0] + line[i][1] * sizes[i] for i in self.cross)

    def _requirement(self, i: int, j: int, size: float) -> float:
        if self.floor is EquityFloor.ZERO:
            return 0.0
        return _requirement(self.positions[i], size, self.scenarios[j], self.profile)

    def _pass(self, j: int) -> bool:
        """Reduce the losers of scenario ``j``, largest loss first; True when a size changed."""
        scenario, line, keep = self.scenarios[j], self.lines[j], self.keep
        values = {i: line[i][0] + line[i][1] * keep[i] for i in self.cross}
        requirements = {i: self._requirement(i, j, keep[i]) for i in self.cross}
        equity = self.wallet + sum(values.values())
        requirement = sum(requirements.values())
        if equity >= requirement:
            return False  # the plan already survives this scenario
        changed = False
        for i in sorted(self.movable, key=lambda i: values[i]):
            position = self.positions[i]
            adverse = _adverse(position, scenario)
            if adverse <= 0 or keep[i] <= 0:
                continue
            size = largest_safe_size(
                position,
                self.profile,
                adverse,
                floor=self.floor,
                slippage=self.slippage,
                cost_factor=scenario.cost_factor,
                backing=CrossBacking(equity - values[i], requirement - requirements[i]),
            )
            if size < keep[i] * (1.0 - 1e-12):
                keep[i] = size
                value = line[i][0] + line[i][1] * size
                required = self._requirement(i, j, size)
                equity += value - values[i]
                requirement += required - requirements[i]
                values[i], requirements[i] = value, required
                changed = True
        return changed

    def _scale_to_fit(self) -> None:
        """Scale the planned sizes by the largest common factor that survives every scenario.

        The fallback when the passes have not settled (hedged books converge geometrically: less
        of one leg means less cover for the other). Equity less requirement is concave in the
        factor and the plan at factor 0 is the best possible, so bisection finds the boundary.
        """

        def worst(factor: float) -> float:
            sizes = {i: k * factor if i in self.movable else k for i, k in self.keep.items()}
            return min(
                self._equity(j, sizes) - sum(self._requirement(i, j, sizes[i]) for i in self.cross)
                for j in range(len(self.scenarios))
            )

        if worst(1.0) >= 0.0:
            return
        low, high = 0.0, 1.0
        for _ in range(_BISECTIONS):
            mid = (low + high) / 2.0
            if worst(mid) >= 0.0:
                low = mid
            else:
                high = mid
        for i in self.movable:
            self.keep[i] *= low


def _material(shortfall: float, notional: float) -> float:
    """``shortfall``, or 0.0 when it is rounding noise next to ``notional``."""
    return shortfall if shortfall > _DUST * max(1.0, notional) else 0.0


def _adverse(position: Position, scenario: Scenario) -> float:
    """The scenario's move against ``position`` as a fraction of the mark (negative: in favour)."""
    return -position.side.sign * scenario.loss_weight * scenario.move_for(position.symbol)


def _linear(position: Position, scenario: Scenario) -> tuple[Position, float]:
    """``position`` as a linear position and its stressed price in that form (inverse: 1/P)."""
    price = position.mark_price * (1.0 + scenario.loss_weight * scenario.move_for(position.symbol))
    if position.inverse:
        return reciprocal(position), 1.0 / price
    return position, price


def _line(position: Position, scenario: Scenario, slippage: float) -> tuple[float, float]:
    """``(a, b)``: in ``scenario``, ``position`` reduced to ``k`` now adds ``a + b*k`` to equity.

    The closed part's PnL at the mark less the cost of closing it now, plus the kept part's PnL at
    the stressed price less the cost of closing it there (the stress test's model).
    """
    lin, stressed = _linear(position, scenario)
    s = lin.side.sign
    mark = lin.mark_price
    fee_now = position.taker_fee + slippage
    fee_then = position.taker_fee + slippage * scenario.cost_factor
    closed_all = s * lin.size * (mark - lin.entry_price) - lin.size * mark * fee_now
    per_unit_kept = mark * fee_now + s * (stressed - mark) - stressed * fee_then
    return closed_all, per_unit_kept


def _value(position: Position, keep: float, scenario: Scenario, slippage: float) -> float:
    """What ``position`` adds to its collateral's equity in ``scenario`` if reduced to ``keep``."""
    closed_all, per_unit_kept = _line(position, scenario, slippage)
    return closed_all + per_unit_kept * keep


def _requirement(
    position: Position, keep: float, scenario: Scenario, profile: VenueProfile
) -> float:
    """The liquidation threshold of ``position`` reduced to ``keep`` at the scenario's price."""
    if keep <= 0:
        return 0.0
    lin, stressed = _linear(position, scenario)
    return schedule_for(replace(lin, size=keep), profile).requirement(stressed)


def _shortfall_after(
    plan: list[tuple[Position, float]],
    collateral: float,
    scenarios: list[Scenario],
    slippage: float,
) -> float:
    """The worst shortfall of ``collateral`` plus the planned positions over ``scenarios``."""
    worst = 0.0
    for scenario in scenarios:
        equity = collateral + sum(_value(p, k, scenario, slippage) for p, k in plan)
        worst = max(worst, -equity)
    return worst


def _margin_left(risk: PositionRisk, keep: float, fee: float, policy: ReduceMarginPolicy) -> float:
    """What reducing an isolated position to ``keep`` moves to the wallet (never negative).

    Released margin (proportional policy only) plus the closed part's realised PnL, less the cost
    of closing it: putting it back keeps the equity :func:`largest_safe_size` assumes when told
    the margin is retained.
    """
    q = risk.size
    closed = q - keep
    released = risk.collateral * closed / q if policy is ReduceMarginPolicy.PROPORTIONAL else 0.0
    return max(0.0, released + risk.unrealized_pnl * closed / q - closed * risk.notional / q * fee)


def _tail_facts(data: RuleInput, position: Position | None) -> dict[str, FigureValue]:
    """The tail move the stress used, and its source: the position's own (the fall for a long,
    the rise for a short), or each cross symbol's in one line."""
    moves = data.stress_moves
    if position is not None:
        move = moves.get(position.symbol)
        if move is None:
            return {}
        return {
            "tail_move_pct": round(move.against(position.side is Side.LONG) * 100, 4),
            "tail_source": move.source,
        }
    cross = sorted({p.symbol for p in data.snapshot.positions if p.margin_mode is MarginMode.CROSS})
    lines = [
        f"{s} {moves[s].fall:+.1%}/{moves[s].rise:+.1%} ({moves[s].source.split(':')[0]})"
        for s in cross
        if s in moves
    ]
    return {"tail_moves": "; ".join(lines)} if lines else {}


def _tail_words(facts: dict[str, FigureValue], scenario: str | None) -> str:
    """`` (a -30.0% move: learned tail: ...)`` when the worst scenario is a learned tail."""
    if not (scenario or "").startswith("learned tail"):
        return ""
    move, source = facts.get("tail_move_pct"), facts.get("tail_source")
    if isinstance(move, float | int) and source:
        return f" (a {move:+.1f}% move; {source})"
    moves = facts.get("tail_moves")
    return f" ({moves})" if moves else ""


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:,.2f}"
