"""``riskguard run``: the guard cycle of every account on a schedule, until told to stop.

APScheduler 3.11's ``AsyncIOScheduler`` runs one interval job per account (one instance at a time,
coalescing missed runs, skipping runs later than the misfire grace) and three slow jobs: markets
and tiers refresh, journal retention, heartbeat. Paper accounts run on the paper venue's paced
clock, so their job interval is the poll interval divided by the clock's speed.

Start: markets are loaded lazily by the first cycle; before it, key permissions are checked and
orders whose fate the journal does not know (the last run died mid-request) are looked up by
client id (:mod:`riskguard.daemon.wiring`). Each cycle's memories are saved in the journal's state
table, so a restart continues with the same cooldowns, holds and volatility estimates.

The journal commits on a writer thread, many entries per fsync
(:class:`~riskguard.daemon.journal.writer.GroupCommitJournal`), so the loop never waits for the
disk; a cycle is counted, observed in the metrics and handed to ``on_cycle`` only after ``await
journal.durable()`` (its findings, plans, snapshot and state are on disk), in a task of its own so
that a slow disk does not hold up the next poll, and the executor awaits the same barrier before
each order.

Stop: SIGINT or SIGTERM (or ``run_for_s``) stops the scheduler, lets the cycles in flight finish,
saves every account's state, journals ``stop`` and waits until it is durable, closes the exchange
clients and the journal (which commits anything still queued), and the process exits 0. A cycle that
raises does not stop the daemon: it is journalled and alerted. An account whose exchange says
waiting will not help (bad key, suspended) is stopped alone.

A journal that cannot be trusted stops everything (issue 15: D11). When any write raises
:class:`~riskguard.daemon.journal.JournalWriteError` (the file deleted or replaced under the
daemon, a full disk, an I/O error) the journal refuses every later write, so no order can be sent
(the executor journals each intent first); the daemon stops scheduling, sends one CRITICAL alert
straight to the sinks (the outbox lived in that journal: :meth:`Dispatcher.send_now
<riskguard.alerts.dispatcher.Dispatcher.send_now>`), saves a copy of a lost file's history where
it can (:meth:`SqliteJournal.rescue <riskguard.daemon.journal.SqliteJournal.rescue>`), closes,
and :meth:`Daemon.run` raises the error: ``riskguard run`` prints its one line naming the journal
and exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from riskguard import __version__
from riskguard.alerts.center import LEGACY_STATE_ACCOUNT as LEGACY_ALERT_STATE_ACCOUNT
from riskguard.alerts.center import STATE_KEY as ALERT_STATE_KEY
from riskguard.alerts.center import wall_ms
from riskguard.alerts.model import alert_from_payload
from riskguard.daemon.journal import JournalWriteError
from riskguard.daemon.metrics import GuardMetrics
from riskguard.daemon.recovery import recover_orders, watch_journalled_stops
from riskguard.daemon.wiring import STATE_KEY, Runtime, check_keys
from riskguard.errors import StopAccount
from riskguard.guard.cycle import STALE_RULE, CycleReport, GuardAccount
from riskguard.guard.enforce.executor import AlertFn
from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.cycle import MarginAccount, MarginCycleReport
from riskguard.observability.logs import redact

_LOG = structlog.get_logger("riskguard.daemon")

DIRECT_ALERT_TIMEOUT_S = 20.0
"""How long the daemon waits for the sinks to take the journal-failure alert before it exits."""

STATE_SAVE_EVERY_S = 60.0
"""Unchanged memories are saved at least this often (wall seconds): volatility moves every cycle
but losing a minute of it costs nothing, while a changed rule memory is saved at once."""

MOVING_MEMORIES: dict[str, frozenset[str]] = {STALE_RULE: frozenset({"last_good_at"})}
"""Rule memory keys that move every cycle without deciding anything: saved with the rest, at
least every ``STATE_SAVE_EVERY_S``, but a change in them alone is no reason to write. A restart
that restores a ``last_good_at`` up to a minute old only makes the stale-data rule stricter
until the next consistent snapshot."""


@dataclass
class AccountRun:
    """The daemon's bookkeeping for one account."""

    acct: GuardAccount
    interval_s: float
    last_report: CycleReport | None = None
    last_state: str = ""
    last_state_saved: float = 0.0
    stopped: str | None = None
    cycles: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    last_snapshot_ms: int | None = None


