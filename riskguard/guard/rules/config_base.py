"""Config pieces every rule shares: name, scope, hysteresis."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import Field

from riskguard.guard.rules.base import Scope
from riskguard.validation import StrictModel

MAX_SIGMAS = 100.0
"""The largest distance or buffer a rule takes in sigmas: a hundred sigmas over the reaction
horizon is already beyond any market; more only makes the arithmetic overflow."""


class ScopeIn(StrictModel):
    """Accounts and symbols the rule covers, as shell-style patterns."""

    accounts: tuple[str, ...] = Field(("*",), min_length=1, description="account id patterns")
    symbols: tuple[str, ...] = Field(("*",), min_length=1, description="symbol patterns")

    def to_scope(self) -> Scope:
        return Scope(self.accounts, self.symbols)


class RuleConfigBase(StrictModel):
    """Fields every rule has."""

    name: str | None = Field(None, description="unique name; defaults to the type")
    scope: ScopeIn = ScopeIn()
    hysteresis_pct: Annotated[float, Field(ge=0, le=100)] = Field(
        20.0, description="a level is left only this far (percent of its threshold) beyond it"
    )


ConfigT = TypeVar("ConfigT", bound=RuleConfigBase)


class ConfiguredRule(Generic[ConfigT]):
    """What every rule does with its config: keep it, take its name and scope."""

    rule_type: ClassVar[str]

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.name: str = config.name or self.rule_type
        self.scope: Scope = config.scope.to_scope()

    def applies_to(self, account: str, symbol: str | None) -> bool:
        return self.scope.covers(account, symbol)


def check_rising_levels(
    unit: str,
    levels: Sequence[tuple[str, float | None]],
    target: tuple[str, float] | None = None,
) -> None:
    """Thresholds that must rise from ``warn`` to ``critical``, and a target below ``act``.

    ``levels`` are ``(level name, threshold)`` in the order warn, act, critical (None: not set).
    Raises ValueError naming the field, e.g. ``act.ratio: must be above warn.ratio``.
    """
    present = [(n, v) for n, v in levels if v is not None]
    for (n1, v1), (n2, v2) in itertools.pairwise(present):
        if not v2 > v1:
            raise ValueError(f"{n2}.{unit}: must be above {n1}.{unit} ({v2} <= {v1})")
    acting = [(n, v) for n, v in levels[1:] if v is not None]
    if target is not None and acting and not target[1] < acting[0][1]:
        name, value = acting[0]
        raise ValueError(f"{target[0]}: must be below {name}.{unit} ({target[1]} >= {value})")
