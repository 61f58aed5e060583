"""How fast an alert reaches a webhook, and what a burst becomes: the real center, outbox
(SQLite journal, synchronous=full), dispatcher and webhook sink against a local HTTP receiver.

1. Latency: 40 alerts, one every 0.25 s; time from ``AlertCenter.send`` returning (the alert is
   on disk) to the receiver reading the request. Default ``gather_s`` (0.5 s) included.
2. Burst: 200 alerts queued at once (a crash across many accounts); messages sent, alerts per
   message, time until every alert was delivered, with the default rate limit (20/min, burst 5,
   digest after 3, at most 25 per digest).

Run: .venv/bin/python bench/alerts.py
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import structlog

from riskguard.alerts.center import AlertCenter, Route
from riskguard.alerts.config import AlertingConfig, WebhookSinkConfig
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.alerts.factory import build_sinks, make_http_client
from riskguard.alerts.model import Alert, Severity, new_alert_id
from riskguard.daemon.journal import SqliteJournal

RECEIVED: dict[str, float] = {}
MESSAGES: list[int] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        now = time.perf_counter()
        MESSAGES.append(len(body["alerts"]))
        for alert in body["alerts"]:
            RECEIVED.setdefault(alert["id"], now)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _alert(n: int) -> Alert:
    return Alert(
        id=new_alert_id(),
        time_ms=int(time.time() * 1000),
        severity=Severity.CRITICAL if n % 7 == 0 else Severity.WARNING,
        title=f"position {n} at 3.1% from liquidation",
        account=f"acct{n % 50}",
        symbol="BTC/USDT:USDT",
        side="long",
        rule="liquidation_distance",
        kind="entered",
        figures=(("distance_pct", 3.1), ("mark_price", 61250.5)),
    )


async def run(folder: Path, url: str) -> None:
    journal = SqliteJournal(folder / "journal.sqlite3")
    config = WebhookSinkConfig(url_env="HOOK", min_severity="info")
    client = make_http_client()
    sinks = build_sinks([config], {"HOOK": url}, client, folder)
    policy = AlertingConfig()
    dispatcher = Dispatcher(journal, sinks, policy)
    center = AlertCenter(
        journal,
        [Route.of(config)],
        policy,
        now_ms=lambda: int(time.time() * 1000),
        on_queued=dispatcher.wake,
    )
    task = asyncio.create_task(dispatcher.run())

    sent_at: dict[str, float] = {}
    for n in range(40):
        alert = _alert(n)
        center.send(alert)
        sent_at[alert.id] = time.perf_counter()
        await asyncio.sleep(0.25)
    await asyncio.sleep(2.0)
    latencies = sorted((RECEIVED[i] - t) * 1000 for i, t in sent_at.items() if i in RECEIVED)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"latency, 40 alerts 0.25 s apart: delivered {len(latencies)}/40, messages {len(MESSAGES)}"
    )
    print(
        f"  queue->received ms: p50 {q[49]:.0f}  p90 {q[89]:.0f}  p99 {q[98]:.0f}  "
        f"min {latencies[0]:.0f}  max {latencies[-1]:.0f}"
    )

    MESSAGES.clear()
    burst = [_alert(n) for n in range(200)]
    start = time.perf_counter()
    for alert in burst:
        center.send(alert)
    queued_s = time.perf_counter() - start
    while not all(a.id in RECEIVED for a in burst):
        await asyncio.sleep(0.05)
        if time.perf_counter() - start > 120:
            break
    done_s = time.perf_counter() - start
    got = sum(1 for a in burst if a.id in RECEIVED)
    print(
        f"burst of 200: queued in {queued_s * 1000:.0f} ms ({queued_s / 200 * 1000:.1f} ms each, "
        f"fsync per alert); delivered {got}/200 in {done_s:.1f} s as {len(MESSAGES)} messages "
        f"(alerts per message: {MESSAGES})"
    )
    dispatcher.stop()
    await task
    await client.aclose()
    journal.close()


def main() -> None:
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # quiet: figures only
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.system()}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), f"http://127.0.0.1:{server.server_address[1]}/hook"))
    server.shutdown()


if __name__ == "__main__":
    main()
