"""Every rule type riskguard knows: its config model and how to build it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from riskguard.rules.base import Rule
from riskguard.rules.liquidation_distance import LiquidationDistanceConfig, LiquidationDistanceRule

RuleConfig = Annotated[LiquidationDistanceConfig, Field(discriminator="type")]

_BUILDERS: dict[type[Any], Any] = {
    LiquidationDistanceConfig: LiquidationDistanceRule,
}


RULE_TYPES: frozenset[str] = frozenset(
    c.model_fields["type"].annotation.__args__[0] for c in _BUILDERS
)
"""The ``type`` names of every rule."""


def build_rules(configs: Sequence[Any]) -> list[Rule]:
    """The configured rules, in config order."""
    return [_BUILDERS[type(c)](c) for c in configs]
