"""``max_leverage``: keep effective leverage (notional / equity) under a cap.

Effective leverage is what a position really carries, not the exchange setting: its notional at
the mark over the equity behind it (an isolated position's collateral plus unrealised PnL; the
cross account's equity for a cross position), and for the account its total notional over its
equity. Levels come from ``warn``/``act``/``critical`` thresholds with hysteresis.

At ``act`` and ``critical`` the rule proposes reducing to the size whose effective leverage is
``target_leverage``. The equity behind a position stays where it is, less the cost of closing
(taker fee plus slippage, rate ``f``): a cross position's realised PnL stays in the cross wallet,
and a reduced isolated position gets an ADD_MARGIN putting back what the closed part moved to the
wallet (its released margin plus realised PnL less the cost) - without it a proportional release
would leave the isolated position's leverage exactly where it was. With ``u`` the notional per
unit of size, ``q`` the size and ``T`` the target, the kept size solves
``q'·u = T·(equity − (q − q')·u·f)``:

    q' = T·(equity − q·u·f) / (u·(1 − T·f))

An account above its thresholds is brought back to ``target_leverage`` by reducing the positions
in the rule's scope, either all by one common factor (``account_reduce: proportional``, the
default: nobody's position is singled out, and every one keeps its share) or the largest notional
first (``largest_first``: fewer orders). Closing part of any position leaves the account's equity
where it was, less the cost, so the common factor ``k`` solves
``N_out + k·N_in = T·(E − (1 − k)·F)`` with ``F = Σ N_i·f_i`` over the positions in scope.
Positions outside the scope keep their size but count in the total.

A position reduced for both reasons gets one REDUCE, to the smaller size. Separately, when a
position's exchange leverage setting is above ``max_setting`` the rule proposes SET_LEVERAGE to
``max_setting``: only ever lowering it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
"""Memory key of the account-level level (position keys are ``symbol:side``)."""


class LeverageThreshold(StrictModel):
    """An effective leverage (notional / equity)."""

    leverage: Annotated[float, Field(gt=0)] = Field(description="effective leverage, e.g. 20")


class MaxLeverageConfig(RuleConfigBase):
    """Config of the ``max_leverage`` rule."""

    type: Literal["max_leverage"]
    warn: LeverageThreshold | None = Field(
        LeverageThreshold(leverage=15.0), description="warn at this effective leverage"
    )
    act: LeverageThreshold | None = Field(
        LeverageThreshold(leverage=20.0), description="reduce to the target at this leverage"
    )
    critical: LeverageThreshold | None = Field(
        LeverageThreshold(leverage=30.0), description="critical (still reduce) at this leverage"
    )
    target_leverage: Annotated[float, Field(gt=0)] = Field(
        10.0, description="effective leverage a reduction restores"
    )
    per_position: bool = Field(True, description="measure every position's effective leverage")
    per_account: bool = Field(True, description="measure the account's effective leverage")
    account_reduce: Literal["proportional", "largest_first"] = Field(
        "proportional",
        description="how an account breach is spread: one factor for all, or largest first",
    )
    max_setting: Annotated[float, Field(ge=1)] | None = Field(
        None, description="highest exchange leverage setting allowed; lowered to this when above"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_rising_levels(
            "leverage",
            [(n, t.leverage if t else None) for n, t in self._named()],
            ("target_leverage", self.target_leverage),
        )
        if not (self.per_position or self.per_account or self.max_setting is not None):
            raise ValueError(
                "per_position: nothing to check; enable per_position, per_account "
                "or give max_setting"
            )
        return self

    def _named(self) -> list[tuple[str, LeverageThreshold | None]]:
        return [("warn", self.warn), ("act", self.act), ("critical", self.critical)]


@dataclass(slots=True)
class _Proposal:
    """The smallest size asked for one position, and why."""

    target: float
    level: Level
    reason: str
    facts: Figures


class MaxLeverageRule(ConfiguredRule[MaxLeverageConfig]):
    """The configured rule."""

    rule_type = "max_leverage"

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        hysteresis = cfg.hysteresis_pct / 100.0
        thresholds = self._thresholds()
        slippage = data.evaluation.settings.slippage
        findings: list[Finding] = []
        actions: list[Action] = []
        new_memory: dict[str, float | int | str | None] = {}
        proposals: dict[int, _Proposal] = {}
        in_scope: list[int] = []
        pairs = zip(data.snapshot.positions, data.evaluation.positions, strict=True)
        for i, (position, item) in enumerate(pairs):
            if not self.applies_to(account, position.symbol):
                continue
            in_scope.append(i)
            risk = item.risk
            if cfg.max_setting is not None and (position.leverage or 0.0) > cfg.max_setting:
                findings.append(self._setting_finding(account, position))
                actions.append(self._set_leverage(account, position))
            if not cfg.per_position:
                continue
            key = f"{position.symbol}:{position.side.value}"
            previous = level_of(int(memory.get(key) or 0))
            measured = risk.effective_leverage
            level = classify(
                measured, thresholds, previous, worse_when_lower=False, hysteresis=hysteresis
            )
            new_memory[key] = int(level)
            if level is Level.OK:
                continue
            facts = figures(
                effective_leverage=measured,
                notional=risk.notional,
                equity=risk.equity,
                mark=risk.mark_price,
                size=position.size,
                margin_mode=position.margin_mode.value,
                leverage_setting=position.leverage,
            )
            findings.append(
                Finding(
                    rule=self.name,
                    rule_type=self.rule_type,
                    level=level,
                    account=account,
                    symbol=position.symbol,
                    side=position.side,
                    metric="effective_leverage",
                    measured=measured,
                    threshold=dict(thresholds)[level],
                    message=(
                        f"{position.symbol} {position.side.value}: effective leverage "
                        f"{_fmt(measured)}x (notional {_fmt(risk.notional)} on equity "
                        f"{_fmt(risk.equity)})"
                    ),
                    figures=facts,
                )
            )
            if level >= Level.ACT:
                keep = size_for_leverage(risk, cfg.target_leverage, position.taker_fee + slippage)
                reason = (
                    f"effective leverage {_fmt(measured)}x: reduce to {keep:.6g} "
                    f"for {cfg.target_leverage:g}x"
                )
                _propose(proposals, i, _Proposal(keep, level, reason, facts))
        if cfg.per_account and self.scope.covers(account):
            account_findings, account_proposals = self._account(data, memory, in_scope, new_memory)
            findings.extend(account_findings)
            for i, proposal in account_proposals.items():
                _propose(proposals, i, proposal)
        for i, proposal in sorted(proposals.items()):
            actions.extend(self._reduce(data, i, proposal))
        return RuleResult(tuple(findings), tuple(actions), new_memory)

    def _thresholds(self) -> list[tuple[Level, float | None]]:
        c = self.config
        return [
            (lvl, t.leverage if t else None)
            for lvl, t in ((Level.WARN, c.warn), (Level.ACT, c.act), (Level.CRITICAL, c.critical))
        ]

    def _account(
        self,
        data: RuleInput,
        memory: Memory,
        in_scope: list[int],
        new_memory: dict[str, float | int | str | None],
    ) -> tuple[list[Finding], dict[int, _Proposal]]:
        cfg = self.config
        account_risk = data.evaluation.risk
        thresholds = self._thresholds()
        previous = level_of(int(memory.get(ACCOUNT_KEY) or 0))
        measured = account_risk.effective_leverage
        level = classify(
            measured,
            thresholds,
            previous,
            worse_when_lower=False,
            hysteresis=cfg.hysteresis_pct / 100.0,
        )
        new_memory[ACCOUNT_KEY] = int(level)
        if level is Level.OK:
            return [], {}
        facts = figures(
            account_leverage=measured,
            total_notional=account_risk.total_notional,
            equity=account_risk.equity,
            positions=len(data.snapshot.positions),
        )
        finding = Finding(
            rule=self.name,
            rule_type=self.rule_type,
            level=level,
            account=data.snapshot.account,
            symbol=None,
            side=None,
            metric="account_leverage",
            measured=measured,
            threshold=dict(thresholds)[level],
            message=(
                f"account effective leverage {_fmt(measured)}x (notional "
                f"{_fmt(account_risk.total_notional)} on equity {_fmt(account_risk.equity)})"
            ),
            figures=facts,
        )
        if level < Level.ACT or not in_scope:
            return [finding], {}
        slippage = data.evaluation.settings.slippage
        risks = [data.evaluation.positions[i].risk for i in in_scope]
        fees = [data.snapshot.positions[i].taker_fee + slippage for i in in_scope]
        if cfg.account_reduce == "proportional":
            keeps = _proportional(
                risks, fees, account_risk.total_notional, account_risk.equity, cfg.target_leverage
            )
        else:
            keeps = _largest_first(
                risks, fees, account_risk.total_notional, account_risk.equity, cfg.target_leverage
            )
        reason = (
            f"account effective leverage {_fmt(measured)}x: reduce ({cfg.account_reduce}) "
            f"for {cfg.target_leverage:g}x"
        )
        proposals = {
            i: _Proposal(keep, level, reason, facts)
            for i, keep in zip(in_scope, keeps, strict=True)
            if keep < data.snapshot.positions[i].size
        }
        return [finding], proposals

    def _reduce(self, data: RuleInput, index: int, proposal: _Proposal) -> list[Action]:
        position = data.snapshot.positions[index]
        risk = data.evaluation.positions[index].risk
        keep = max(0.0, min(proposal.target, position.size))
        if keep >= position.size:
            return []
        facts = (
            *proposal.facts,
            ("target_leverage", self.config.target_leverage),
            ("target_size", keep),
        )
        common = {
            "account": data.snapshot.account,
            "symbol": position.symbol,
            "side": position.side,
            "rule": self.name,
            "level": proposal.level,
            "figures": facts,
        }
        actions = [
            Action(
                kind=ActionKind.REDUCE if keep > 0 else ActionKind.CLOSE,
                reason=proposal.reason,
                size_before=position.size,
                target_size=keep,
                **common,  # type: ignore[arg-type]
            )
        ]
        if position.margin_mode is MarginMode.ISOLATED and keep > 0:
            policy = get_profile(data.snapshot.venue).reduce_margin_policy
            fee = position.taker_fee + data.evaluation.settings.slippage
            margin = margin_left_by_reduction(risk, keep, fee, policy)
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

    def _setting_finding(self, account: str, position: Position) -> Finding:
        cap = self.config.max_setting
        return Finding(
            rule=self.name,
            rule_type=self.rule_type,
            level=Level.ACT,
            account=account,
            symbol=position.symbol,
            side=position.side,
            metric="leverage_setting",
            measured=position.leverage,
            threshold=cap,
            message=(
                f"{position.symbol} {position.side.value}: exchange leverage setting "
                f"{position.leverage:g}x is above the cap {cap:g}x"
            ),
            figures=figures(leverage_setting=position.leverage, max_setting=cap),
        )

    def _set_leverage(self, account: str, position: Position) -> Action:
        cap = self.config.max_setting
        return Action(
            kind=ActionKind.SET_LEVERAGE,
            account=account,
            symbol=position.symbol,
            side=position.side,
            rule=self.name,
            level=Level.ACT,
            reason=f"lower the leverage setting from {position.leverage:g}x to {cap:g}x",
            size_before=position.size,
            target_size=position.size,
            leverage=cap,
            figures=figures(leverage_setting=position.leverage, max_setting=cap),
        )


def size_for_leverage(risk: PositionRisk, target: float, fee: float) -> float:
    """The size (at most the current) whose effective leverage is ``target`` once reduced.

    The equity behind the position is kept, less ``fee`` (taker fee plus slippage, a fraction of
    notional) on the part closed: ``q' = T·(equity − q·u·f) / (u·(1 − T·f))``.
    """
    q = risk.size
    unit_value = risk.notional / q
    if risk.equity <= 0:
        return 0.0
    denominator = unit_value * (1.0 - target * fee)
    if denominator <= 0:
        return 0.0
    keep = target * (risk.equity - q * unit_value * fee) / denominator
    return max(0.0, min(q, keep))


def margin_left_by_reduction(
    risk: PositionRisk, keep: float, fee: float, policy: ReduceMarginPolicy
) -> float:
    """What reducing an isolated position to ``keep`` moves to the wallet (never negative).

    Released margin (proportional policy only) plus the closed part's realised PnL, less the
    cost of closing it. Adding this back keeps the position's equity, less that cost.
    """
    q = risk.size
    closed = q - keep
    released = risk.collateral * closed / q if policy is ReduceMarginPolicy.PROPORTIONAL else 0.0
    realized = risk.unrealized_pnl * closed / q
    cost = closed * risk.notional / q * fee
    return max(0.0, released + realized - cost)


def _proportional(
    risks: list[PositionRisk],
    fees: list[float],
    total_notional: float,
    equity: float,
    target: float,
) -> list[float]:
    """One factor ``k`` for every position: ``N_out + k·N_in = T·(E − (1 − k)·F)``."""
    n_in = sum(r.notional for r in risks)
    n_out = total_notional - n_in
    cost = sum(r.notional * f for r, f in zip(risks, fees, strict=True))
    denominator = n_in - target * cost
    factor = (target * (equity - cost) - n_out) / denominator if denominator > 0 else 0.0
    factor = max(0.0, min(1.0, factor)) if equity > 0 else 0.0
    return [r.size * factor for r in risks]


def _largest_first(
    risks: list[PositionRisk],
    fees: list[float],
    total_notional: float,
    equity: float,
    target: float,
) -> list[float]:
    """Remove notional from the largest position first until ``N / E`` is at the target."""
    keeps = [r.size for r in risks]
    notional = total_notional
    for j in sorted(range(len(risks)), key=lambda j: -risks[j].notional):
        excess = notional - target * equity
        if excess <= 0:
            break
        r = risks[j]
        denominator = 1.0 - target * fees[j]
        removed = r.notional if denominator <= 0 else min(r.notional, excess / denominator)
        keeps[j] = r.size * (1.0 - removed / r.notional)
        notional -= removed
        equity -= removed * fees[j]
    return keeps


def _propose(proposals: dict[int, _Proposal], index: int, proposal: _Proposal) -> None:
    """Keep the smaller target for a position; the level is the worse of the two."""
    current = proposals.get(index)
    if current is None:
        proposals[index] = proposal
        return
    level = max(current.level, proposal.level)
    best = proposal if proposal.target < current.target else current
    proposals[index] = _Proposal(best.target, level, best.reason, best.facts)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:,.2f}"
