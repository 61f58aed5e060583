"""The daemon on the paper venue: scheduling, clean stops, journal, state, and failures."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.scheduler import Daemon, snapshot_payload
from riskguard.daemon.wiring import STATE_KEY, build_runtime
from riskguard.guard.cycle import CycleReport
from riskguard.guard.rules.base import Level
from tests.daemon.conftest import paper_config, write_config

Alerts = list[tuple[Level, str, dict[str, Any]]]


def _collector() -> tuple[Alerts, Any]:
    alerts: Alerts = []

    def alert(level: Level, message: str, payload: Any) -> None:
        alerts.append((level, message, dict(payload)))

    return alerts, alert


def test_run_once_journals_start_cycle_snapshot_state_and_stop(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, paper_config(journal_path))
    _, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    daemon = Daemon(runtime, alert=alert)

    reports = asyncio.run(daemon.run_once())

    assert [r.account for r in reports] == ["acct0"]
    assert reports[0].actionable
    with SqliteJournal(journal_path, readonly=True) as journal:
        kinds = [e.kind for e in journal.entries()]
        assert kinds[0] == "start"
        assert kinds[-1] == "stop"
        assert "snapshot" in kinds
        # The stop-loss rule puts a stop on every unprotected position in the first cycle.
        intents = journal.entries(kind="order_intent")
        assert any(e.payload.get("kind") == "stop" for e in intents)
        assert journal.entries(kind="order_sent")
        saved = journal.get_state("acct0", STATE_KEY)
        assert saved is not None
        assert saved["cycles"] == 1
        snapshot = journal.entries(kind="snapshot")[0].payload
        assert snapshot["positions"][0]["symbol"] == "BTC/USDT:USDT"
        assert snapshot["positions"][0]["liquidation_price"] > 0


def test_guarded_account_survives_a_crash_the_alert_only_account_does_not(
    tmp_path: Path, journal_path: Path
) -> None:
    document = paper_config(journal_path, accounts=2)
    document["accounts"][1]["alert_only"] = True
    document["paper"]["clock"]["speed"] = 240
    config = write_config(tmp_path, document)
    _, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    # 240x: the crash runs from minute 10 to 40, 2.5 to 10 wall seconds in; the run stops on
    # the simulation's progress (simulated minute 45), not on wall time.
    assert runtime.paper is not None
    paper = runtime.paper
    started_ms = paper.clock.now_ms()
    daemon = Daemon(
        runtime,
        alert=alert,
        on_cycle=lambda _run: (
            daemon.request_stop("test: past the crash")
            if paper.clock.now_ms() - started_ms >= 45 * 60_000
            else None
        ),
    )

    code = asyncio.run(daemon.run(run_for_s=90.0, handle_signals=False))

    assert code == 0
    assert runtime.paper is not None
    liquidated = {r.account for r in runtime.paper.venue.liquidations}
    assert liquidated == {"acct1"}
    assert (
        daemon.runs["acct0"].actions.get("reduce", 0) + daemon.runs["acct0"].actions.get("close", 0)
        >= 1
    )
    with SqliteJournal(journal_path, readonly=True) as journal:
        sent = [e for e in journal.entries(kind="order_sent") if e.account == "acct1"]
        assert sent == []  # alert-only: journalled, never sent
        assert journal.entries(kind="order_dry_run", account="acct1")
        assert journal.entries()[-1].kind == "stop"


def _read_lines(process: subprocess.Popen[bytes]) -> tuple[queue.Queue[str], threading.Thread]:
    """The daemon's stdout, line by line, read by a thread (ends when the process does)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def _wait_for_action(lines: queue.Queue[str], timeout_s: float) -> bool:
    """Whether the daemon printed an action line within ``timeout_s``. (Its journal cannot be
    read meanwhile: the daemon holds it exclusively while it runs.)"""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            if " -> " in lines.get(timeout=left):
                return True
        except queue.Empty:
            return False
    return False


def test_sigterm_finishes_the_cycle_flushes_the_journal_and_exits_zero(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, paper_config(journal_path))
    with (tmp_path / "stderr.txt").open("w+b") as err:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "riskguard", "run", str(config)],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"},
        )
        lines, reader = _read_lines(process)
        try:
            if not _wait_for_action(lines, 30):
                pytest.fail("the daemon did nothing within 30 s")
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            reader.join(timeout=10)
            assert process.stdout is not None
            process.stdout.close()
        err.seek(0)
        assert process.returncode == 0, err.read().decode()
    with SqliteJournal(journal_path, readonly=True) as journal:
        assert journal.entries()[-1].kind == "stop"
        assert journal.entries(kind="order_sent")
        assert journal.get_state("acct0", STATE_KEY) is not None


