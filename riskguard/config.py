"""The riskguard configuration file: accounts, guard settings, rules, the paper venue, and how
the daemon runs (journal, metrics, logs, schedule), and where alerts go.

YAML, validated by pydantic models that are frozen and forbid unknown keys. Every problem is
reported by its path (``rules[2].act.distance_pct: must be below warn.distance_pct``). Secrets
(API keys, webhook tokens) never appear here: only the names of environment variables
(``api_key_env``) or the path of a secrets file; a key that looks like a secret inside
``ccxt_config`` is an error. Relative paths are relative to the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

import ccxt
import yaml
from pydantic import Field, ValidationError, model_validator

from riskguard.alerts.config import SINK_TYPES, AlertingConfig, SinkConfig, unique_names
from riskguard.errors import ConfigError
from riskguard.guard.rules.registry import RULE_TYPES, RuleConfig
from riskguard.paper.config import PaperConfig
from riskguard.validation import StrictModel, problem_lines

SECRET_CCXT_KEYS = frozenset(
    {
        "apikey",
        "secret",
        "password",
        "uid",
        "login",
        "privatekey",
        "walletaddress",
        "token",
        "twofa",
    }
)
"""ccxt constructor keys that hold credentials: never accepted inside ``ccxt_config``."""

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

UNION_TAGS = (*RULE_TYPES, *SINK_TYPES)
"""Discriminator values pydantic puts in error paths; left out of the one-line messages."""


class AccountConfig(StrictModel):
    """One guarded account."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="account name")
    exchange: str = Field("paper", description="'paper' or a ccxt exchange id (binanceusdm, ...)")
    paper_account: str | None = Field(None, description="paper account id (default: id)")
    venue: str | None = Field(
        None, description="margin profile for the risk math (default: from the exchange id)"
    )
    margin_mode: Literal["cross", "isolated"] = Field(
        "cross", description="margin mode assumed when the exchange does not report one (Bybit)"
    )
    hedged: bool = Field(False, description="the account trades in hedge (two-way) mode")
    alert_only: bool = Field(False, description="never send orders for this account, only alert")
    ccxt_config: dict[str, Any] = Field(
        default_factory=dict,
        description="passed to the ccxt constructor (options, urls, timeout, ...); no secrets",
    )
    api_key_env: EnvName | None = Field(None, description="environment variable with the API key")
    secret_env: EnvName | None = Field(None, description="environment variable with the secret")
    password_env: EnvName | None = Field(
        None, description="environment variable with the API passphrase (OKX, ...)"
    )
    wallet_address_env: EnvName | None = Field(
        None, description="environment variable with the wallet address (Hyperliquid, ...)"
    )
    private_key_env: EnvName | None = Field(
        None, description="environment variable with the private key (Hyperliquid, ...)"
    )

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> Self:
        for key in self.ccxt_config:
            if key.lower() in SECRET_CCXT_KEYS:
                raise ValueError(
                    f"ccxt_config.{key}: credentials may not be written in the config file; "
                    "name an environment variable (api_key_env, secret_env, ...) or use "
                    "secrets_file"
                )
        if self.exchange != "paper" and self.exchange not in ccxt.exchanges:
            raise ValueError(f"exchange: {self.exchange!r} is not a ccxt exchange id")
        return self


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
    tail_lookback_bars: Annotated[int, Field(ge=0, le=10_000)] = Field(
        1440,
        description="one-minute bars (fetch_ohlcv) to learn each symbol's tail move from: the "
        "largest move within one bar and within one reaction horizon, scaled; stress uses the "
        "larger of it and stress_gaps_pct (0: configured gaps only)",
    )
    tail_refresh_s: Annotated[float, Field(gt=0)] = Field(
        300.0, description="fetch the bars again after this many seconds"
    )
    tail_scale: Annotated[float, Field(ge=1, le=10)] = Field(
        1.5, description="the learned move times this (the next spike may be larger)"
    )
    tail_quantile: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="which quantile of the bars' moves is the tail (1: the largest)"
    )
    max_order_notional: Annotated[float, Field(gt=0)] | None = None
    cooldown_s: Annotated[float, Field(ge=0)] = 30.0
    fight_window_s: Annotated[float, Field(gt=0)] = 900.0
    fight_threshold: Annotated[int, Field(ge=2)] = 3
    liquidation_price_tolerance_pct: Annotated[float, Field(gt=0)] = Field(
        1.0,
        description="warn when the exchange's liquidation price and ours differ by more than "
        "this, in percent of the mark",
    )


class JournalConfig(StrictModel):
    """Where and how the daemon keeps its journal."""

    path: str = Field("riskguard-journal.sqlite3", description="SQLite file")
    retention_days: Annotated[float, Field(gt=0)] = Field(
        90.0, description="entries older than this are deleted (pending orders are kept)"
    )
    snapshot_every_s: Annotated[float, Field(ge=0)] = Field(
        300.0, description="journal one account snapshot per account at most this often"
    )
    synchronous: Literal["full", "normal"] = Field(
        "full", description="SQLite synchronous mode: full survives power loss, normal a crash"
    )


class MetricsConfig(StrictModel):
    """The Prometheus endpoint."""

    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address; loopback unless you mean it")
    port: Annotated[int, Field(ge=0, le=65535)] = 9464


class LoggingConfig(StrictModel):
    """structlog output."""

    json_lines: bool | None = Field(
        None, description="JSON lines (true), console (false), or by TTY (unset)"
    )
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"


class DaemonConfig(StrictModel):
    """The schedule of ``riskguard run``."""

    misfire_grace_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="a cycle later than this is skipped, not run late"
    )
    tier_refresh_s: Annotated[float, Field(gt=0)] = Field(
        3600.0, description="reload markets and leverage tiers this often"
    )
    retention_every_s: Annotated[float, Field(gt=0)] = 3600.0
    heartbeat_s: Annotated[float, Field(gt=0)] = 60.0
    run_for_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="stop by itself after this many seconds of wall time (demos)"
    )
    live_table: bool = Field(False, description="show a live table of positions on the terminal")


class RiskguardConfig(StrictModel):
    """The whole file."""

    accounts: tuple[AccountConfig, ...] = Field(min_length=1)
    guard: GuardConfig = GuardConfig()
    rules: tuple[RuleConfig, ...] = ()
    paper: PaperConfig | None = None
    secrets_file: str | None = Field(
        None,
        description="YAML file mapping account id to its credentials "
        "({api_key, secret, password, wallet_address, private_key}); keep it out of git",
    )
    journal: JournalConfig = JournalConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    daemon: DaemonConfig = DaemonConfig()
    alerts: tuple[SinkConfig, ...] = Field(
        (), description="where alerts go: webhook, slack, discord, telegram, email sinks"
    )
    alerting: AlertingConfig = AlertingConfig()

    @model_validator(mode="after")
    def _references(self) -> Self:
        unique_names(self.alerts)
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
        return problem_lines(exc, union_tags=UNION_TAGS)
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
        lines = problem_lines(exc, union_tags=UNION_TAGS)
        raise ConfigError(f"{path}: " + "; ".join(lines)) from None
