"""One guard cycle for one account: fetch, normalise, evaluate, judge, plan, journal, act.

The same function runs live (the daemon schedules it) and in replays (a virtual clock steps it);
there is one cycle, not two. Everything it carries from one cycle to the next (markets, tiers,
volatility estimates, rule memories, the planner's cooldowns) lives in :class:`GuardAccount`.

Stale or inconsistent data never leads to an order: when the fetch fails or the snapshot does not
pass its checks, only the ``stale_data`` rule runs (it alerts), and the last good snapshot is kept.
"""

from __future__ import annotations

import asyncio
import math
import sys
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import ccxt.async_support as ccxt
import structlog

from riskguard.alerts.from_guard import (
    ConditionFn,
    conditions_as_alerts,
    cycle_conditions,
    dry_run_condition,
    fact_description,
)
from riskguard.alerts.hysteresis import Condition
from riskguard.clock import Clock, to_datetime
from riskguard.config import GuardConfig
from riskguard.domain import AccountSnapshot, MarginMode, MarketRules, OpenStop, Tier
from riskguard.errors import ExchangeProblem, InputError, RetryLater, StopAccount
from riskguard.exchange.account_kind import free_collateral
from riskguard.exchange.ccxt_account import (
    TOTAL_EXCLUDES_UPNL,
    open_stops_from_ccxt,
    read_account,
)
from riskguard.exchange.errors import translate
from riskguard.exchange.markets import SharedMarkets
from riskguard.guard.enforce.executor import AlertFn, Executor, ExecutorConfig, RecordFn
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_fate import PendingOrder
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.guard.enforce.outcomes import StepOutcome
from riskguard.guard.enforce.quirks import quirks_for
from riskguard.guard.enforce.stop_watch import WatchedStop, settle_stops, teller, watch_open_stops
from riskguard.guard.learned_tails import LearnedTails
from riskguard.guard.planner import (
    Plan,
    PlannedStep,
    PlannerConfig,
    PlannerState,
    plan,
)
from riskguard.guard.risk_inputs import (
    SettingsMemo,
    guard_risk_settings,  # noqa: F401 - its old import path
    unchanged_evaluation,
)
from riskguard.guard.rules.base import (
    Action,
    Finding,
    Level,
    Memory,
    Rule,
    RuleInput,
    RuleResult,
)
from riskguard.guard.rules.stale_data import StaleDataRule, data_is_actionable
from riskguard.risk.evaluation import AccountEvaluation, evaluate_account
from riskguard.risk.tails import StressMove
from riskguard.risk.volatility import EwmaVolatility, per_sqrt_second

STALE_RULE = "stale_data"

_LOG = structlog.get_logger("riskguard.guard")


