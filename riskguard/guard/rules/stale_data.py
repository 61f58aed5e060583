"""``stale_data``: never act on stale or inconsistent data, and say so loudly.

The age that matters is the time since the last *consistent* snapshot: a fresh snapshot that failed
its consistency checks tells the guard nothing it may act on. The rule remembers when the last
consistent snapshot was taken (``last_good_at``, epoch seconds) and measures from there::

    consistent snapshot     age = data_age_s               (and last_good_at = now - data_age_s)
    inconsistent snapshot   age = now - last_good_at       (now - first cycle seen, if none yet)

Levels: ``warn`` from ``warn_age_s`` (and for any inconsistent snapshot: the guard is blind this
cycle), ``critical`` from ``max_age_s``, with an ALERT action. The rule only alerts: it proposes
no order, because it is the data it would act on that is in doubt.

**The engine must not run the other rules on data that fails** :func:`data_is_actionable`
(an inconsistent snapshot, or one ``max_age_s`` old or older): it runs this rule alone and acts on
nothing. The two agree by construction: the rule is at ``critical`` exactly when the age reaches
``max_age_s`` (hysteresis applies only to leaving ``warn``, so a fresh consistent snapshot makes
the data actionable and ends ``critical`` in the same cycle).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.guard.rules.base import (
    Action,
    ActionKind,
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

__all__ = ["StaleDataConfig", "StaleDataRule", "data_is_actionable"]


class StaleDataConfig(RuleConfigBase):
    """Config of the ``stale_data`` rule."""

    type: Literal["stale_data"]
    warn_age_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="warn once the last consistent snapshot is this old"
    )
    max_age_s: Annotated[float, Field(gt=0)] = Field(
        120.0, description="critical, and nothing acted on, once it is this old"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.warn_age_s < self.max_age_s:
            raise ValueError(
                f"warn_age_s: must be below max_age_s ({self.warn_age_s} >= {self.max_age_s})"
            )
        return self


def data_is_actionable(data: RuleInput, config: StaleDataConfig) -> bool:
    """Whether the other rules may run on ``data``: consistent and younger than ``max_age_s``."""
    return data.consistent and data.data_age_s < config.max_age_s


def _number(value: FigureValue) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


class StaleDataRule(ConfiguredRule[StaleDataConfig]):
    """The configured rule."""

    rule_type = "stale_data"

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        if not self.applies_to(account, None):
            return RuleResult()
        now_s = data.now.timestamp()
        first_seen = _number(memory.get("first_seen_at"))
        first_seen = now_s if first_seen is None else min(first_seen, now_s)
        last_good = _number(memory.get("last_good_at"))
        if data.consistent:
            age = max(0.0, data.data_age_s)
            taken = now_s - age
            last_good = taken if last_good is None else max(last_good, taken)
        else:
            age = max(0.0, now_s - (first_seen if last_good is None else last_good))
        previous = level_of(int(_number(memory.get("level")) or 0))

        if age >= cfg.max_age_s:
            level = Level.CRITICAL
        else:
            level = classify(
                age,
                [(Level.WARN, cfg.warn_age_s)],
                min(previous, Level.WARN),
                worse_when_lower=False,
                hysteresis=cfg.hysteresis_pct / 100.0,
            )
            if not data.consistent:
                level = max(level, Level.WARN)
        memory_out: dict[str, FigureValue] = {
            "first_seen_at": first_seen,
            "last_good_at": last_good,
            "level": int(level),
        }
        if level is Level.OK:
            return RuleResult(memory=memory_out)

        threshold = cfg.max_age_s if level is Level.CRITICAL else cfg.warn_age_s
        known = "no consistent snapshot yet" if last_good is None else "last consistent snapshot"
        state = "consistent" if data.consistent else "INCONSISTENT"
        message = (
            f"{account}: {known} {age:,.0f} s ago (this one {state}, {data.data_age_s:,.0f} s "
            f"old); limit {threshold:,.0f} s"
        )
        if level is Level.CRITICAL:
            message += ": nothing is acted on until fresh, consistent data arrives"
        facts = figures(
            age_s=age,
            data_age_s=data.data_age_s,
            consistent=str(data.consistent).lower(),
            warn_age_s=cfg.warn_age_s,
            max_age_s=cfg.max_age_s,
            snapshot_taken_at=data.snapshot.taken_at.isoformat(timespec="seconds"),
        )
        finding = Finding(
            rule=self.name,
            rule_type=self.rule_type,
            level=level,
            account=account,
            symbol=None,
            side=None,
            metric="age_s",
            measured=age,
            threshold=threshold,
            message=message,
            figures=facts,
        )
        actions: tuple[Action, ...] = ()
        if level is Level.CRITICAL:
            actions = (
                Action(
                    kind=ActionKind.ALERT,
                    account=account,
                    symbol=None,
                    side=None,
                    rule=self.name,
                    level=level,
                    reason=message,
                    figures=facts,
                ),
            )
        return RuleResult((finding,), actions, memory_out)
