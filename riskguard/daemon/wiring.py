"""Build everything the daemon and ``riskguard check`` run with, in one place.

From a validated config this makes the clocks, the journal, the ccxt clients (credentials from
the environment or the secrets file), the paper venue, the shared markets per exchange, the
alert sinks with their one httpx client, the alert center and its dispatcher (the outbox is the
journal), the rules, one :class:`~riskguard.guard.cycle.Guard` per clock and one
:class:`~riskguard.guard.cycle.GuardAccount` per account, restored from the journal's saved state.
Everything else takes these as arguments, so tests pass fakes instead of patching internals.

:func:`check_keys` talks to exchanges at start, before the first cycle: where the exchange reports
key permissions, warn about withdrawal rights and put an account whose key cannot trade into
alert-only mode, saying so. The other start step, the recovery of orders whose fate the journal
does not know, is :mod:`riskguard.daemon.recovery`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import httpx
import structlog

from riskguard.alerts.center import AlertCenter, Route, restore_saved, wall_ms
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.alerts.factory import build_sinks, make_http_client, needs_http
from riskguard.alerts.from_guard import ConditionFn
from riskguard.alerts.outbox import MemoryOutbox, Outbox
from riskguard.clock import Clock, PacedClock, SystemClock
from riskguard.config import AccountConfig, GuardConfig, RiskguardConfig, load_config
from riskguard.daemon.journal import GroupCommitJournal, SqliteJournal
from riskguard.domain import MarginMode
from riskguard.errors import ConfigError, InputError
from riskguard.exchange.credentials import load_credentials, read_secrets_file
from riskguard.exchange.live import LiveExchange
from riskguard.exchange.markets import SharedMarkets
from riskguard.exchange.permissions import key_permissions
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.executor import AlertFn
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.rules.base import Level
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.guard.spot_margin.cycle import MarginAccount, MarginGuard
from riskguard.guard.spot_margin.judge import settings_from
from riskguard.observability.logs import register_secret
from riskguard.paper.config import PaperSetup, build_paper
from riskguard.risk.venues import PROFILES, get_profile

_LOG = structlog.get_logger("riskguard.wiring")
_CCXT_LOG = structlog.get_logger("ccxt")

STATE_KEY = "guard"
"""The journal state key under which each account's :meth:`GuardAccount.state` is saved."""


@dataclass
class Runtime:
    """Everything one daemon (or one ``check``) runs with."""

    config: RiskguardConfig
    config_path: Path
    journal: Journal
    accounts: list[GuardAccount]
    guards: dict[str, Guard]
    """The guard of each account (accounts on the paper venue share the paper clock)."""
    speeds: dict[str, float]
    """Simulated seconds per wall second of each account's clock (1 for live accounts)."""
    shared: dict[str, SharedMarkets]
    alerts: AlertCenter
    dispatcher: Dispatcher
    paper: PaperSetup | None = None
    notices: list[str] = field(default_factory=list)
    """What the operator must read at start (alert-only accounts, risky keys)."""
    http: httpx.AsyncClient | None = None
    """The one HTTP client of every alert sink (``None`` when no sink talks HTTP)."""
    margin_accounts: list[MarginAccount] = field(default_factory=list)
    """The ``kind: spot_margin`` accounts, run by :attr:`margin_guard`."""
    margin_guard: MarginGuard | None = None

    async def aclose(self) -> None:
        """Close every exchange client and the alerts' HTTP client."""
        ports = [a.port for a in self.accounts] + [m.exchange for m in self.margin_accounts]
        for port in ports:
            close = getattr(port, "close", None)
            if close is not None:
                await close()
        if self.http is not None:
            await self.http.aclose()


