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
from pydantic import Field, ValidationError, field_validator, model_validator

from riskguard.alerts.config import SINK_TYPES, AlertingConfig, SinkConfig, unique_names
from riskguard.errors import ConfigError
from riskguard.guard.rules.registry import RULE_TYPES, RuleConfig
from riskguard.observability.secret_shapes import find_credentials
from riskguard.paper.config import PaperConfig
from riskguard.validation import (
    MAX_MAGNITUDE,
    StrictModel,
    at_least,
    load_yaml,
    problem_lines,
    read_text,
)

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
"""ccxt constructor keys that hold credentials: never accepted at the top of ``ccxt_config``.

Besides these, anything credential-shaped anywhere in ``ccxt_config`` is refused (a header
such as ``Authorization``, ``options.secret``, a URL with ``user:pass@``): the shapes are
:mod:`riskguard.observability.secret_shapes`, which the log redactor masks by too.
"""

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

DAY_S = 86_400
WEEK_S = 7 * DAY_S

UNION_TAGS = (*RULE_TYPES, *SINK_TYPES)
"""Discriminator values pydantic puts in error paths; left out of the one-line messages."""


SPOT_MARGIN_EXCHANGES = frozenset({"binance", "bybit", "okx", "okxus", "myokx"})
"""ccxt ids whose spot margin accounts riskguard reads (``riskguard.exchange.margin_account``)."""


class AccountConfig(StrictModel):
    """One guarded account."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="account name")
    kind: Literal["derivatives", "spot_margin"] = Field(
        "derivatives",
        description="'derivatives' (perpetuals and futures) or 'spot_margin' (a cross margin "
        "account with loans: Binance, Bybit unified, OKX; its quote asset is `settle`)",
    )
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
    settle: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]{2,10}$",
        description="settle currency of the wallet (USDT, USDC, USD, BTC...); default: from the "
        "positions, else the venue's contract markets",
    )
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

    @field_validator("ccxt_config")
    @classmethod
    def _finite_ccxt_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(not str(key).strip() for key in value):
            raise ValueError("an empty key; every ccxt_config key names a ccxt option")
        where = _bad_number(value, "")
        if where is not None:
            raise ValueError(
                f"{where.lstrip('.')}: must be a finite number at most {MAX_MAGNITUDE:g} in size"
            )
        return value

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> Self:
        found = {
            f"ccxt_config.{key}": "a credential"
            for key in self.ccxt_config
            if key.lower() in SECRET_CCXT_KEYS
        }
        for path, what in find_credentials(self.ccxt_config, "ccxt_config"):
            found.setdefault(path, what)
        if found:
            raise ValueError(_inline_credentials_problem(list(found.items())))
        if self.exchange != "paper" and self.exchange not in ccxt.exchanges:
            raise ValueError(f"exchange: {self.exchange!r} is not a ccxt exchange id")
        if self.kind == "spot_margin" and self.exchange.lower() not in SPOT_MARGIN_EXCHANGES:
            raise ValueError(
                f"kind: spot_margin accounts are read on {', '.join(sorted(SPOT_MARGIN_EXCHANGES))}"
                f", not {self.exchange!r}"
            )
        options = self.ccxt_config.get("options")
        if isinstance(options, dict) and (
            options.get("portfolioMargin") is True
            or str(options.get("defaultType", "")).lower() == "portfolio"
        ):
            raise ValueError(
                "ccxt_config.options: portfolio margin accounts are not covered (the venue nets "
                "margin across the whole book by its own model; riskguard would be guessing)"
            )
        return self


def _inline_credentials_problem(found: list[tuple[str, str]]) -> str:
    """One line for the credentials found in ``ccxt_config``: the first, where it belongs
    instead, and the paths of the others."""
    (path, what), others = found[0], [p for p, _ in found[1:]]
    if what == "user info":
        instead = (
            "a proxy's login goes in the environment (HTTPS_PROXY or HTTP_PROXY, read with "
            "aiohttp_trust_env: true in ccxt_config)"
        )
    else:
        instead = (
            "name environment variables (api_key_env, secret_env, password_env, ...) or use "
            "secrets_file, and ccxt signs its requests with them"
        )
    also = f" (also: {', '.join(others)})" if others else ""
    shown = f" ({what})" if what and what != "a credential" else ""
    return f"{path}: credentials may not be written in the config file{shown}; {instead}{also}"


def _bad_number(value: Any, path: str) -> str | None:
    """The path of the first non-finite or huge number inside a free-form mapping, if any."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return None if abs(value) <= MAX_MAGNITUDE else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _bad_number(item, f"{path}.{key}")
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _bad_number(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


class SpotMarginRuleConfig(StrictModel):
    """The spot margin rule: how far every coin's price may move before the venue's liquidation
    level, and the repayment that restores a safe distance (``kind: spot_margin`` accounts)."""

    warn_distance_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        25.0, description="warn when a common move of every coin this small liquidates, percent"
    )
    act_distance_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        15.0, description="repay when a move this small liquidates, percent"
    )
    target_distance_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        30.0, description="repay until this move is needed to liquidate, percent"
    )
    gap_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        30.0, description="a gap of this size leaving a debt past the assets is critical: repay"
    )
    cost_rate_pct: Annotated[float, Field(ge=0, lt=10)] = Field(
        0.2, description="fee and slippage assumed on a repaying trade, percent of its value"
    )
    max_price_age_s: Annotated[float, Field(gt=0, le=3_600)] = Field(
        30.0, description="a ticker older than this is stale: alert, do not act"
    )
    level_tolerance_pct: Annotated[float, Field(gt=0, le=100)] = Field(
        2.0,
        description="alert and do not act when our margin level and the venue's differ by more "
        "than this, percent",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.act_distance_pct > self.warn_distance_pct:
            raise ValueError("act_distance_pct: must be at most warn_distance_pct")
        if self.target_distance_pct <= self.act_distance_pct:
            raise ValueError("target_distance_pct: must be above act_distance_pct")
        return self


class GuardConfig(StrictModel):
    """How the guard cycle runs."""

    poll_interval_s: Annotated[float, Field(gt=0, le=DAY_S), at_least(0.01)] = Field(
        5.0, description="seconds between two cycles of an account (0.01 to 86,400)"
    )
    dry_run: bool = Field(False, description="journal and alert, but send nothing")
    client_id_prefix: str = Field("rg", pattern=r"^[A-Za-z0-9]{1,4}$")
    latency_s: Annotated[float, Field(ge=0, le=3_600)] = Field(
        1.0, description="fetch + order latency assumed until measured (reaction horizon)"
    )
    volatility_floor_daily_pct: Annotated[float, Field(gt=0, le=1_000)] = Field(
        2.0, description="the daily volatility assumed at least, in percent"
    )
    volatility_half_life_s: Annotated[float, Field(gt=0, le=30 * DAY_S), at_least(1)] = Field(
        1800.0, description="half-life of the volatility estimate, seconds"
    )
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
    tail_refresh_s: Annotated[float, Field(gt=0, le=DAY_S), at_least(1)] = Field(
        300.0, description="fetch the bars again after this many seconds"
    )
    tail_scale: Annotated[float, Field(ge=1, le=10)] = Field(
        1.5, description="the learned move times this (the next spike may be larger)"
    )
    tail_quantile: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="which quantile of the bars' moves is the tail (1: the largest)"
    )
    max_order_notional: Annotated[float, Field(gt=0, le=1e12)] | None = Field(
        None, description="largest order the guard sends, in quote currency"
    )
    cooldown_s: Annotated[float, Field(ge=0, le=DAY_S)] = Field(
        30.0, description="seconds between two actions of one rule on one position"
    )
    fight_window_s: Annotated[float, Field(gt=0, le=WEEK_S), at_least(1)] = Field(
        900.0, description="window in which the guard counts a bot undoing its actions"
    )
    fight_threshold: Annotated[int, Field(ge=2, le=1_000)] = Field(
        3, description="undone actions within fight_window_s that mean a fight"
    )
    liquidation_price_tolerance_pct: Annotated[float, Field(gt=0, le=100)] = Field(
        1.0,
        description="warn when the exchange's liquidation price and ours differ by more than "
        "this, in percent of the mark",
    )
    spot_margin: SpotMarginRuleConfig = Field(
        default_factory=SpotMarginRuleConfig, description="the rule of spot_margin accounts"
    )


