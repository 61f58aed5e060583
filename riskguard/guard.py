"""One guard cycle for one account: fetch, normalise, evaluate, judge, plan, journal, act.

The same function runs live (the daemon schedules it) and in replays (a virtual clock steps it);
there is one cycle, not two. Everything it carries from one cycle to the next (markets, tiers,
volatility estimates, rule memories, the planner's cooldowns) lives in :class:`GuardAccount`.

Stale or inconsistent data never leads to an order: when the fetch fails or the snapshot does not
pass its checks, only the ``stale_data`` rule runs (it alerts), and the last good snapshot is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ccxt.async_support as ccxt
import structlog

from riskguard.clock import Clock, to_datetime
from riskguard.config import GuardConfig
from riskguard.domain import AccountSnapshot, MarginMode, Tier
from riskguard.enforce.executor import AlertFn, Executor, ExecutorConfig, StepOutcome
from riskguard.enforce.journal import Journal
from riskguard.enforce.order_ids import is_guard_client_id
from riskguard.enforce.quirks import quirks_for
from riskguard.errors import InputError
from riskguard.exchange.ccxt_account import (
    open_stops_from_ccxt,
    snapshot_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.planner import MarketRules, Plan, PlannedStep, PlannerConfig, PlannerState, plan
from riskguard.risk.evaluation import AccountEvaluation, RiskSettings, evaluate_account
from riskguard.risk.scenarios import gap_scenarios, span_scenarios
from riskguard.risk.volatility import EwmaVolatility, per_sqrt_second
from riskguard.rules.base import (
    Action,
    Finding,
    Level,
    Memory,
    OpenStop,
    Rule,
    RuleInput,
    RuleResult,
)
from riskguard.rules.stale_data import StaleDataRule, data_is_actionable

STALE_RULE = "stale_data"

_LOG = structlog.get_logger("riskguard.guard")


@dataclass
class GuardAccount:
    """One guarded account and what the guard remembers about it between cycles."""

    account: str
    port: Any
    exchange_id: str
    venue: str
    default_margin_mode: MarginMode = MarginMode.CROSS
    hedged: bool = False
    markets: dict[str, Any] = field(default_factory=dict)
    tiers: dict[str, tuple[Tier, ...]] = field(default_factory=dict)
    market_rules: dict[str, MarketRules] = field(default_factory=dict)
    volatility: dict[str, EwmaVolatility] = field(default_factory=dict)
    memories: dict[str, Memory] = field(default_factory=dict)
    planner_state: PlannerState = field(default_factory=PlannerState)
    last_snapshot: AccountSnapshot | None = None
    last_evaluation: AccountEvaluation | None = None
    last_good_ms: int | None = None
    latency_s: float | None = None
    cycles: int = 0


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle saw and did."""

    account: str
    time_ms: int
    actionable: bool
    snapshot: AccountSnapshot | None
    findings: tuple[Finding, ...]
    plan: Plan | None
    outcomes: tuple[StepOutcome, ...]
    error: str | None = None


