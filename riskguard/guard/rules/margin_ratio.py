"""``margin_ratio``: keep the account's margin ratio (requirement / equity) away from 1.0.

The measure is :attr:`AccountRisk.margin_ratio`: the cross account's requirement over its equity,
or the worst isolated position's own, whichever is nearer liquidation (1.0 is liquidation,
infinite once the equity is gone). One finding per account, graded by ``warn``/``act``/
``critical`` thresholds with hysteresis.

At ``act`` every part of the account whose ratio is above ``target_ratio`` is brought back to it:

- the cross account by reducing its positions that carry the most maintenance margin first:
  the largest is reduced as far as needed (down to closing it) before the next one is touched;
- an isolated position by reducing it with the margin the closed part moved to the wallet put
  back (an ADD_MARGIN): under proportional release a partial close would leave its ratio where
  it was. An isolated position closed outright leaves its equity (less the cost) in the cross
  wallet, which the cross plan counts.

The sizes are an estimate: a position's requirement is taken to scale with its size, and its
equity (the cross account's, or the isolated position's with the margin put back) to stay where
it is less the cost of closing (taker fee plus slippage). Tiered maintenance margin
``N·rate − amount`` grows at least in proportion to size (the deduction is fixed, and smaller
positions fall into lower tiers), so the real ratio after the reduction is at or below the
estimate: the rule never undershoots the target. For an isolated position with requirement
``R``, equity ``E``, size ``q``, notional per unit ``u``, cost rate ``f`` and target ``t``:

    q' = t·(E − q·u·f) / (R/q − t·u·f)

At ``critical`` (with ``close_at_critical``, the default) the position carrying the most
maintenance margin in the part nearest liquidation is closed outright, and the rest of the plan
is worked out as at ``act``. Only positions in the rule's scope are reduced.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.domain import MarginMode, Position
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Figures,
    Finding,
    Level,
    Memory,
    RuleInput,
    RuleResult,
    classify,
    figures,
    level_of,
)
from riskguard.guard.rules.config_base import ConfiguredRule, RuleConfigBase, check_rising_levels
from riskguard.risk.account import PositionRisk
from riskguard.risk.venues import ReduceMarginPolicy, get_profile
from riskguard.validation import StrictModel

ACCOUNT_KEY = "account"
"""Memory key of the account's level."""


class RatioThreshold(StrictModel):
    """A margin ratio: maintenance requirement / equity, 1.0 at liquidation."""

    ratio: Annotated[float, Field(gt=0, le=1)] = Field(
        description="maintenance requirement / equity (1.0 is liquidation)"
    )


