"""``liquidation_distance``: keep every position far enough from its liquidation price.

Distance is measured two ways, in percent of the mark and in sigmas of the mark over the reaction
horizon; the level is the stricter of the two. At ``act`` (and ``critical`` unless told to close)
the rule proposes restoring ``target``: adding margin to an isolated position (from free balance,
capped) or reducing it, in the configured order of preference; at ``critical`` it proposes closing.

Reducing an isolated position releases its margin proportionally and leaves its liquidation price
where it was, so for isolated positions "reduce" means: close part and put the released margin back
(a REDUCE plus an ADD_MARGIN of the released amount). Cross positions are reduced to the largest
size whose liquidation price is at the target distance.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.domain import MarginMode, Position, Side
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Finding,
    Level,
    Memory,
    RuleInput,
    RuleResult,
    classify,
    figures,
    level_of,
)
from riskguard.guard.rules.config_base import MAX_SIGMAS, ConfiguredRule, RuleConfigBase
from riskguard.guard.rules.max_leverage import margin_left_by_reduction
from riskguard.risk.account import isolated_collateral
from riskguard.risk.inverse import reciprocal
from riskguard.risk.margin import schedule_for
from riskguard.risk.shortfall import (
    EquityFloor,
    cross_backing,
    largest_safe_size,
)
from riskguard.risk.venues import ReduceMarginPolicy, VenueProfile, get_profile
from riskguard.validation import StrictModel

Remedy = Literal["add_margin", "reduce"]


class DistanceThreshold(StrictModel):
    """A distance in percent of the mark and/or in sigmas over the reaction horizon."""

    distance_pct: Annotated[float, Field(gt=0, lt=100)] | None = None
    sigma: Annotated[float, Field(gt=0, le=MAX_SIGMAS)] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.distance_pct is None and self.sigma is None:
            raise ValueError("give distance_pct and/or sigma")
        return self

    def fraction(self, sigma_per_sqrt_s: float, horizon_s: float, side: Side) -> float:
        """The stricter (larger) of the two as a fraction of the mark, for a position's side.

        ``k`` sigmas of the log mark are ``1 - e^-k`` of the price below the mark (a long's
        liquidation) and ``e^k - 1`` above it (a short's).
        """
        parts = []
        if self.distance_pct is not None:
            parts.append(self.distance_pct / 100.0)
        if self.sigma is not None and sigma_per_sqrt_s > 0:
            k = self.sigma * sigma_per_sqrt_s * math.sqrt(horizon_s)
            parts.append(-math.expm1(-k) if side is Side.LONG else math.expm1(k))
        return max(parts, default=0.0)


class LiquidationDistanceConfig(RuleConfigBase):
    """Config of the ``liquidation_distance`` rule."""

    type: Literal["liquidation_distance"]
    warn: DistanceThreshold | None = DistanceThreshold(distance_pct=15.0, sigma=8.0)
    act: DistanceThreshold | None = DistanceThreshold(distance_pct=8.0, sigma=5.0)
    critical: DistanceThreshold | None = DistanceThreshold(distance_pct=4.0, sigma=3.0)
    target: DistanceThreshold = Field(
        DistanceThreshold(distance_pct=12.0, sigma=7.0),
        description="distance restored when the rule acts",
    )
    remedies: tuple[Remedy, ...] = Field(("reduce",), min_length=1)
    max_margin_add: Annotated[float, Field(ge=0)] = Field(
        0.0, description="most margin added to one position per action (settlement currency)"
    )
    close_at_critical: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        levels = [("warn", self.warn), ("act", self.act), ("critical", self.critical)]
        for unit in ("distance_pct", "sigma"):
            values = [(n, getattr(t, unit)) for n, t in levels if t and getattr(t, unit)]
            for (n1, v1), (n2, v2) in itertools.pairwise(values):
                if not v1 > v2:
                    raise ValueError(f"{n2}.{unit}: must be below {n1}.{unit} ({v2} >= {v1})")
        if self.act is not None:
            for unit in ("distance_pct", "sigma"):
                a, t = getattr(self.act, unit), getattr(self.target, unit)
                if a is not None and t is not None and t <= a:
                    raise ValueError(f"target.{unit}: must be above act.{unit}")
        return self


class LiquidationDistanceRule(ConfiguredRule[LiquidationDistanceConfig]):
    """The configured rule."""

    rule_type = "liquidation_distance"

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        hysteresis = cfg.hysteresis_pct / 100.0
        findings: list[Finding] = []
        actions: list[Action] = []
        new_memory: dict[str, float | int | str | None] = {}
        levels, by_pct, by_sigma = self._thresholds
        for position, item in zip(data.snapshot.positions, data.evaluation.positions, strict=True):
            if not self.applies_to(account, position.symbol):
                continue
            risk = item.risk
            key = f"{position.symbol}:{position.side.value}"
            previous = level_of(int(memory.get(key) or 0))
            sigma = data.sigma_per_sqrt_s.get(
                position.symbol, data.evaluation.settings.sigma_for(position.symbol)
            )
            pct = None if risk.distance is None else risk.distance * 100.0
            sigmas = None
            if risk.liquidation_price is not None and sigma > 0:
                sigmas = (
                    math.log(risk.mark_price / risk.liquidation_price)
                    * position.side.sign
                    / (sigma * math.sqrt(data.horizon_s))
                )
                sigmas = abs(sigmas) if risk.safe else -abs(sigmas)
            level = max(
                classify(
                    pct,
                    by_pct,
                    previous,
                    worse_when_lower=True,
                    hysteresis=hysteresis,
                ),
                classify(
                    sigmas,
                    by_sigma,
                    previous,
                    worse_when_lower=True,
                    hysteresis=hysteresis,
                ),
            )
            new_memory[key] = int(level)
            if level is Level.OK:
                continue
            facts = figures(
                mark=risk.mark_price,
                liquidation_price=risk.liquidation_price,
                distance_pct=pct,
                sigma_distance=sigmas,
                horizon_s=data.horizon_s,
                size=position.size,
                margin_mode=position.margin_mode.value,
            )
            threshold = dict(levels)[level]
            findings.append(
                Finding(
                    rule=self.name,
                    rule_type=self.rule_type,
                    level=level,
                    account=account,
                    symbol=position.symbol,
                    side=position.side,
                    metric="distance_pct",
                    measured=pct,
                    threshold=threshold.distance_pct if threshold else None,
                    message=(
                        f"{position.symbol} {position.side.value}: "
                        f"{_fmt(pct)}% / {_fmt(sigmas)} sigma from liquidation "
                        f"at {_fmt(risk.liquidation_price)} (mark {_fmt(risk.mark_price)})"
                    ),
                    figures=facts,
                )
            )
            if level is Level.CRITICAL and cfg.close_at_critical:
                actions.append(
                    Action(
                        kind=ActionKind.CLOSE,
                        account=account,
                        symbol=position.symbol,
                        side=position.side,
                        rule=self.name,
                        level=level,
                        reason="critical distance to liquidation: close",
                        size_before=position.size,
                        target_size=0.0,
                        figures=facts,
                    )
                )
            elif level >= Level.ACT:
                actions.extend(self._restore(data, position, sigma, level, facts))
        return RuleResult(tuple(findings), tuple(actions), new_memory)

    def _levels(self) -> list[tuple[Level, DistanceThreshold | None]]:
        c = self.config
        return [(Level.WARN, c.warn), (Level.ACT, c.act), (Level.CRITICAL, c.critical)]

    @functools.cached_property
    def _thresholds(
        self,
    ) -> tuple[
        list[tuple[Level, DistanceThreshold | None]],
        tuple[tuple[Level, float | None], ...],
        tuple[tuple[Level, float | None], ...],
    ]:
        """The levels, and their distance in percent and in sigmas (the config is frozen:
        built once per rule)."""
        levels = self._levels()
        by_pct = tuple((lvl, t.distance_pct if t else None) for lvl, t in levels)
        by_sigma = tuple((lvl, t.sigma if t else None) for lvl, t in levels)
        return levels, by_pct, by_sigma

    def _restore(
        self,
        data: RuleInput,
        position: Position,
        sigma: float,
        level: Level,
        facts: tuple[tuple[str, float | int | str | None], ...],
    ) -> list[Action]:
        cfg = self.config
        profile = get_profile(data.snapshot.venue)
        target = cfg.target.fraction(sigma, data.horizon_s, position.side)
        account = data.snapshot.account
        common = {
            "account": account,
            "symbol": position.symbol,
            "side": position.side,
            "rule": self.name,
            "level": level,
            "figures": (*facts, ("target_distance_pct", target * 100.0)),
        }
        isolated = position.margin_mode is MarginMode.ISOLATED
        free = max(0.0, data.free_balance)
        for remedy in cfg.remedies:
            if remedy == "add_margin" and isolated:
                needed = _margin_for_distance(position, profile, target)
                cap = min(free, cfg.max_margin_add)
                if 0 < needed <= cap:
                    return [
                        Action(
                            kind=ActionKind.ADD_MARGIN,
                            reason=f"add {needed:.2f} margin to restore {target:.1%} distance",
                            size_before=position.size,
                            target_size=position.size,
                            margin=needed,
                            **common,  # type: ignore[arg-type]
                        )
                    ]
            if remedy == "reduce":
                backing = (
                    None
                    if isolated
                    else cross_backing(data.snapshot, data.snapshot.positions.index(position))
                )
                keep = largest_safe_size(
                    position,
                    profile,
                    target,
                    floor=EquityFloor.MAINTENANCE,
                    slippage=data.evaluation.settings.slippage,
                    backing=backing,
                    policy=ReduceMarginPolicy.RETAINED,
                )
                keep = min(keep, position.size)
                if keep >= position.size:
                    continue
                actions = [
                    Action(
                        kind=ActionKind.REDUCE if keep > 0 else ActionKind.CLOSE,
                        reason=f"reduce to {keep:.6g} to restore {target:.1%} distance",
                        size_before=position.size,
                        target_size=keep,
                        **common,  # type: ignore[arg-type]
                    )
                ]
                if isolated and keep > 0:
                    # Put back what the reduction moved to the wallet: the released margin and
                    # the closed part's realised PnL, less the cost of closing it.
                    risk = data.evaluation.positions[data.snapshot.positions.index(position)].risk
                    fee = position.taker_fee + data.evaluation.settings.slippage
                    released = margin_left_by_reduction(
                        risk, keep, fee, ReduceMarginPolicy.PROPORTIONAL
                    )
                    actions.append(
                        Action(
                            kind=ActionKind.ADD_MARGIN,
                            reason="put the margin released by the reduction back",
                            size_before=keep,
                            target_size=keep,
                            margin=released,
                            **common,  # type: ignore[arg-type]
                        )
                    )
                return actions
        return [
            Action(
                kind=ActionKind.ALERT,
                reason="no configured remedy can restore the target distance",
                size_before=position.size,
                **common,  # type: ignore[arg-type]
            )
        ]


def _margin_for_distance(position: Position, profile: VenueProfile, target: float) -> float:
    """Margin to add so an isolated position's liquidation price is ``target`` from the mark."""
    s = position.side.sign
    lp_target = position.mark_price * (1.0 - s * target)
    if lp_target <= 0:
        return math.inf
    if position.inverse:
        # Coin-margined: the same condition holds in reciprocal-price space.
        position = reciprocal(position)
        s = position.side.sign
        lp_target = 1.0 / lp_target
    schedule = schedule_for(position, profile)
    needed_collateral = schedule.requirement(lp_target) - s * position.size * (
        lp_target - position.entry_price
    )
    return max(0.0, needed_collateral - isolated_collateral(position))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"
