"""``concentration``: how much of an account's notional sits in one asset.

The asset of a position is the base currency of its symbol (``BTC`` for ``BTC/USDT:USDT`` and
``BTC/USDC:USDC`` alike), mapped through ``aliases`` for venues that rename it (``1000PEPE`` ->
``PEPE``). An asset's share is the gross notional (longs plus shorts: a hedge is still exposure
to the venue, the funding and the basis of that one asset) of its positions in the rule's scope
over the account's total notional. Positions outside the scope count in the total and in no
asset. Each asset is graded by ``warn``/``act``/``critical`` thresholds in percent with
hysteresis.

Concentration is not a liquidation risk by itself, so the rule's default is to tell people: a
finding per asset and an ALERT at ``act`` and ``critical``. With ``reduce: true`` it also
proposes reducing that asset's positions in scope, all by one factor, so the share is back at
``target_pct``: removing notional ``r`` from asset notional ``A`` of total ``T`` gives
``(A − r)/(T − r) = p``, so ``r = (A − p·T)/(1 − p)``. An account holding nothing else cannot
lower the share by reducing, so then the rule only alerts.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

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
from riskguard.guard.rules.config_base import ConfiguredRule, RuleConfigBase, check_rising_levels
from riskguard.validation import StrictModel


class ShareThreshold(StrictModel):
    """An asset's share of the account's notional."""

    share_pct: Annotated[float, Field(gt=0, le=100)] = Field(
        description="percent of the account's total notional in one asset"
    )


class ConcentrationConfig(RuleConfigBase):
    """Config of the ``concentration`` rule."""

    type: Literal["concentration"]
    warn: ShareThreshold | None = Field(ShareThreshold(share_pct=50.0), description="warn at")
    act: ShareThreshold | None = Field(ShareThreshold(share_pct=70.0), description="alert at")
    critical: ShareThreshold | None = Field(
        ShareThreshold(share_pct=90.0), description="critical at"
    )
    reduce: bool = Field(False, description="also reduce the asset to target_pct at act")
    target_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        40.0, description="share a reduction restores (with reduce: true)"
    )
    min_total_notional: Annotated[float, Field(ge=0)] = Field(
        0.0, description="accounts with less total notional are not graded"
    )
    aliases: dict[str, str] = Field(
        default_factory=dict, description="base currency -> asset, e.g. {1000PEPE: PEPE}"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        named = [("warn", self.warn), ("act", self.act), ("critical", self.critical)]
        check_rising_levels(
            "share_pct",
            [(n, t.share_pct if t else None) for n, t in named],
            ("target_pct", self.target_pct),
        )
        return self


def asset_of(symbol: str, aliases: dict[str, str] | None = None) -> str:
    """The asset a symbol is exposed to: its base currency (``ETH`` for ``ETH/USDT:USDT``)."""
    base = symbol.split("/", 1)[0].split(":", 1)[0]
    return (aliases or {}).get(base, base)


class ConcentrationRule(ConfiguredRule[ConcentrationConfig]):
    """The configured rule."""

    rule_type = "concentration"

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        total = data.evaluation.risk.total_notional
        if not self.scope.covers(account) or total <= 0 or total < cfg.min_total_notional:
            return RuleResult()
        groups: dict[str, list[int]] = {}
        for i, position in enumerate(data.snapshot.positions):
            if self.applies_to(account, position.symbol):
                groups.setdefault(asset_of(position.symbol, cfg.aliases), []).append(i)
        thresholds = [
            (lvl, t.share_pct if t else None)
            for lvl, t in (
                (Level.WARN, cfg.warn),
                (Level.ACT, cfg.act),
                (Level.CRITICAL, cfg.critical),
            )
        ]
        findings: list[Finding] = []
        actions: list[Action] = []
        new_memory: dict[str, float | int | str | None] = {}
        for asset, members in sorted(groups.items()):
            key = f"asset:{asset}"
            notional = sum(data.evaluation.positions[i].risk.notional for i in members)
            share = notional / total * 100.0
            previous = level_of(int(memory.get(key) or 0))
            level = classify(
                share,
                thresholds,
                previous,
                worse_when_lower=False,
                hysteresis=cfg.hysteresis_pct / 100.0,
            )
            new_memory[key] = int(level)
            if level is Level.OK:
                continue
            facts = figures(
                asset=asset,
                share_pct=share,
                asset_notional=notional,
                total_notional=total,
                positions=len(members),
            )
            findings.append(
                Finding(
                    rule=self.name,
                    rule_type=self.rule_type,
                    level=level,
                    account=account,
                    symbol=None,
                    side=None,
                    metric="share_pct",
                    measured=share,
                    threshold=dict(thresholds)[level],
                    message=(
                        f"{asset}: {share:.1f}% of the account's notional "
                        f"({notional:,.2f} of {total:,.2f})"
                    ),
                    figures=facts,
                )
            )
            if level < Level.ACT:
                continue
            alone = math.isclose(notional, total, rel_tol=1e-12)
            actions.append(
                Action(
                    kind=ActionKind.ALERT,
                    account=account,
                    symbol=None,
                    side=None,
                    rule=self.name,
                    level=level,
                    reason=(
                        f"{asset} is {share:.1f}% of the account's notional"
                        + (
                            "; the account holds nothing else, reducing cannot lower the share"
                            if alone and cfg.reduce
                            else ""
                        )
                    ),
                    figures=facts,
                )
            )
            if cfg.reduce and not alone:
                p = cfg.target_pct / 100.0
                removed = max(0.0, (notional - p * total) / (1.0 - p))
                factor = max(0.0, 1.0 - removed / notional)
                for i in members:
                    position = data.snapshot.positions[i]
                    keep = position.size * factor
                    if keep >= position.size:
                        continue
                    actions.append(
                        Action(
                            kind=ActionKind.REDUCE,
                            account=account,
                            symbol=position.symbol,
                            side=position.side,
                            rule=self.name,
                            level=level,
                            reason=(
                                f"{asset} at {share:.1f}% of notional: reduce to {keep:.6g} "
                                f"for {cfg.target_pct:g}%"
                            ),
                            size_before=position.size,
                            target_size=keep,
                            figures=(
                                *facts,
                                ("target_pct", cfg.target_pct),
                                ("target_size", keep),
                            ),
                        )
                    )
        return RuleResult(tuple(findings), tuple(actions), new_memory)
