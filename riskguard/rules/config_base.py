"""Config pieces every rule shares: name, scope, hysteresis."""

from __future__ import annotations

from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import Field

from riskguard.rules.base import Scope
from riskguard.validation import StrictModel


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