@dataclass
class GuardAccount:
    """One guarded account and what the guard remembers about it between cycles.

    ``alert_only``: journal and alert every decision, send nothing (a read-only key, or the
    account's config). ``shared`` holds the exchange's markets and tiers, shared with the other
    accounts on the same exchange. :meth:`state` / :meth:`restore` carry what must survive a
    restart (rule memories, the planner's cooldowns, volatility estimates) through the journal.
    """

    account: str
    port: Any
    exchange_id: str
    venue: str
    default_margin_mode: MarginMode = MarginMode.CROSS
    hedged: bool = False
    alert_only: bool = False
    shared: SharedMarkets = field(default_factory=SharedMarkets)
    volatility: dict[str, EwmaVolatility] = field(default_factory=dict)
    memories: dict[str, Memory] = field(default_factory=dict)
    planner_state: PlannerState = field(default_factory=PlannerState)
    last_snapshot: AccountSnapshot | None = None
    last_evaluation: AccountEvaluation | None = None
    last_good_ms: int | None = None
    latency_s: float | None = None
    cycles: int = 0
    liquidation_mismatches: set[tuple[str, str]] = field(default_factory=set)
    exchange_liquidation_prices: dict[tuple[str, str], float] = field(default_factory=dict)
    """The liquidation price the exchange reported last cycle, by (symbol, side), where it did."""
    stress_moves: dict[str, StressMove] = field(default_factory=dict)
    """The move each held symbol was last stressed with (journalled when it changes)."""
    pending_orders: dict[str, PendingOrder] = field(default_factory=dict)
    """Orders whose fate is unknown, by client id: their positions get no new order until a
    lookup settles them (:mod:`~riskguard.guard.enforce.order_fate`)."""
    settle: str | None = None
    """The settle currency the account's wallet is read in (configured), else from the markets
    (:func:`~riskguard.exchange.ccxt_account.settle_currency`)."""
    watched_stops: dict[str, WatchedStop] = field(default_factory=dict)
    """The guard's stops believed open, by client id: one that fires or vanishes is told
    (:mod:`~riskguard.guard.enforce.stop_watch`)."""

    @property
    def markets(self) -> Mapping[str, Any]:
        """The exchange's markets (ccxt dicts)."""
        return self.shared.markets

    @property
    def tiers(self) -> Mapping[str, tuple[Tier, ...]]:
        """Leverage tiers by symbol."""
        return self.shared.tiers

    @property
    def market_rules(self) -> Mapping[str, MarketRules]:
        """Order rules by symbol."""
        return self.shared.market_rules

    def state(self) -> dict[str, Any]:
        """What the guard remembers, JSON-ready, for the journal's state table."""
        return {
            "memories": {name: dict(memory) for name, memory in self.memories.items()},
            "planner": self.planner_state.to_dict(),
            "volatility": {
                s: {f.name: getattr(v, f.name) for f in fields(v)}
                for s, v in self.volatility.items()
            },
            "cycles": self.cycles,
            "pending_orders": [
                {f.name: getattr(p, f.name) for f in fields(p)}
                for p in self.pending_orders.values()
            ],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state` saved before a restart."""
        self.memories = {k: dict(v) for k, v in (state.get("memories") or {}).items()}
        self.planner_state = PlannerState.from_dict(state.get("planner") or {})
        self.volatility = {
            s: EwmaVolatility(**v) for s, v in (state.get("volatility") or {}).items()
        }
        self.cycles = int(state.get("cycles") or 0)
        self.pending_orders = {
            str(p["client_id"]): PendingOrder(**p) for p in state.get("pending_orders") or ()
        }


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
    evaluation: AccountEvaluation | None = None
    error_class: str | None = None
    """The exchange error class that made the cycle stale (``RequestTimeout``, ...)."""
    error_action: str | None = None
    """What the guard did about it: ``retry`` (transient) or ``skip`` (unusable answer)."""


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
        conditions: ConditionFn | None = None,
        record: RecordFn | None = None,
    ) -> None:
        """``alert`` receives one-off events; ``conditions`` each cycle's conditions per account
        (the alert center's hysteresis decides what is news). Without ``conditions`` every
        condition is passed to ``alert`` every cycle (tests that want to see them all)."""
        self.config = config
        self.rules = tuple(rules)
        self._stale_rules = tuple(r for r in self.rules if isinstance(r, StaleDataRule))
        self._applicable: dict[str, tuple[tuple[str, ...], tuple[Rule, ...]]] = {}
        self.journal = journal
        self.clock = clock
        self.alert = alert
        self.record = record
        """Journals a fact with its alert in one transaction (the daemon's alert center); None
        in replays and tests, where the fact is journalled and then ``alert`` called."""
        self.conditions: ConditionFn = (
            conditions if conditions is not None else conditions_as_alerts(alert)
        )
        self.planner_config = PlannerConfig(
            cooldown_s=config.cooldown_s,
            fight_window_s=config.fight_window_s,
            fight_threshold=config.fight_threshold,
            max_order_notional=config.max_order_notional,
        )
        self._no_fight_config = replace(self.planner_config, fight_threshold=sys.maxsize)
        self.volatility_floor = per_sqrt_second(config.volatility_floor_daily_pct / 100)
        self._settings = SettingsMemo(config)
        self._tails: weakref.WeakKeyDictionary[SharedMarkets, LearnedTails] = (
            weakref.WeakKeyDictionary()
        )

    def _rules_for(self, account: str, snapshot: AccountSnapshot) -> Sequence[Rule]:
        """The rules that apply to ``account`` or to a symbol it holds, in config order; kept
        per account with its symbols (the answer depends on them and the rules' frozen scopes)."""
        symbols = tuple(p.symbol for p in snapshot.positions)
        last = self._applicable.get(account)
        if last is not None and last[0] == symbols:
            return last[1]
        wanted = (None, *symbols)
        rules = tuple(r for r in self.rules if any(r.applies_to(account, s) for s in wanted))
        self._applicable[account] = (symbols, rules)
        return rules

    def tails_of(self, acct: GuardAccount) -> LearnedTails:
        """The learned tails of ``acct``'s exchange (one per exchange, shared by its accounts)."""
        tails = self._tails.get(acct.shared)
        if tails is None:
            tails = self._tails[acct.shared] = LearnedTails(self.config)
        return tails

    # ------------------------------------------------------------------ setup

    async def prepare(self, acct: GuardAccount) -> None:
        """Load markets (once per exchange; the daemon refreshes them on a slower schedule)."""
        await acct.shared.ensure(acct.port, self.clock.now_ms())

    # ------------------------------------------------------------------ the cycle

    async def cycle(self, acct: GuardAccount) -> CycleReport:
        """One poll of ``acct``.

        Reads only what it needs: balance and positions together, then the mark of any position
        reported without one, the tiers of symbols not seen before, and the open trigger orders
        of the symbols that hold positions. An exchange error that waiting will not fix
        (:class:`StopAccount`) is raised to the daemon; any other makes the cycle stale.
        """
        acct.cycles += 1
        started = self.clock.now_ms()
        try:
            if not acct.shared.loaded:
                await _call("load_markets", self.prepare(acct))
            at_once = bool(getattr(acct.port, "answers_at_once", False))
            if at_once:  # one after the other, in the order they would have started together
                balance = await _call("fetch_balance", acct.port.fetch_balance())
                positions = await _call("fetch_positions", acct.port.fetch_positions())
            else:
                balance, positions = await _together(
                    [
                        lambda: _call("fetch_balance", acct.port.fetch_balance()),
                        lambda: _call("fetch_positions", acct.port.fetch_positions()),
                    ]
                )
            held = sorted({str(r.get("symbol")) for r in positions if _is_open(r)})
            if any(_is_open(r) and not r.get("markPrice") for r in positions):
                positions = await self._with_marks(acct, positions)
            if acct.shared.tiers_wanted(held):
                await _call("fetch_leverage_tiers", acct.shared.ensure_tiers(acct.port, held))
            params = dict(_open_stops_params(acct.exchange_id))
            tails = self.tails_of(acct)
            # The bars are fetched with the open orders when they are due (every tail_refresh_s).
            calls = [_open_orders(acct.port, s, params) for s in held]
            if tails.due(held, started):
                calls.insert(0, lambda: tails.refresh(acct.port, held, started))
            answers = await _together(calls, one_by_one=at_once)
            per_symbol = answers[len(calls) - len(held) :]
        except StopAccount:
            raise
        except ExchangeProblem as exc:
            stale = self._stale(acct, started, f"fetch failed: {exc}")
            action = "retry" if isinstance(exc, RetryLater) else "skip"
            return replace(stale, error_class=exc.cause, error_action=action)
        orders = [o for rows in per_symbol for o in rows]
        fetched = self.clock.now_ms()
        latency = max(0.0, (fetched - started) / 1000.0)
        acct.latency_s = latency if acct.latency_s is None else 0.8 * acct.latency_s + 0.2 * latency
        taken_at = to_datetime(fetched)
        try:
            reading = read_account(
                account=acct.account,
                venue=acct.venue,
                balance=balance,
                positions=positions,
                markets=acct.markets,
                tiers=acct.tiers,
                taken_at=taken_at,
                default_mode=acct.default_margin_mode,
                total_includes_upnl=acct.exchange_id not in TOTAL_EXCLUDES_UPNL,
                settle=acct.settle,
            )
        except (InputError, ValueError) as exc:
            return self._stale(acct, fetched, f"inconsistent snapshot: {exc}")
        snapshot = reading.snapshot
        stops = open_stops_from_ccxt(
            orders, acct.markets, lambda cid: is_guard_client_id(cid, self.config.client_id_prefix)
        )
        watch_open_stops(acct.watched_stops, stops)
        if acct.watched_stops:
            await self._settle_stops(acct, stops)
        for p in snapshot.positions:
            state = acct.volatility.get(p.symbol) or EwmaVolatility(
                self.config.volatility_half_life_s, self.volatility_floor
            )
            if state.last_time_s is None or fetched / 1000.0 > state.last_time_s:
                state = state.update(fetched / 1000.0, p.mark_price)
            acct.volatility[p.symbol] = state
        sigmas = {s: v.sigma for s, v in acct.volatility.items()}
        horizon = self.config.poll_interval_s + (acct.latency_s or self.config.latency_s)
        moves = tails.moves((p.symbol for p in snapshot.positions), horizon)
        self._note_moves(acct, moves, fetched, horizon)
        settings = self._settings.settings(acct.account, sigmas, horizon, moves)
        try:
            evaluation = unchanged_evaluation(
                acct.last_snapshot, acct.last_evaluation, snapshot, settings
            ) or evaluate_account(snapshot, settings)
        except (InputError, ValueError) as exc:
            return self._stale(acct, fetched, f"cannot evaluate the snapshot: {exc}")
        acct.last_snapshot = snapshot
        acct.last_evaluation = evaluation
        acct.last_good_ms = fetched
        self._cross_check(acct, positions, snapshot, evaluation, fetched)
        free = free_collateral(balance, reading.kind, snapshot.settle or "USDT")
        data = RuleInput(
            snapshot=snapshot,
            evaluation=evaluation,
            now=taken_at,
            horizon_s=horizon,
            free_balance=free,
            sigma_per_sqrt_s=sigmas,
            open_stops=stops,
            data_age_s=0.0,
            consistent=True,
            stress_moves=moves,
            max_stop_sizes=acct.shared.max_stop_sizes,
        )
        return await self._judge_and_act(acct, data, stops, actionable=True, evaluation=evaluation)

    async def _settle_stops(self, acct: GuardAccount, stops: Sequence[OpenStop]) -> None:
        """Tell the fate of each watched stop that is no longer open (fired, gone)."""
        if acct.watched_stops:
            tell = teller(self.record, self.journal, self.alert, self.clock, acct.account)
            open_ids = {s.client_order_id for s in stops if s.client_order_id}
            quirks = quirks_for(acct.exchange_id)
            log = _LOG.bind(account=acct.account).info
            await settle_stops(
                acct.port, quirks, acct.watched_stops, open_ids, acct.account, tell, log
            )

    async def _with_marks(
        self, acct: GuardAccount, positions: Sequence[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        """Positions whose row has no mark price get one from the venue's mark-price call."""
        missing = sorted(
            {str(r.get("symbol")) for r in positions if _is_open(r) and not r.get("markPrice")}
        )
        if not missing:
            return list(positions)
        marks = await asyncio.gather(
            *(_call("fetch_mark_price", acct.port.fetch_mark_price(s)) for s in missing)
        )
        by_symbol = {
            s: m.get("markPrice") or m.get("last") for s, m in zip(missing, marks, strict=True)
        }
        return [
            {**r, "markPrice": by_symbol[str(r.get("symbol"))], "markSource": "fetch_mark_price"}
            if str(r.get("symbol")) in by_symbol and not r.get("markPrice")
            else r
            for r in positions
        ]

    def _note_moves(
        self, acct: GuardAccount, moves: Mapping[str, StressMove], now_ms: int, horizon: float
    ) -> None:
        """Journal (and log) each symbol's stress move when it differs from the last one used."""
        for symbol, move in moves.items():
            before = acct.stress_moves.get(symbol)
            if before is not None and _same_move(before, move):
                continue
            acct.stress_moves[symbol] = move
            payload = {
                "symbol": symbol,
                "fall_pct": round(move.fall * 100, 4),
                "rise_pct": round(move.rise * 100, 4),
                "source": move.source,
                "horizon_s": round(horizon, 3),
            }
            self.journal.append("tail_move", acct.account, now_ms, payload)
            _LOG.info("tail_move", account=acct.account, **payload)

    def _cross_check(
        self,
        acct: GuardAccount,
        rows: Sequence[Mapping[str, Any]],
        snapshot: AccountSnapshot,
        evaluation: AccountEvaluation,
        now_ms: int,
    ) -> None:
        """Warn once when the exchange's liquidation price and ours disagree beyond tolerance.

        The exchange's figure is often missing (Binance cross, Bybit UTA) or lags; ours is the
        one acted on. A disagreement means our tiers, wallet or venue profile may be wrong for
        this account: the operator must know. The warning repeats only after it cleared.
        """
        reported: dict[tuple[str, str], float] = {}
        for row in rows:
            price = _positive(row.get("liquidationPrice"))
            if price is not None and row.get("side") in ("long", "short"):
                reported[(str(row.get("symbol")), str(row.get("side")))] = price
        acct.exchange_liquidation_prices = reported
        tolerance = self.config.liquidation_price_tolerance_pct / 100.0
        for position, figures in zip(snapshot.positions, evaluation.positions, strict=True):
            key = (position.symbol, position.side.value)
            theirs = reported.get(key)
            ours = figures.risk.liquidation_price
            if theirs is None or ours is None:
                continue
            gap = abs(theirs - ours) / position.mark_price
            if gap <= tolerance:
                acct.liquidation_mismatches.discard(key)
                continue
            if key in acct.liquidation_mismatches:
                continue
            acct.liquidation_mismatches.add(key)
            message = (
                f"{acct.account} {position.symbol} {position.side.value}: the exchange reports "
                f"liquidation at {theirs:g}, riskguard computes {ours:g} ({gap:.2%} of the mark "
                f"apart, tolerance {tolerance:.2%}); riskguard acts on its own figure"
            )
            payload = {
                "account": acct.account,
                "symbol": position.symbol,
                "side": position.side.value,
                "figures": {
                    "exchange_liquidation_price": theirs,
                    "riskguard_liquidation_price": ours,
                    "mark_price": position.mark_price,
                    "gap_pct_of_mark": round(gap * 100, 4),
                    "tolerance_pct": self.config.liquidation_price_tolerance_pct,
                },
            }
            self.journal.append("liquidation_mismatch", acct.account, now_ms, payload)
            _LOG.warning("liquidation_mismatch", **payload)
            self.alert(Level.WARN, message, payload)

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
        stale = Condition(
            account=acct.account,
            rule=STALE_RULE,
            topic="stale",
            level=worst,
            title="no fresh data; the guard is not acting",
            message=message,
            figures=(("data_age_s", age), ("reason", reason)),
        )
        self.conditions(acct.account, [stale], False, None)
        return CycleReport(
            acct.account, now_ms, False, acct.last_snapshot, tuple(findings), None, (), reason
        )

    async def _judge_and_act(
        self,
        acct: GuardAccount,
        data: RuleInput,
        stops: Sequence[OpenStop],
        *,
        actionable: bool,
        evaluation: AccountEvaluation | None = None,
    ) -> CycleReport:
        now_ms = self.clock.now_ms()
        results: list[RuleResult] = []
        for stale in self._stale_rules:
            if not data_is_actionable(data, stale.config):
                actionable = False
        for rule in self._rules_for(acct.account, data.snapshot):
            if not actionable and rule.rule_type != STALE_RULE:
                continue  # never act on stale or inconsistent data
            result = rule.evaluate(data, acct.memories.get(rule.name, {}))
            acct.memories[rule.name] = result.memory
            results.append(result)
        findings = tuple(f for r in results for f in r.findings)
        for finding in findings:
            payload = _finding_payload(finding)
            self.journal.append("finding", acct.account, now_ms, payload)
            _LOG.info("finding", account=acct.account, **payload)
        sends = not (self.config.dry_run or acct.alert_only)
        planned, acct.planner_state = plan(
            results,
            data.snapshot,
            acct.market_rules,
            acct.planner_state,
            data.now,
            # Nothing is sent in dry run, so a position "growing back" after a reduction that
            # was only journalled is not a bot fighting the guard.
            self.planner_config if sends else self._no_fight_config,
        )
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
        outcomes: list[StepOutcome] = []
        if (planned.steps or acct.pending_orders) and actionable:
            executor = Executor(
                acct.port,
                account=acct.account,
                exchange_id=acct.exchange_id,
                journal=self.journal,
                clock=self.clock,
                alert=self.alert,
                config=ExecutorConfig(
                    prefix=self.config.client_id_prefix,
                    dry_run=not sends,
                    contract_sizes={s: r.contract_size for s, r in acct.market_rules.items()},
                    amount_steps={s: r.amount_step for s, r in acct.market_rules.items()},
                    max_market_amounts={
                        s: r.max_market_amount
                        for s, r in acct.market_rules.items()
                        if r.max_market_amount is not None
                    },
                ),
                hedged=acct.hedged,
                pending=acct.pending_orders,
                watched=acct.watched_stops,
                record=self.record,
                describe=fact_description,
            )
            outcomes = await executor.execute(
                f"{acct.account}-{acct.cycles}-{now_ms}",
                [(_planned_action(step), step.amounts) for step in planned.steps],
                data.snapshot,
                stops,
            )
        conditions = cycle_conditions(acct.account, data, findings, planned.alerts)
        for step, outcome in zip(planned.steps, outcomes, strict=False):
            action = _planned_action(step)
            if outcome.status == "dry_run":
                conditions.append(dry_run_condition(action))
            # What was sent is told by the executor, fact by fact, as it is journalled.
        held = [(p.symbol, p.side.value) for p in data.snapshot.positions]
        self.conditions(acct.account, conditions, actionable, held if actionable else None)
        return CycleReport(
            acct.account,
            now_ms,
            actionable,
            data.snapshot,
            findings,
            planned,
            tuple(outcomes),
            evaluation=evaluation,
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


async def _call(method: str, awaitable: Any) -> Any:
    """Await one exchange call; a ccxt error leaves translated (retry / skip / stop)."""
    try:
        return await awaitable
    except ccxt.BaseError as exc:
        raise translate(exc, method) from exc


def _is_open(row: Mapping[str, Any]) -> bool:
    return row.get("side") in ("long", "short") and bool(_positive(row.get("contracts")))


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


async def _together(
    calls: Sequence[Callable[[], Awaitable[Any]]], *, one_by_one: bool = False
) -> list[Any]:
    """The answers of ``calls``, awaited concurrently where there are several.

    A lone call is awaited as it is, and so are all of them, one after the other, with
    ``one_by_one``: for a port whose calls answer at once (the paper venue without latency or
    faults, ``answers_at_once``), where tasks would only cost trips through the event loop.
    """
    if one_by_one or len(calls) == 1:
        return [await call() for call in calls]
    return list(await asyncio.gather(*(call() for call in calls)))


_OPEN_STOPS_PARAMS: dict[str, Mapping[str, Any]] = {}


def _open_stops_params(exchange_id: str) -> Mapping[str, Any]:
    """The venue's params for listing trigger orders (its quirks, read once per venue)."""
    params = _OPEN_STOPS_PARAMS.get(exchange_id)
    if params is None:
        params = _OPEN_STOPS_PARAMS[exchange_id] = quirks_for(exchange_id).open_stops_params
    return params


def _open_orders(port: Any, symbol: str, params: Mapping[str, Any]) -> Callable[[], Awaitable[Any]]:
    """The call that fetches ``symbol``'s open orders."""
    return lambda: _call("fetch_open_orders", port.fetch_open_orders(symbol, None, None, params))


def _same_move(a: StressMove, b: StressMove) -> bool:
    """Equal to the basis point and both learned or both configured: a new bar that moves only
    the wording of the source (a calm tail growing a little) is not news for the journal."""
    learned = "learned tail"
    return (
        abs(a.fall - b.fall) < 1e-4
        and abs(a.rise - b.rise) < 1e-4
        and a.source.startswith(learned) == b.source.startswith(learned)
    )


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