class MarginRatioConfig(RuleConfigBase):
    """Config of the ``margin_ratio`` rule."""

    type: Literal["margin_ratio"]
    warn: RatioThreshold | None = Field(RatioThreshold(ratio=0.5), description="warn at")
    act: RatioThreshold | None = Field(
        RatioThreshold(ratio=0.7), description="reduce to the target at this ratio"
    )
    critical: RatioThreshold | None = Field(
        RatioThreshold(ratio=0.85), description="close the largest contributor at this ratio"
    )
    target_ratio: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.4, description="margin ratio a reduction restores"
    )
    close_at_critical: bool = Field(
        True, description="at critical, close the position carrying the most maintenance margin"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        named = [("warn", self.warn), ("act", self.act), ("critical", self.critical)]
        check_rising_levels(
            "ratio",
            [(n, t.ratio if t else None) for n, t in named],
            ("target_ratio", self.target_ratio),
        )
        return self


class MarginRatioRule(ConfiguredRule[MarginRatioConfig]):
    """The configured rule."""

    rule_type = "margin_ratio"

    @functools.cached_property
    def _thresholds(self) -> tuple[tuple[Level, float | None], ...]:
        """The ratio of each level (the config is frozen: built once per rule)."""
        cfg = self.config
        return tuple(
            (lvl, t.ratio if t else None)
            for lvl, t in (
                (Level.WARN, cfg.warn),
                (Level.ACT, cfg.act),
                (Level.CRITICAL, cfg.critical),
            )
        )

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        if not self.scope.covers(account):
            return RuleResult()
        risk = data.evaluation.risk
        thresholds = self._thresholds
        previous = level_of(int(memory.get(ACCOUNT_KEY) or 0))
        measured = risk.margin_ratio
        level = classify(
            measured,
            thresholds,
            previous,
            worse_when_lower=False,
            hysteresis=cfg.hysteresis_pct / 100.0,
        )
        new_memory: dict[str, float | int | str | None] = {ACCOUNT_KEY: int(level)}
        if level is Level.OK:
            return RuleResult(memory=new_memory)
        worst = _worst_part(data)
        facts = figures(
            margin_ratio=measured,
            cross_margin_ratio=risk.cross_margin_ratio,
            cross_requirement=risk.cross_requirement,
            cross_equity=risk.cross_equity,
            worst_part=worst,
            target_ratio=cfg.target_ratio,
        )
        finding = Finding(
            rule=self.name,
            rule_type=self.rule_type,
            level=level,
            account=account,
            symbol=None,
            side=None,
            metric="margin_ratio",
            measured=measured,
            threshold=dict(thresholds)[level],
            message=f"margin ratio {_fmt(measured)} ({worst}); liquidation at 1.00",
            figures=facts,
        )
        actions: list[Action] = []
        if level >= Level.ACT:
            close_first = level is Level.CRITICAL and cfg.close_at_critical
            actions = self._plan(data, level, facts, worst if close_first else None)
        return RuleResult((finding,), tuple(actions), new_memory)

    def _plan(
        self, data: RuleInput, level: Level, facts: Figures, close_in: str | None
    ) -> list[Action]:
        """Reductions for every part above the target; ``close_in`` names a part to close in."""
        cfg = self.config
        account = data.snapshot.account
        risk = data.evaluation.risk
        slippage = data.evaluation.settings.slippage
        positions = data.snapshot.positions
        items = [p.risk for p in data.evaluation.positions]
        keeps: dict[int, float] = {}
        margin_back: set[int] = set()
        policy = get_profile(data.snapshot.venue).reduce_margin_policy
        wallet_change = 0.0  # what the isolated reductions leave in the cross wallet
        for i, (position, item) in enumerate(zip(positions, items, strict=True)):
            if position.margin_mode is not MarginMode.ISOLATED:
                continue
            if not self.applies_to(account, position.symbol):
                continue
            fee = position.taker_fee + slippage
            if close_in == _part_name(position):
                keeps[i] = 0.0
            elif item.margin_ratio > cfg.target_ratio:
                keeps[i] = isolated_size_for_ratio(item, cfg.target_ratio, fee)
                margin_back.add(i)
            else:
                continue
            moved = _moved_to_wallet(item, keeps[i], fee, policy)
            wallet_change += min(0.0, moved) if i in margin_back and keeps[i] > 0 else moved
        cross = [
            i
            for i, p in enumerate(positions)
            if p.margin_mode is MarginMode.CROSS and self.applies_to(account, p.symbol)
        ]
        if cross and risk.cross_margin_ratio is not None:
            keeps.update(
                _cross_plan(
                    [items[i] for i in cross],
                    [positions[i].taker_fee + slippage for i in cross],
                    cross,
                    risk.cross_requirement,
                    risk.cross_equity + wallet_change,
                    cfg.target_ratio,
                    close_largest=close_in == "cross",
                )
            )
        actions: list[Action] = []
        for i, planned in sorted(keeps.items()):
            position, item = positions[i], items[i]
            keep = max(0.0, min(planned, position.size))
            if keep >= position.size:
                continue
            common = {
                "account": account,
                "symbol": position.symbol,
                "side": position.side,
                "rule": self.name,
                "level": level,
                "figures": (
                    *facts,
                    ("size", position.size),
                    ("maintenance_margin", item.maintenance_margin),
                    ("position_margin_ratio", item.margin_ratio),
                    ("target_size", keep),
                ),
            }
            actions.append(
                Action(
                    kind=ActionKind.REDUCE if keep > 0 else ActionKind.CLOSE,
                    reason=(
                        f"margin ratio {_fmt(item.margin_ratio)}: "
                        + (
                            "close the largest maintenance margin"
                            if keep == 0 and i not in margin_back
                            else f"reduce to {keep:.6g} for a ratio of {cfg.target_ratio:g}"
                        )
                    ),
                    size_before=position.size,
                    target_size=keep,
                    **common,  # type: ignore[arg-type]
                )
            )
            if i in margin_back and keep > 0:
                margin = _margin_left(item, keep, position.taker_fee + slippage, policy)
                if margin > 0:
                    actions.append(
                        Action(
                            kind=ActionKind.ADD_MARGIN,
                            reason="put back what the reduction moved to the wallet",
                            size_before=keep,
                            target_size=keep,
                            margin=margin,
                            **common,  # type: ignore[arg-type]
                        )
                    )
        return actions


def isolated_size_for_ratio(risk: PositionRisk, target: float, fee: float) -> float:
    """The size (at most the current) whose ratio is estimated at ``target`` after a reduction.

    The requirement scales with size and the equity is kept less the closing cost:
    ``q' = t·(E − q·u·f) / (R/q − t·u·f)``.
    """
    q = risk.size
    if risk.equity <= 0:
        return 0.0
    unit_value = risk.notional / q
    denominator = risk.requirement / q - target * unit_value * fee
    if denominator <= 0:
        return q
    keep = target * (risk.equity - q * unit_value * fee) / denominator
    return max(0.0, min(q, keep))


def _cross_plan(
    risks: list[PositionRisk],
    fees: list[float],
    indices: list[int],
    requirement: float,
    equity: float,
    target: float,
    *,
    close_largest: bool,
) -> dict[int, float]:
    """Cut the requirement, largest first, until ``requirement / equity`` is at ``target``."""
    keeps: dict[int, float] = {}
    order = sorted(range(len(risks)), key=lambda j: -risks[j].requirement)
    for n, j in enumerate(order):
        r = risks[j]
        if r.requirement <= 0:
            continue
        cost_per_requirement = r.notional * fees[j] / r.requirement
        if close_largest and n == 0:
            removed = r.requirement
        else:
            excess = requirement - target * equity
            if excess <= 0 and equity > 0:
                break
            denominator = 1.0 - target * cost_per_requirement
            removed = (
                r.requirement
                if denominator <= 0 or equity <= 0
                else min(r.requirement, excess / denominator)
            )
        keeps[indices[j]] = r.size * (1.0 - removed / r.requirement)
        requirement -= removed
        equity -= removed * cost_per_requirement
    return keeps


def _worst_part(data: RuleInput) -> str:
    """``cross`` or ``SYMBOL side (isolated)``: the part of the account nearest liquidation."""
    risk = data.evaluation.risk
    best = ("cross", risk.cross_margin_ratio if risk.cross_margin_ratio is not None else -1.0)
    for position, item in zip(data.snapshot.positions, data.evaluation.positions, strict=True):
        if position.margin_mode is MarginMode.ISOLATED and item.risk.margin_ratio > best[1]:
            best = (_part_name(position), item.risk.margin_ratio)
    return best[0]


def _part_name(position: Position) -> str:
    if position.margin_mode is MarginMode.CROSS:
        return "cross"
    return f"{position.symbol} {position.side.value} (isolated)"


def _moved_to_wallet(
    risk: PositionRisk, keep: float, fee: float, policy: ReduceMarginPolicy
) -> float:
    """What reducing an isolated position to ``keep`` moves to the wallet (negative: takes).

    Released margin (proportional policy only) plus the closed part's realised PnL, less the cost
    of closing it.
    """
    q = risk.size
    closed = q - keep
    released = risk.collateral * closed / q if policy is ReduceMarginPolicy.PROPORTIONAL else 0.0
    return released + risk.unrealized_pnl * closed / q - closed * risk.notional / q * fee


def _margin_left(risk: PositionRisk, keep: float, fee: float, policy: ReduceMarginPolicy) -> float:
    """The margin to put back after a reduction: what it moved to the wallet, if anything."""
    return max(0.0, _moved_to_wallet(risk, keep, fee, policy))


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:,.2f}"
