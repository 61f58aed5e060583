"""Every rule type riskguard knows: its config model and how to build it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, get_args

from pydantic import Field

from riskguard.guard.rules.base import Rule
from riskguard.guard.rules.concentration import ConcentrationConfig, ConcentrationRule
from riskguard.guard.rules.drawdown import DrawdownConfig, DrawdownRule
from riskguard.guard.rules.liquidation_distance import (
    LiquidationDistanceConfig,
    LiquidationDistanceRule,
)
from riskguard.guard.rules.margin_ratio import MarginRatioConfig, MarginRatioRule
from riskguard.guard.rules.max_leverage import MaxLeverageConfig, MaxLeverageRule
from riskguard.guard.rules.shortfall import ShortfallConfig, ShortfallRule
from riskguard.guard.rules.stale_data import StaleDataConfig, StaleDataRule
from riskguard.guard.rules.stop_loss import StopLossConfig, StopLossRule

RuleConfig = Annotated[
    LiquidationDistanceConfig
    | MaxLeverageConfig
    | ShortfallConfig
    | StopLossConfig
    | MarginRatioConfig
    | DrawdownConfig
    | ConcentrationConfig
    | StaleDataConfig,
    Field(discriminator="type"),
]

_BUILDERS: dict[type[Any], Any] = {
    LiquidationDistanceConfig: LiquidationDistanceRule,
    MaxLeverageConfig: MaxLeverageRule,
    ShortfallConfig: ShortfallRule,
    StopLossConfig: StopLossRule,
    MarginRatioConfig: MarginRatioRule,
    DrawdownConfig: DrawdownRule,
    ConcentrationConfig: ConcentrationRule,
    StaleDataConfig: StaleDataRule,
}

RULE_TYPES: frozenset[str] = frozenset(
    get_args(c.model_fields["type"].annotation)[0] for c in _BUILDERS
)
"""The ``type`` names of every rule."""


def build_rules(configs: Sequence[Any]) -> list[Rule]:
    """The configured rules, in config order."""
    return [_BUILDERS[type(c)](c) for c in configs]


def default_rule_configs() -> list[Any]:
    """The built-in rules used when a config lists none (and by replays without a config)."""
    return [
        LiquidationDistanceConfig(type="liquidation_distance"),
        StopLossConfig(type="stop_loss"),
        ShortfallConfig(type="shortfall"),
        MarginRatioConfig(type="margin_ratio"),
        StaleDataConfig(type="stale_data"),
    ]