class JournalConfig(StrictModel):
    """Where and how the daemon keeps its journal."""

    path: str = Field("riskguard-journal.sqlite3", description="SQLite file")
    retention_days: Annotated[float, Field(gt=0, le=36_500)] = Field(
        90.0, description="entries older than this are deleted (pending orders are kept)"
    )
    snapshot_every_s: Annotated[float, Field(ge=0, le=30 * DAY_S)] = Field(
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

    misfire_grace_s: Annotated[float, Field(gt=0, le=DAY_S)] = Field(
        30.0, description="a cycle later than this is skipped, not run late"
    )
    tier_refresh_s: Annotated[float, Field(gt=0, le=WEEK_S), at_least(1)] = Field(
        3600.0, description="reload markets and leverage tiers this often"
    )
    retention_every_s: Annotated[float, Field(gt=0, le=WEEK_S), at_least(1)] = Field(
        3600.0, description="delete old journal entries this often"
    )
    heartbeat_s: Annotated[float, Field(gt=0, le=DAY_S), at_least(1)] = Field(
        60.0, description="log and export a heartbeat this often"
    )
    run_for_s: Annotated[float, Field(gt=0, le=366 * DAY_S)] | None = Field(
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
    """Parse a YAML file; unreadable or malformed files are a one-line ConfigError.

    Duplicate keys, nesting deeper than 64 levels and alias bombs are refused by their path
    (:func:`riskguard.validation.load_yaml`).
    """
    source = str(path)
    return load_yaml(read_text(path, source, ConfigError), source)


def load_config(path: Path | str) -> RiskguardConfig:
    """Read and validate a config file, or raise ConfigError listing every problem."""
    data = read_document(path)
    try:
        return RiskguardConfig.model_validate(data)
    except ValidationError as exc:
        lines = problem_lines(exc, union_tags=UNION_TAGS)
        raise ConfigError(f"{path}: " + "; ".join(lines)) from None