class _RefusingPort:
    """A port whose key the exchange refuses: every read raises AuthenticationError."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.has = getattr(inner, "has", {})

    async def load_markets(self, *args: Any) -> Any:
        return await self.inner.load_markets(*args)

    async def fetch_leverage_tiers(self, *args: Any) -> Any:
        return await self.inner.fetch_leverage_tiers(*args)

    async def fetch_balance(self, *args: Any) -> Any:
        raise ccxt.AuthenticationError('binanceusdm {"code":-2015,"msg":"Invalid API-key"}')

    async def fetch_positions(self, *args: Any) -> Any:
        return await self.inner.fetch_positions(*args)

    async def close(self) -> None:
        await self.inner.close()


class _BrokenPort(_RefusingPort):
    async def fetch_balance(self, *args: Any) -> Any:
        raise RuntimeError("a bug in a port")


def test_an_account_whose_key_is_refused_is_stopped_alone_with_a_critical_alert(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, paper_config(journal_path, accounts=2))
    alerts, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    runtime.accounts[0].port = _RefusingPort(runtime.accounts[0].port)
    # Stops on progress (acct1 guarded three times), not on wall time: CI machines are slow.
    daemon = Daemon(
        runtime,
        alert=alert,
        on_cycle=lambda run: (
            daemon.request_stop("test: acct1 cycled")
            if run.acct.account == "acct1" and run.cycles >= 3
            else None
        ),
    )

    asyncio.run(daemon.run(run_for_s=60.0, handle_signals=False))

    assert daemon.runs["acct0"].stopped is not None
    assert "AuthenticationError" in daemon.runs["acct0"].stopped
    assert daemon.runs["acct0"].cycles == 0
    assert daemon.runs["acct1"].cycles >= 2
    critical = [a for a in alerts if a[0] is Level.CRITICAL and a[2].get("account") == "acct0"]
    assert len(critical) == 1
    assert "stopped guarding" in critical[0][1]
    with SqliteJournal(journal_path, readonly=True) as journal:
        assert len(journal.entries(kind="account_stopped", account="acct0")) == 1


def test_a_cycle_that_raises_is_journalled_and_alerted_and_the_daemon_goes_on(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, paper_config(journal_path))
    alerts, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    runtime.accounts[0].port = _BrokenPort(runtime.accounts[0].port)

    def alert_and_stop_after_two_failures(level: Level, message: str, payload: Any) -> None:
        alert(level, message, payload)
        if sum("cycle failed" in a[1] for a in alerts) >= 2:
            daemon.request_stop("test: failed twice")

    daemon = Daemon(runtime, alert=alert_and_stop_after_two_failures)

    asyncio.run(daemon.run(run_for_s=60.0, handle_signals=False))

    with SqliteJournal(journal_path, readonly=True) as journal:
        errors = journal.entries(kind="cycle_error")
        assert len(errors) >= 2  # it kept being scheduled
        assert "RuntimeError: a bug in a port" in errors[0].payload["error"]
    assert daemon.runs["acct0"].stopped is None
    assert any(a[0] is Level.CRITICAL and "cycle failed" in a[1] for a in alerts)


def test_snapshot_payload_needs_an_evaluated_cycle() -> None:
    report = CycleReport("a", 0, False, None, (), None, ())
    with pytest.raises(ValueError, match="evaluated"):
        snapshot_payload(report)


def test_metrics_follow_the_cycles_and_the_slow_jobs_run(
    tmp_path: Path, journal_path: Path
) -> None:
    from prometheus_client import generate_latest

    from riskguard.daemon.metrics import GuardMetrics

    config = write_config(tmp_path, paper_config(journal_path))
    _, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    metrics = GuardMetrics()
    seen: list[int] = []
    daemon = Daemon(runtime, alert=alert, metrics=metrics, on_cycle=lambda r: seen.append(r.cycles))

    async def scenario() -> None:
        await daemon.start()
        run = daemon.runs["acct0"]
        await daemon._cycle(run)
        await daemon._refresh_markets()
        await daemon._heartbeat()
        await daemon._retention()
        await daemon.shutdown()

    asyncio.run(scenario())

    text = generate_latest(metrics.registry).decode()
    assert (
        'riskguard_position_distance_pct{account="acct0",side="long",symbol="BTC/USDT:USDT"}'
        in (text)
    )
    assert "riskguard_cycle_seconds_count" in text
    assert "riskguard_heartbeat_timestamp_seconds" in text
    assert seen == [1]
    assert runtime.accounts[0].shared.refreshes == 1


def test_snapshots_are_sampled_once_per_interval_also_across_a_restart(
    tmp_path: Path, journal_path: Path
) -> None:
    document = paper_config(journal_path)
    document["journal"]["snapshot_every_s"] = 3600
    # At the usual 600x paced clock an hour of venue time passes in 6 wall seconds, which a
    # loaded machine can spend on two runs (CI did); at 1x the hour cannot pass in the test.
    document["paper"]["clock"]["speed"] = 1
    config = write_config(tmp_path, document)
    _, alert = _collector()

    for _ in range(2):
        runtime = build_runtime(config, alert=alert)
        asyncio.run(Daemon(runtime, alert=alert).run_once())

    with SqliteJournal(journal_path, readonly=True) as journal:
        assert len(journal.entries(kind="start")) == 2
        assert len(journal.entries(kind="snapshot")) == 1


def test_a_journal_that_refuses_writes_stops_the_daemon_with_a_critical_alert(
    tmp_path: Path, journal_path: Path
) -> None:
    from riskguard.daemon.journal import JournalWriteError

    config = write_config(tmp_path, paper_config(journal_path))
    alerts, alert = _collector()
    runtime = build_runtime(config, alert=alert)
    daemon = Daemon(runtime, alert=alert)
    journal = runtime.journal

    def refuse(*_: Any) -> Any:
        raise JournalWriteError("journal x: cannot write (disk I/O error)")

    async def scenario() -> None:
        await daemon.start()
        journal.append = refuse  # type: ignore[method-assign]
        await daemon._cycle(daemon.runs["acct0"])

    asyncio.run(scenario())

    assert daemon._stop.is_set()
    assert str(daemon.journal_error) == "journal x: cannot write (disk I/O error)"
    # Its alert goes straight to the sinks when the daemon stops (test_journal_failure.py),
    # never through the alert center, whose outbox is in the journal that failed.
    assert not any(a[0] is Level.CRITICAL for a in alerts)
    journal.close()  # type: ignore[attr-defined]