@dataclass
class MarginRun:
    """The daemon's bookkeeping for one spot margin account."""

    acct: MarginAccount
    interval_s: float
    last_report: MarginCycleReport | None = None
    cycles: int = 0


class Daemon:
    """Schedules guard cycles for a :class:`~riskguard.daemon.wiring.Runtime` and stops cleanly."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        alert: AlertFn | None = None,
        metrics: GuardMetrics | None = None,
        on_cycle: Callable[[AccountRun], None] | None = None,
    ) -> None:
        """``alert`` defaults to the runtime's alert center (tests pass a recorder)."""
        self.runtime = runtime
        self.alert = alert if alert is not None else runtime.alerts.alert_fn()
        self._delivery: asyncio.Task[None] | None = None
        if metrics is not None:
            runtime.dispatcher.on_attempt = lambda a: metrics.count_alert_message(a.sink, a.outcome)
        self.metrics = metrics
        self.on_cycle = on_cycle
        poll = runtime.config.guard.poll_interval_s
        self.runs = {
            a.account: AccountRun(a, poll / runtime.speeds.get(a.account, 1.0))
            for a in runtime.accounts
        }
        self.margin_runs = {m.account: MarginRun(m, poll) for m in runtime.margin_accounts}
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._scheduler: AsyncIOScheduler | None = None
        self.journal_error: JournalWriteError | None = None
        """Why the journal stopped being trusted (the daemon stops and :meth:`run` raises it)."""
        self._journal_reported = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Journal the start, check keys, recover orders in doubt."""
        journal = self.runtime.journal
        journal.append(
            "start",
            "*",
            int(time.time() * 1000),
            {
                "version": __version__,
                "config": str(self.runtime.config_path),
                "accounts": [a.account for a in self.runtime.accounts],
            },
        )
        last_times = getattr(journal, "last_times", None)
        if last_times is not None:  # one read for every account, not one per first cycle
            times = last_times("snapshot")
            for run in self.runs.values():
                run.last_snapshot_ms = times.get(run.acct.account, -(2**62))
        # Alerts left pending by the previous run go out first, before this run adds more.
        self._delivery = asyncio.create_task(self._deliver())
        await check_keys(self.runtime, self.alert)
        recovered = await recover_orders(self.runtime)
        if recovered:
            _LOG.info("orders_recovered", looked_up=recovered)
        watched = watch_journalled_stops(self.runtime)
        if watched:
            _LOG.info("stops_watched", stops=watched)
        for notice in self.runtime.notices:
            _LOG.warning("notice", message=notice)
        if self.metrics is not None:
            for run in self.runs.values():
                self.metrics.set_alert_only(run.acct.account, run.acct.alert_only)

    async def run_once(self) -> list[CycleReport]:
        """One cycle of every account, in parallel; then stop cleanly.

        Raises :class:`JournalWriteError` when the journal could not be trusted."""
        try:
            await self.start()
            await asyncio.gather(
                *(self._cycle(run) for run in self.runs.values()),
                *(self._margin_cycle(run) for run in self.margin_runs.values()),
            )
        except JournalWriteError as exc:
            self._journal_failed(exc)
        finally:
            await self.shutdown()
        self._raise_journal_error()
        return [r.last_report for r in self.runs.values() if r.last_report is not None]

    async def run(self, *, run_for_s: float | None = None, handle_signals: bool = True) -> int:
        """Run until SIGINT/SIGTERM (or ``run_for_s`` wall seconds); returns the exit code.

        Raises :class:`JournalWriteError`, after stopping, when the journal could not be trusted.
        """
        try:
            await self.start()
        except JournalWriteError as exc:
            self._journal_failed(exc)
            await self.shutdown()
            self._raise_journal_error()
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop, sig.name)
        # APScheduler logs two info lines per job run: per cycle of every account, too many.
        logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.root.level))
        scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        daemon_cfg = self.runtime.config.daemon
        now = datetime.now(UTC)
        for i, run in enumerate(self.runs.values()):
            scheduler.add_job(
                self._cycle_job,
                "interval",
                args=[run],
                id=f"cycle:{run.acct.account}",
                seconds=run.interval_s,
                # Spread first runs over one interval so accounts do not poll in lockstep.
                next_run_time=now + timedelta(seconds=run.interval_s * i / len(self.runs)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, math.ceil(daemon_cfg.misfire_grace_s)),
            )
        for i, margin in enumerate(self.margin_runs.values()):
            scheduler.add_job(
                self._margin_job,
                "interval",
                args=[margin],
                id=f"margin:{margin.acct.account}",
                seconds=margin.interval_s,
                next_run_time=now
                + timedelta(seconds=margin.interval_s * i / len(self.margin_runs)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, math.ceil(daemon_cfg.misfire_grace_s)),
            )
        scheduler.add_job(
            self._refresh_markets, "interval", seconds=daemon_cfg.tier_refresh_s, id="markets"
        )
        scheduler.add_job(
            self._retention, "interval", seconds=daemon_cfg.retention_every_s, id="retention"
        )
        scheduler.add_job(
            self._heartbeat,
            "interval",
            seconds=daemon_cfg.heartbeat_s,
            id="heartbeat",
            next_run_time=now,
        )
        self._scheduler = scheduler
        scheduler.start()
        try:
            if run_for_s is None:
                await self._stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), run_for_s)
        finally:
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            await self.shutdown()
        self._raise_journal_error()
        return 0

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the daemon to stop after the cycles in flight (signal handlers call this)."""
        if not self._stop.is_set():
            _LOG.info("stopping", reason=reason)
            self._stop.set()

    async def shutdown(self) -> None:
        """Stop scheduling, finish cycles in flight, save state, close clients and journal."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self.journal_error is None:
            try:
                for run in self.runs.values():
                    self._save_state(run, force=True)
                await self._stop_delivery()
                self.runtime.journal.append(
                    "stop",
                    "*",
                    int(time.time() * 1000),
                    {
                        "cycles": {
                            **{a: r.cycles for a, r in self.runs.items()},
                            **{a: r.cycles for a, r in self.margin_runs.items()},
                        }
                    },
                )
                await self.runtime.journal.durable()
            except JournalWriteError as exc:
                self._journal_failed(exc)
        if self.journal_error is not None:
            await self._abandon_delivery()
            await self._report_journal_failure()
        await self.runtime.aclose()
        close = getattr(self.runtime.journal, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------------ journal failure

    def _journal_failed(self, exc: JournalWriteError) -> None:
        """The journal cannot be trusted: stop everything (once; later failures add nothing)."""
        if self.journal_error is not None:
            return
        first = getattr(self.runtime.journal, "failure", None)
        self.journal_error = first if isinstance(first, JournalWriteError) else exc
        _LOG.critical("journal_failed", error=redact(str(self.journal_error)))
        self.runtime.dispatcher.stop()  # its outbox is in the journal
        self.request_stop("the journal cannot be trusted")

    async def _report_journal_failure(self) -> None:
        """Save a lost file's history where possible, then alert every sink directly, once."""
        if self.journal_error is None or self._journal_reported:
            return
        self._journal_reported = True
        rescue = getattr(self.runtime.journal, "rescue", None)
        saved = rescue() if rescue is not None else None
        text = str(self.journal_error).removesuffix(".")
        text += "; riskguard stopped and sends nothing more"
        if saved is not None:
            text += f"; what the journal held is saved in {saved}"
        reported = JournalWriteError(redact(text))
        reported.__cause__ = self.journal_error
        self.journal_error = reported
        message = (
            f"riskguard stopped: {text}. Nothing guards the accounts until the journal is "
            "fixed and riskguard restarted."
        )
        path = str(getattr(self.runtime.journal, "path", ""))
        alert = alert_from_payload(Level.CRITICAL, message, {"journal": path}, time_ms=wall_ms())
        sinks = self.runtime.alerts.sinks_for(alert)
        try:
            await asyncio.wait_for(
                self.runtime.dispatcher.send_now(alert, sinks), DIRECT_ALERT_TIMEOUT_S
            )
        except TimeoutError:
            _LOG.error("journal_failure_alert_timeout", sinks=sinks)

    def _raise_journal_error(self) -> None:
        if self.journal_error is not None:
            raise self.journal_error

    async def _deliver(self) -> None:
        """The dispatcher's loop; a journal failure inside it stops the daemon like any other."""
        try:
            await self.runtime.dispatcher.run()
        except JournalWriteError as exc:
            self._journal_failed(exc)

    async def _abandon_delivery(self) -> None:
        """Stop the delivery loop without flushing: its outbox cannot be written."""
        task, self._delivery = self._delivery, None
        if task is None:
            return
        self.runtime.dispatcher.stop()
        try:
            await asyncio.wait_for(task, 5.0)
        except TimeoutError:
            _LOG.warning("alert_delivery_stop_timeout")
        except Exception:
            _LOG.exception("alert_delivery_failed")

    # ------------------------------------------------------------------ jobs

    async def _cycle_job(self, run: AccountRun) -> None:
        """The scheduled job: the cycle runs in a task of its own, shielded, so that stopping
        the scheduler (which cancels its jobs) lets the cycle in flight finish."""
        if run.stopped is not None or self._stop.is_set() or self.journal_error is not None:
            return
        task = asyncio.create_task(self._cycle(run), name=f"cycle:{run.acct.account}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def _cycle(self, run: AccountRun) -> None:
        try:
            await self._guarded_cycle(run)
        except JournalWriteError as exc:
            # Nothing may be decided or sent that is not journalled first: stop everything.
            self._journal_failed(exc)

    async def _guarded_cycle(self, run: AccountRun) -> None:
        acct = run.acct
        guard = self.runtime.guards[acct.account]
        started = time.perf_counter()
        try:
            report = await guard.cycle(acct)
        except StopAccount as exc:
            self._stop_account(run, str(exc))
            return
        except JournalWriteError:
            raise
        except Exception as exc:  # one account's bug must not stop the others
            message = redact(f"{acct.account}: the guard cycle failed: {type(exc).__name__}: {exc}")
            self.runtime.journal.append(
                "cycle_error", acct.account, guard.clock.now_ms(), {"error": message}
            )
            _LOG.exception("cycle_error", account=acct.account)
            self.alert(Level.CRITICAL, message, {"account": acct.account})
            return
        duration = time.perf_counter() - started
        self._sample_snapshot(run, report)
        self._save_state(run)
        done = asyncio.create_task(self._report_done(run, report, duration))
        self._inflight.add(done)
        done.add_done_callback(self._inflight.discard)

    async def _report_done(self, run: AccountRun, report: CycleReport, duration: float) -> None:
        """Count the cycle, observe it in the metrics and hand it to ``on_cycle`` once what it
        journalled is on disk. A task of its own: a slow disk delays this, not the next poll."""
        try:
            await self.runtime.journal.durable()
        except JournalWriteError as exc:
            self._journal_failed(exc)
            return
        acct = run.acct
        run.cycles += 1
        run.last_report = report
        for outcome in report.outcomes:
            run.actions[outcome.kind.value] = run.actions.get(outcome.kind.value, 0) + 1
        if self.metrics is not None:
            self.metrics.observe_cycle(report, acct.last_evaluation, duration)
            if report.error_class is not None and report.error_action is not None:
                self.metrics.count_api_error(acct.account, report.error_class, report.error_action)
        if self.on_cycle is not None:
            self.on_cycle(run)

    async def _margin_job(self, run: MarginRun) -> None:
        """The scheduled job of a spot margin account (shielded like :meth:`_cycle_job`)."""
        if self._stop.is_set() or self.journal_error is not None:
            return
        task = asyncio.create_task(self._margin_cycle(run), name=f"margin:{run.acct.account}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    async def _margin_cycle(self, run: MarginRun) -> None:
        guard = self.runtime.margin_guard
        if guard is None:
            return
        acct = run.acct
        try:
            report = await guard.cycle(acct)
            await self.runtime.journal.durable()
        except JournalWriteError as exc:
            self._journal_failed(exc)
            return
        except Exception as exc:  # one account's bug must not stop the others
            message = redact(
                f"{acct.account}: the margin cycle failed: {type(exc).__name__}: {exc}"
            )
            self.runtime.journal.append(
                "cycle_error", acct.account, guard.clock.now_ms(), {"error": message}
            )
            _LOG.exception("cycle_error", account=acct.account)
            self.alert(Level.CRITICAL, message, {"account": acct.account})
            return
        run.cycles += 1
        run.last_report = report
        if self.metrics is not None:
            self.metrics.actionable.labels(acct.account).set(1 if report.actionable else 0)

    def _stop_account(self, run: AccountRun, reason: str) -> None:
        acct = run.acct
        run.stopped = reason
        message = (
            f"{acct.account}: stopped guarding this account: {reason}. "
            "Fix the cause and restart riskguard; until then nothing protects it."
        )
        self.runtime.journal.append(
            "account_stopped",
            acct.account,
            self.runtime.guards[acct.account].clock.now_ms(),
            {"reason": reason},
        )
        _LOG.error("account_stopped", account=acct.account, reason=reason)
        self.alert(Level.CRITICAL, message, {"account": acct.account, "reason": reason})
        if self.metrics is not None:
            self.metrics.count_api_error(acct.account, "StopAccount", "stop")
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.remove_job(f"cycle:{acct.account}")

    def _sample_snapshot(self, run: AccountRun, report: CycleReport) -> None:
        """Journal a snapshot when one is due. The time of the last one is read from the journal
        at start (it survives restarts), then kept here: no query per cycle."""
        journal = self.runtime.journal
        if report.snapshot is None or report.evaluation is None:
            return
        if run.last_snapshot_ms is None:
            last_entry = getattr(journal, "last_entry", None)
            entry = last_entry("snapshot", run.acct.account) if last_entry is not None else None
            run.last_snapshot_ms = entry.time_ms if entry is not None else -(2**62)
        elapsed_ms = report.time_ms - run.last_snapshot_ms
        every_ms = self.runtime.config.journal.snapshot_every_s * 1000.0
        if abs(elapsed_ms) < every_ms:
            # Within an interval of the last one, either way: a paper venue restarted from the
            # same start runs a few ms behind the last snapshot and must not sample twice; a
            # clock that went back further than an interval samples again.
            return
        journal.append("snapshot", run.acct.account, report.time_ms, snapshot_payload(report))
        run.last_snapshot_ms = report.time_ms

    async def _stop_delivery(self) -> None:
        """Deliver what is due for up to ``alerting.flush_on_stop_s``; the rest stays queued."""
        self._save_alert_state()
        dispatcher = self.runtime.dispatcher
        if self._delivery is None:
            return
        flushed = await dispatcher.flush(self.runtime.config.alerting.flush_on_stop_s)
        dispatcher.stop()
        try:
            await asyncio.wait_for(self._delivery, 5.0)
        except TimeoutError:
            _LOG.warning("alert_delivery_stop_timeout")
        except Exception:
            _LOG.exception("alert_delivery_failed")
        self._delivery = None
        pending = len(self._pending_alerts())
        if not flushed or pending:
            _LOG.warning("alerts_left_in_outbox", pending=pending)

    def _pending_alerts(self) -> list[Any]:
        return self.runtime.dispatcher.outbox.outbox_rows("pending")

    def _save_alert_state(self) -> None:
        """Write the episodes of every account whose episodes changed since its last save (at
        the stop: an account's own cycles save its row with its state), and empty the old
        single row of every account's episodes once they are all in rows of their own."""
        center = self.runtime.alerts
        put_state = getattr(self.runtime.journal, "put_state", None)
        if put_state is None:
            return
        for account, episodes in center.take_changed().items():
            put_state(account, ALERT_STATE_KEY, episodes)
        if center.legacy_pending:
            put_state(LEGACY_ALERT_STATE_ACCOUNT, ALERT_STATE_KEY, None)
            center.legacy_pending = False

    def _save_state(self, run: AccountRun, *, force: bool = False) -> None:
        """Save the account's memories, and its alert episodes when they changed, in one
        transaction; nothing of another account is read or written."""
        center = self.runtime.alerts
        if center.legacy_pending:
            self._save_alert_state()  # once, on the first save after an older version's run
        put_states = getattr(self.runtime.journal, "put_states", None)
        if put_states is None:
            return
        account = run.acct.account
        values: dict[str, Any] = {}
        if center.changed(account):
            values[ALERT_STATE_KEY] = center.take_state(account)
        state = run.acct.state()
        text = json.dumps(decisive_state(state), sort_keys=True, default=str)
        now = time.monotonic()
        memories = (
            force or text != run.last_state or now - run.last_state_saved >= STATE_SAVE_EVERY_S
        )
        if memories:
            values[STATE_KEY] = state
        if values:
            put_states(account, values)
        if memories:
            run.last_state = text
            run.last_state_saved = now

    async def _refresh_markets(self) -> None:
        done: set[int] = set()
        for run in self.runs.values():
            shared = run.acct.shared
            if id(shared) in done or run.stopped is not None:
                continue
            done.add(id(shared))
            try:
                await shared.refresh(
                    run.acct.port, self.runtime.guards[run.acct.account].clock.now_ms()
                )
            except Exception as exc:
                _LOG.warning(
                    "markets_refresh_failed", account=run.acct.account, error=redact(str(exc))
                )

    async def _retention(self) -> None:
        prune = getattr(self.runtime.journal, "prune_async", None)
        if prune is None:
            return
        days = self.runtime.config.journal.retention_days
        cutoff = int((time.time() - days * 86_400) * 1000)
        try:
            deleted = await prune(cutoff)
        except JournalWriteError as exc:
            self._journal_failed(exc)
            return
        _LOG.info("journal_pruned", deleted=deleted, older_than_days=days)

    async def _heartbeat(self) -> None:
        now = time.time()
        if self.metrics is not None:
            self.metrics.heartbeat(now)
            self.metrics.set_outbox_pending(len(self._pending_alerts()))
        ages = {}
        for name, run in self.runs.items():
            acct = run.acct
            clock_now = self.runtime.guards[name].clock.now_ms()
            age = math.inf if acct.last_good_ms is None else (clock_now - acct.last_good_ms) / 1e3
            ages[name] = age
            if self.metrics is not None:
                self.metrics.set_data_age(name, age)
        _LOG.info(
            "heartbeat",
            accounts=len(self.runs),
            stopped=[n for n, r in self.runs.items() if r.stopped],
            max_data_age_s=max(ages.values(), default=0.0),
        )


def decisive_state(state: dict[str, Any]) -> dict[str, Any]:
    """The part of an account's saved state whose change is written at once: its rule memories
    (less :data:`MOVING_MEMORIES`), the planner's cooldowns and pending orders; not the cycle
    counter nor the volatility estimates, which move every cycle."""
    memories = {
        rule: {k: v for k, v in memory.items() if k not in MOVING_MEMORIES.get(rule, ())}
        for rule, memory in (state.get("memories") or {}).items()
    }
    kept = {k: v for k, v in state.items() if k not in ("volatility", "cycles", "memories")}
    return {**kept, "memories": memories}


def snapshot_payload(report: CycleReport) -> dict[str, Any]:
    """An account snapshot with its figures, for the journal (sampled)."""
    if report.snapshot is None or report.evaluation is None:
        raise ValueError("a snapshot payload needs a cycle that evaluated a snapshot")
    evaluation = report.evaluation
    return {
        "equity": evaluation.risk.equity,
        "settle": report.snapshot.settle,
        "account_type": report.snapshot.account_type,
        "profile": evaluation.risk.venue,
        "approximate": evaluation.risk.approximate,
        "sources": dict(report.snapshot.sources),
        "notes": list(report.snapshot.notes),
        "wallet_balance": report.snapshot.wallet_balance,
        "potential_shortfall": evaluation.potential_shortfall,
        "positions": [
            {
                "symbol": p.symbol,
                "side": p.side.value,
                "margin_mode": p.margin_mode.value,
                "size": p.size,
                "entry_price": p.entry_price,
                "mark_price": p.mark_price,
                "liquidation_price": e.risk.liquidation_price,
                "distance_pct": None if e.risk.distance is None else e.risk.distance * 100,
                "sigma_distance": e.sigma_distance,
                "margin_ratio": e.risk.margin_ratio,
                "shortfall": e.shortfall,
            }
            for p, e in zip(report.snapshot.positions, evaluation.positions, strict=True)
        ],
    }