class Guard:
    """Runs cycles for accounts with one set of rules, one journal and one alert function."""

    def __init__(
        self,
        config: GuardConfig,
        rules: Sequence[Rule],
        *,
        journal: Journal,
        clock: Clock,
        alert: AlertFn,
    ) -> None:
        self.config = config
        self.rules = list(rules)
        self.journal = journal
        self.clock = clock
        self.alert = alert
        self.planner_config = PlannerConfig(
            cooldown_s=config.cooldown_s,
            fight_window_s=config.fight_window_s,
            fight_threshold=config.fight_threshold,
            max_order_notional=config.max_order_notional,
        )
        self.volatility_floor = per_sqrt_second(config.volatility_floor_daily_pct / 100)

    # ------------------------------------------------------------------ setup

    async def prepare(self, acct: GuardAccount) -> None:
        """Load markets and tiers once (refreshed by the daemon on a slower schedule)."""
        markets = dict(await acct.port.load_markets())
        symbols = [s for s, m in markets.items() if m.get("swap") or m.get("contract")]
        raw = await acct.port.fetch_leverage_tiers(symbols)
        # Only a complete set is kept: a half-loaded market would be judged without its tiers.
        acct.tiers = {s: tiers_from_ccxt(rows) for s, rows in raw.items() if rows}
        acct.market_rules = {s: _market_rules(s, m) for s, m in markets.items()}
        acct.markets = markets

    # ------------------------------------------------------------------ the cycle

    async def cycle(self, acct: GuardAccount) -> CycleReport:
        """One poll of ``acct``."""
        acct.cycles += 1
        started = self.clock.now_ms()
        try:
            if not acct.markets:
                await self.prepare(acct)
            balance = await acct.port.fetch_balance()
            positions = await acct.port.fetch_positions()
            orders = await acct.port.fetch_open_orders(
                None, None, None, dict(quirks_for(acct.exchange_id).open_stops_params)
            )
        except ccxt.BaseError as exc:
            return self._stale(acct, started, f"fetch failed: {type(exc).__name__}: {exc}")
        fetched = self.clock.now_ms()
        latency = max(0.0, (fetched - started) / 1000.0)
        acct.latency_s = latency if acct.latency_s is None else 0.8 * acct.latency_s + 0.2 * latency
        try:
            snapshot = snapshot_from_ccxt(
                account=acct.account,
                venue=acct.venue,
                balance=balance,
                positions=positions,
                markets=acct.markets,
                tiers=acct.tiers,
                taken_at=to_datetime(fetched),
                default_mode=acct.default_margin_mode,
            )
        except (InputError, ValueError) as exc:
            return self._stale(acct, fetched, f"inconsistent snapshot: {exc}")
        stops = open_stops_from_ccxt(
            orders, acct.markets, lambda cid: is_guard_client_id(cid, self.config.client_id_prefix)
        )
        for p in snapshot.positions:
            state = acct.volatility.get(p.symbol) or EwmaVolatility(
                self.config.volatility_half_life_s, self.volatility_floor
            )
            if state.last_time_s is None or fetched / 1000.0 > state.last_time_s:
                state = state.update(fetched / 1000.0, p.mark_price)
            acct.volatility[p.symbol] = state
        sigmas = {s: v.sigma for s, v in acct.volatility.items()}
        horizon = self.config.poll_interval_s + (acct.latency_s or self.config.latency_s)
        try:
            evaluation = evaluate_account(
                snapshot, guard_risk_settings(self.config, sigmas, horizon)
            )
        except (InputError, ValueError) as exc:
            return self._stale(acct, fetched, f"cannot evaluate the snapshot: {exc}")
        acct.last_snapshot = snapshot
        acct.last_evaluation = evaluation
        acct.last_good_ms = fetched
        free = _free_balance(balance, snapshot)
        data = RuleInput(
            snapshot=snapshot,
            evaluation=evaluation,
            now=to_datetime(fetched),
            horizon_s=horizon,
            free_balance=free,
            sigma_per_sqrt_s=sigmas,
            open_stops=stops,
            data_age_s=0.0,
            consistent=True,
        )
        return await self._judge_and_act(acct, data, stops, actionable=True)

    def _stale(self, acct: GuardAccount, now_ms: int, reason: str) -> CycleReport:
        """The data cannot be trusted: alert through the stale-data rule, never act."""
        self.journal.append("stale", acct.account, now_ms, {"reason": reason})
        age = math.inf if acct.last_good_ms is None else (now_ms - acct.last_good_ms) / 1000.0
        findings: list[Finding] = []
        if acct.last_snapshot is not None and acct.last_evaluation is not None:
            data = RuleInput(
                snapshot=acct.last_snapshot,
                evaluation=acct.last_evaluation,
                now=to_datetime(now_ms),
                horizon_s=self.config.poll_interval_s,
                free_balance=0.0,
                data_age_s=age,
                consistent=False,
            )
            for rule in self.rules:
                if rule.rule_type == STALE_RULE:
                    result = rule.evaluate(data, acct.memories.get(rule.name, {}))
                    acct.memories[rule.name] = result.memory
                    findings.extend(result.findings)
        worst = max((f.level for f in findings), default=Level.WARN)
        message = f"{acct.account}: no fresh data ({reason}); the guard is not acting"
        self.journal.append(
            "alert", acct.account, now_ms, {"level": worst.name, "message": message}
        )
        self.alert(worst, message, {"account": acct.account, "data_age_s": age})
        return CycleReport(
            acct.account, now_ms, False, acct.last_snapshot, tuple(findings), None, (), reason
        )

    async def _judge_and_act(
        self, acct: GuardAccount, data: RuleInput, stops: Sequence[OpenStop], *, actionable: bool
    ) -> CycleReport:
        now_ms = self.clock.now_ms()
        results: list[RuleResult] = []
        for rule in self.rules:
            if isinstance(rule, StaleDataRule) and not data_is_actionable(data, rule.config):
                actionable = False
        for rule in self.rules:
            if not actionable and rule.rule_type != STALE_RULE:
                continue  # never act on stale or inconsistent data
            if not rule.applies_to(acct.account, None) and not any(
                rule.applies_to(acct.account, p.symbol) for p in data.snapshot.positions
            ):
                continue
            result = rule.evaluate(data, acct.memories.get(rule.name, {}))
            acct.memories[rule.name] = result.memory
            results.append(result)
        findings = tuple(f for r in results for f in r.findings)
        for finding in findings:
            payload = _finding_payload(finding)
            self.journal.append("finding", acct.account, now_ms, payload)
            _LOG.info("finding", account=acct.account, **payload)
        planned, acct.planner_state = plan(
            results,
            data.snapshot,
            acct.market_rules,
            acct.planner_state,
            data.now,
            self.planner_config,
        )
        plan_id = f"{acct.account}-{acct.cycles}-{now_ms}"
        for alert in planned.alerts:
            payload = {
                "account": alert.account,
                "symbol": alert.symbol,
                "source": alert.source,
                "figures": dict(alert.figures),
            }
            self.journal.append(
                "alert",
                acct.account,
                now_ms,
                {"level": alert.level.name, "message": alert.message, **payload},
            )
            self.alert(alert.level, alert.message, payload)
        outcomes: list[StepOutcome] = []
        if planned.steps and actionable:
            executor = Executor(
                acct.port,
                account=acct.account,
                exchange_id=acct.exchange_id,
                journal=self.journal,
                clock=self.clock,
                alert=self.alert,
                config=ExecutorConfig(
                    prefix=self.config.client_id_prefix,
                    dry_run=self.config.dry_run,
                    contract_sizes={s: r.contract_size for s, r in acct.market_rules.items()},
                    amount_steps={s: r.amount_step for s, r in acct.market_rules.items()},
                ),
                hedged=acct.hedged,
            )
            outcomes = await executor.execute(
                plan_id,
                [(_planned_action(step), step.amounts) for step in planned.steps],
                data.snapshot,
                stops,
            )
        return CycleReport(
            acct.account, now_ms, actionable, data.snapshot, findings, planned, tuple(outcomes)
        )


