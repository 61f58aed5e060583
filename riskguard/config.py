"""The riskguard configuration file: accounts, guard settings, rules and the paper venue.

YAML, validated by pydantic models that are frozen and forbid unknown keys. Every problem is
reported by its path (``rules[2].act.distance_pct: must be below warn.distance_pct``). Secrets
(API keys, webhook tokens) never appear here: only the names of environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import Field, ValidationError, model_validator

from riskguard.errors import ConfigError
from riskguard.paper.config import PaperConfig
from riskguard.rules.registry import RULE_TYPES, RuleConfig
from riskguard.validation import StrictModel, problem_lines


class AccountConfig(StrictModel):
    """One guarded account."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    exchange: str = Field("paper", description="'paper' or a ccxt exchange id")
    paper_account: str | None = Field(None, description="paper account id (default: id)")


class GuardConfig(StrictModel):
    """How the guard cycle runs."""

    poll_interval_s: Annotated[float, Field(gt=0)] = 5.0
    dry_run: bool = Field(False, description="journal and alert, but send nothing")
    client_id_prefix: str = Field("rg", pattern=r"^[A-Za-z0-9]{1,4}$")
    latency_s: Annotated[float, Field(ge=0)] = Field(
        1.0, description="fetch + order latency assumed until measured (reaction horizon)"
    )
    volatility_floor_daily_pct: Annotated[float, Field(gt=0)] = 2.0
    volatility_half_life_s: Annotated[float, Field(gt=0)] = 1800.0
    stress_gaps_pct: tuple[Annotated[float, Field(gt=-100, lt=1000)], ...] = Field(
        (-12.0, 12.0),
        description="gap scenarios for the shortfall, besides the SPAN array over the reaction "
        "horizon; the default is the largest move seen faster than a guard can react "
        "(2025-10-10: -11.8% in 15 minutes)",
    )
    max_order_notional: Annotated[float, Field(gt=0)] | None = None
    cooldown_s: Annotated[float, Field(ge=0)] = 30.0
    fight_window_s: Annotated[float, Field(gt=0)] = 900.0
    fight_threshold: Annotated[int, Field(ge=2)] = 3


class RiskguardConfig(StrictModel):
    """The whole file."""

    accounts: tuple[AccountConfig, ...] = Field(min_length=1)
    guard: GuardConfig = GuardConfig()
    rules: tuple[RuleConfig, ...] = ()
    paper: PaperConfig | None = None

    @model_validator(mode="after")
    def _references(self) -> Self:
        ids = [a.id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("accounts: each id may appear once")
        names = [r.name or r.type for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rules: names must be unique; repeated: {', '.join(duplicates)}")
        for i, account in enumerate(self.accounts):
            if account.exchange != "paper":
                continue
            if self.paper is None:
                raise ValueError(f"accounts[{i}].exchange: 'paper' needs a paper: section")
            wanted = account.paper_account or account.id
            if wanted not in {a.id for a in self.paper.accounts}:
                raise ValueError(f"accounts[{i}].paper_account: no paper account {wanted!r}")
        return self


def problems(data: Any) -> list[str]:
    """Every problem in a decoded config document, one line each (empty when valid)."""
    try:
        RiskguardConfig.model_validate(data)
    except ValidationError as exc:
        return problem_lines(exc, union_tags=RULE_TYPES)
    return []


def read_document(path: Path | str) -> Any:
    """Parse a YAML file; unreadable or malformed files are a one-line ConfigError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None


def load_config(path: Path | str) -> RiskguardConfig:
    """Read and validate a config file, or raise ConfigError listing every problem."""
    data = read_document(path)
    try:
        return RiskguardConfig.model_validate(data)
    except ValidationError as exc:
        lines = problem_lines(exc, union_tags=RULE_TYPES)
        raise ConfigError(f"{path}: " + "; ".join(lines)) from None