def resolve_path(config_path: Path, value: str) -> Path:
    """A path from the config: relative paths are relative to the config file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_path.parent / path)


def venue_for(index: int, account: AccountConfig) -> str:
    """The margin profile of an account; a live exchange without one must name it."""
    name = account.venue or account.exchange
    try:
        get_profile(name)
    except InputError:
        field_name = "venue" if account.venue else "exchange"
        raise ConfigError(
            f"accounts[{index}].{field_name}: riskguard has no margin profile for {name!r}; "
            f"set venue: to one of {', '.join(n for n in sorted(PROFILES) if n != 'generic')}, "
            "or generic (approximate)"
        ) from None
    return name


def make_ccxt_client(account: AccountConfig, credentials: Mapping[str, str]) -> Any:
    """A ccxt async client for ``account`` (rate limiter on, ccxt's own retries off)."""
    cls = getattr(ccxt, account.exchange)
    settings: dict[str, Any] = json.loads(json.dumps(account.ccxt_config))
    options = dict(settings.get("options") or {})
    options["maxRetriesOnFailure"] = 0
    settings["options"] = options
    settings["enableRateLimit"] = True
    client = cls({**settings, **credentials})
    # ccxt's verbose mode prints requests (headers with the API key) with print(): route it
    # through the logger, whose redactor masks every registered secret.
    client.log = _ccxt_log
    return client


def _ccxt_log(*args: Any) -> None:
    _CCXT_LOG.debug("ccxt", text=" ".join(str(a) for a in args))


def build_runtime(
    config_path: Path | str,
    *,
    alert: AlertFn | None = None,
    environ: Mapping[str, str] | None = None,
    journal: Journal | None = None,
    client_factory: Callable[[AccountConfig, Mapping[str, str]], Any] = make_ccxt_client,
    http: httpx.AsyncClient | None = None,
    conditions: ConditionFn | None = None,
    with_sinks: bool = True,
) -> Runtime:
    """Load ``config_path`` and build the runtime (no I/O to exchanges yet).

    ``alert`` and ``conditions`` replace the alert center's event and condition functions
    (tests, and ``check``, which reports in its table and alerts nobody); ``http`` the sinks'
    client. ``with_sinks=False`` builds no sink (``check`` needs none, nor their secrets).
    """
    path = Path(config_path)
    config = load_config(path)
    env = os.environ if environ is None else environ
    alert_sinks = config.alerts if with_sinks else ()
    if http is None and needs_http(alert_sinks):
        http = make_http_client()
    sinks = build_sinks(alert_sinks, env, http, path.parent)
    secrets = None
    if config.secrets_file is not None:
        secrets = read_secrets_file(resolve_path(path, config.secrets_file))
    if journal is None:
        journal_path = resolve_path(path, config.journal.path)
        journal_path.parent.mkdir(parents=True, exist_ok=True)
        # The daemon's journal commits on its own thread, many writes per fsync.
        journal = GroupCommitJournal(journal_path, synchronous=config.journal.synchronous)
    paper = None
    if any(a.exchange == "paper" for a in config.accounts) and config.paper is not None:
        paper = build_paper(config.paper, path.parent)
        if not isinstance(paper.clock, PacedClock):
            # A daemon runs in wall time: a virtual paper clock would never move.
            paper.clock = PacedClock(paper.venue.now_ms, 1.0)
    rules = build_rules(config.rules or default_rule_configs())
    system_clock = SystemClock()
    outbox: Outbox = journal if isinstance(journal, SqliteJournal) else MemoryOutbox(journal)
    dispatcher = Dispatcher(outbox, sinks, config.alerting)
    all_paper = paper is not None and all(a.exchange == "paper" for a in config.accounts)
    center = AlertCenter(
        outbox,
        [Route.of(c) for c in alert_sinks],
        config.alerting,
        # Paper runs stamp alerts (and time their hysteresis) by the simulated clock.
        now_ms=paper.clock.now_ms if all_paper and paper is not None else wall_ms,
        on_queued=dispatcher.wake,
    )
    get_state = getattr(journal, "get_state", None)
    if get_state is not None and not all_paper:
        restore_saved(center, get_state, [a.id for a in config.accounts])
    event = alert if alert is not None else center.alert_fn()
    guards: dict[str, Guard] = {}
    speeds: dict[str, float] = {}
    shared: dict[str, SharedMarkets] = {}
    accounts: list[GuardAccount] = []

    def guard_for(clock: Clock) -> Guard:
        return Guard(
            config.guard,
            rules,
            journal=journal,
            clock=clock,
            alert=event,
            conditions=conditions if conditions is not None else center.conditions,
            # Facts are journalled with their alert in one transaction, unless the caller
            # takes the alerts itself (tests).
            record=center.record if alert is None else None,
        )

    live_guard = guard_for(system_clock)
    paper_guard = guard_for(paper.clock) if paper is not None else None
    margin_accounts: list[MarginAccount] = []
    margin_guard = margin_guard_for(
        config.guard, journal, system_clock, event, center.record if alert is None else None
    )
    for index, account in enumerate(config.accounts):
        if account.kind == "spot_margin":
            credentials = load_credentials(index, account, environ=environ, secrets_file=secrets)
            for secret in credentials.secrets():
                register_secret(secret)
            margin = MarginAccount(
                account.id,
                LiveExchange(client_factory(account, credentials.ccxt_kwargs())),
                venue=account.exchange,
                exchange_id=account.exchange,
                quote=account.settle or "USDT",
                alert_only=account.alert_only or config.guard.dry_run,
            )
            margin_guard.recover(margin)
            margin_accounts.append(margin)
            continue
        if account.exchange == "paper":
            if paper is None or paper_guard is None:
                raise ConfigError(f"accounts[{index}].exchange: 'paper' needs a paper: section")
            port: Any = paper.client(account.paper_account or account.id, label="guard")
            venue = config.paper.venue if config.paper is not None else "binance"
            exchange_id = "paper"
            guards[account.id] = paper_guard
            speeds[account.id] = paper.clock.speed if isinstance(paper.clock, PacedClock) else 1.0
        else:
            venue = venue_for(index, account)
            credentials = load_credentials(index, account, environ=environ, secrets_file=secrets)
            for secret in credentials.secrets():
                register_secret(secret)
            port = LiveExchange(client_factory(account, credentials.ccxt_kwargs()))
            exchange_id = account.exchange
            guards[account.id] = live_guard
            speeds[account.id] = 1.0
        key = f"{exchange_id}:{json.dumps(account.ccxt_config, sort_keys=True, default=str)}"
        if exchange_id == "paper":
            key = f"paper:{account.id}"
        markets = shared.setdefault(key, SharedMarkets(exchange_id))
        acct = GuardAccount(
            account=account.id,
            port=port,
            exchange_id=exchange_id,
            venue=venue,
            default_margin_mode=MarginMode(account.margin_mode),
            hedged=account.hedged,
            alert_only=account.alert_only,
            shared=markets,
            settle=account.settle,
        )
        # A paper venue starts afresh at every start, so only live accounts continue from the
        # memories saved by the previous run.
        saved = None if exchange_id == "paper" else _saved_state(journal, account.id)
        if saved is not None:
            acct.restore(saved)
        accounts.append(acct)
    runtime = Runtime(
        config,
        path,
        journal,
        accounts,
        guards,
        speeds,
        shared,
        center,
        dispatcher,
        paper,
        http=http,
        margin_accounts=margin_accounts,
        margin_guard=margin_guard if margin_accounts else None,
    )
    for acct in accounts:
        if acct.alert_only:
            runtime.notices.append(f"{acct.account}: alert-only (config): the guard will not act")
    for margin in margin_accounts:
        if margin.alert_only:
            runtime.notices.append(f"{margin.account}: alert-only: the guard will not repay")
        if margin.pending:
            runtime.notices.append(
                f"{margin.account}: {len(margin.pending)} repaying order(s) of the previous run "
                "never settled: looked up before anything is sent"
            )
    return runtime


def margin_guard_for(
    guard: GuardConfig,
    journal: Journal,
    clock: Clock,
    alert: AlertFn,
    record: Callable[..., None] | None,
) -> MarginGuard:
    """The guard of ``kind: spot_margin`` accounts, with the config's spot margin rule."""
    rule = guard.spot_margin
    return MarginGuard(
        settings_from(rule),
        journal=journal,
        clock=clock,
        alert=alert,
        record=record,
        client_id_prefix=guard.client_id_prefix,
        max_price_age_s=rule.max_price_age_s,
        level_tolerance=rule.level_tolerance_pct / 100.0,
    )


def _saved_state(journal: Journal, account: str) -> Mapping[str, Any] | None:
    get_state = getattr(journal, "get_state", None)
    if get_state is None:
        return None
    state = get_state(account, STATE_KEY)
    return state if isinstance(state, Mapping) else None


async def check_keys(runtime: Runtime, alert: AlertFn) -> None:
    """Ask each live exchange what its key may do; warn and switch to alert-only as needed."""
    for acct in runtime.accounts:
        if not isinstance(acct.port, LiveExchange):
            continue
        permissions = await key_permissions(acct.port.client)
        figures = {
            "account": acct.account,
            "exchange": acct.exchange_id,
            "known": permissions.known,
            "can_trade": permissions.can_trade,
            "can_withdraw": permissions.can_withdraw,
            "detail": permissions.detail,
        }
        runtime.journal.append("key_permissions", acct.account, now_of(runtime, acct), figures)
        if permissions.can_withdraw:
            message = (
                f"{acct.account}: this API key can WITHDRAW funds; the guard never needs that. "
                "Make a key without withdrawal rights."
            )
            runtime.notices.append(message)
            _LOG.warning("key_can_withdraw", **figures)
            alert(Level.WARN, message, figures)
        if permissions.read_only and not acct.alert_only:
            acct.alert_only = True
            message = (
                f"{acct.account}: the API key cannot trade, so this account is in alert-only "
                "mode: the guard watches, journals and alerts, and sends no order"
            )
            runtime.notices.append(message)
            _LOG.warning("key_read_only", **figures)
            alert(Level.WARN, message, figures)
        if not permissions.known:
            _LOG.info("key_permissions_unknown", **figures)


def now_of(runtime: Runtime, acct: GuardAccount) -> int:
    """The time on ``acct``'s guard clock (the paper clock for paper accounts)."""
    return runtime.guards[acct.account].clock.now_ms()