def guard_risk_settings(
    config: GuardConfig, sigmas: Mapping[str, float], horizon_s: float
) -> RiskSettings:
    """The risk settings the guard evaluates with: SPAN over the reaction horizon plus the
    configured gaps, volatility per symbol floored at the configured minimum."""
    floor = per_sqrt_second(config.volatility_floor_daily_pct / 100)
    floored = {s: max(v, floor) for s, v in sigmas.items()}
    scenarios = span_scenarios(floored, horizon_s, default_sigma_per_sqrt_s=floor) + gap_scenarios(
        tuple(g / 100.0 for g in config.stress_gaps_pct)
    )
    return RiskSettings(
        sigma_per_sqrt_s=floor,
        horizon_s=horizon_s,
        scenarios=scenarios,
        symbol_sigmas=tuple(sorted(floored.items())),
    )


def _planned_action(step: PlannedStep) -> Action:
    """The action as the planner settled it: its kind, rounded stop, size after and amounts."""
    return replace(
        step.action,
        kind=step.kind,
        level=step.level,
        size_before=step.size_before,
        target_size=step.size_after,
        margin=step.margin,
        leverage=step.leverage,
        stop_price=step.stop_price,
    )


def _market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    step = precision.get("amount") or 1.0  # ccxt 4 reports precision as a tick size
    return MarketRules(
        symbol=symbol,
        contract_size=float(market.get("contractSize") or 1.0),
        amount_step=float(step),
        min_amount=float(amount_limits.get("min") or 0.0),
        price_tick=float(precision.get("price") or 0.01),
        min_notional=float(cost_limits["min"]) if cost_limits.get("min") else None,
    )


def _free_balance(balance: Mapping[str, Any], snapshot: AccountSnapshot) -> float:
    settle = snapshot.positions[0].symbol.partition(":")[2] if snapshot.positions else "USDT"
    free = (balance.get("free") or {}).get(settle)
    try:
        return float(free) if free is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _finding_payload(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "rule_type": finding.rule_type,
        "level": finding.level.name,
        "symbol": finding.symbol,
        "side": finding.side.value if finding.side else None,
        "metric": finding.metric,
        "measured": finding.measured,
        "threshold": finding.threshold,
        "message": finding.message,
        "figures": dict(finding.figures),
    }
