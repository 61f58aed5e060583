"""The daemon's alerts end to end: guard -> alert center -> outbox -> webhook (respx)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import httpx
import respx
from prometheus_client import generate_latest

from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.metrics import GuardMetrics
from riskguard.daemon.scheduler import AccountRun, Daemon
from riskguard.daemon.wiring import build_runtime
from tests.daemon.conftest import paper_config, write_config

HOOK_URL = "https://alerts.example.com/riskguard"


def test_a_crash_is_alerted_through_the_outbox_once_per_change_not_per_cycle(
    tmp_path: Path, journal_path: Path
) -> None:
    document = paper_config(journal_path, accounts=2)
    document["accounts"][1]["alert_only"] = True
    document["alerts"] = [
        {
            "type": "webhook",
            "url_env": "RG_HOOK",
            "secret_env": "RG_HOOK_KEY",
            "min_severity": "info",
        }
    ]
    document["alerting"] = {"gather_s": 0.05, "flush_on_stop_s": 5}
    # A slower paced clock than the other daemon tests: a loaded machine still runs several
    # cycles per simulated minute, so the crash is seen cycle by cycle.
    document["paper"]["clock"]["speed"] = 240
    config = write_config(tmp_path, document)
    environ = {"RG_HOOK": HOOK_URL, "RG_HOOK_KEY": "hmac-key-for-the-test"}

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK_URL).mock(return_value=httpx.Response(204))
        runtime = build_runtime(config, environ=environ)
        metrics = GuardMetrics()
        held_cycles = 0
        cycles_after_liquidation = 0

        def on_cycle(run: AccountRun) -> None:
            # Stop on the simulation's progress, not on wall time: once the alert-only
            # account's position has been gone for two cycles (its "no longer held" alert
            # is queued by the first of them).
            nonlocal held_cycles, cycles_after_liquidation
            report = run.last_report
            if run.acct.account != "acct1" or report is None or report.snapshot is None:
                return
            if report.snapshot.positions:
                held_cycles += 1
            elif held_cycles:
                cycles_after_liquidation += 1
                if cycles_after_liquidation >= 2:
                    daemon.request_stop("test: acct1 liquidated")

        daemon = Daemon(runtime, metrics=metrics, on_cycle=on_cycle)
        code = asyncio.run(daemon.run(run_for_s=90.0, handle_signals=False))

    assert code == 0
    received = [a for call in route.calls for a in json.loads(call.request.content)["alerts"]]
    with SqliteJournal(journal_path, readonly=True) as journal:
        queued = journal.entries(kind="alert_queued")
        rows = journal.outbox_rows()
        plans = journal.entries(kind="plan")
        saved_episodes = journal.get_state("acct1", "alert_episodes")
    # Every alert routed to the hook was delivered before the daemon stopped.
    assert rows
    assert {r.status for r in rows} == {"delivered"}
    assert {a["id"] for a in received} == {r.alert_id for r in rows}
    assert {e.payload["id"] for e in queued if e.payload["sinks"]} == {r.alert_id for r in rows}
    # The guarded account's actions are events; the alert-only account's plans are conditions.
    kinds = Counter((a["account"], a["kind"]) for a in received)
    assert kinds[("acct0", "event")] >= 1
    assert kinds[("acct1", "entered")] >= 1
    assert any(a["title"].startswith("guard ") for a in received if a["account"] == "acct0")
    assert any("dry run" in a["title"] for a in received if a["account"] == "acct1")
    # Hysteresis: the alert-only account's findings and dry-run plan repeat every cycle while
    # it holds the position, its alerts do not.
    assert cycles_after_liquidation >= 2, "the daemon stopped before acct1 was liquidated"
    assert sum(1 for e in plans if e.account == "acct1") >= held_cycles
    acct1_alerts = [a for a in received if a["account"] == "acct1"]
    assert held_cycles >= 60
    assert len(acct1_alerts) < held_cycles / 3
    # Its liquidation ends the position's episodes with one alert, not one per condition.
    (gone,) = [a for a in acct1_alerts if a["title"].startswith("position no longer held")]
    assert gone["severity"] == "warning"
    # Each request was signed.
    request = route.calls[0].request
    assert request.headers["X-Riskguard-Signature"].startswith("sha256=")
    assert saved_episodes is not None
    # Metrics count the messages per sink and outcome, and show the outbox.
    text = generate_latest(metrics.registry).decode()
    delivered = (
        f'riskguard_alert_messages_total{{outcome="delivered",sink="webhook"}} {len(route.calls)}.0'
    )
    assert delivered in text
    assert "riskguard_alert_outbox_pending " in text
