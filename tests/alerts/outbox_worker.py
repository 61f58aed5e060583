"""A delivery process for the restart test: ``python outbox_worker.py JOURNAL URL [--queue N]``.

It opens the journal, optionally queues N alerts for the sink ``hook`` (a signed webhook at URL),
and delivers the outbox until it is killed. Retries are fast (50 ms base) so the test is quick.
With ``--flush`` instead of ``--queue N`` it delivers what is due and exits (closing the journal,
which no other process can read while a writer holds it).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from riskguard.alerts.config import AlertingConfig, WebhookSinkConfig
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.alerts.factory import build_sinks, make_http_client
from riskguard.alerts.model import Alert, Severity
from riskguard.daemon.journal import SqliteJournal


async def main(journal_path: str, url: str, queue: int, *, flush: bool = False) -> None:
    journal = SqliteJournal(journal_path)
    config = WebhookSinkConfig(
        name="hook", url_env="HOOK_URL", secret_env="HOOK_SECRET", digest_after=100, burst=100
    )
    policy = AlertingConfig(gather_s=0, retry_base_s=0.05, retry_max_s=0.2)
    client = make_http_client()
    env = {"HOOK_URL": url, "HOOK_SECRET": "restart-test-key"}
    sinks = build_sinks([config], env, client, Path(journal_path).parent)
    for n in range(queue):
        alert = Alert(
            id=f"restart-{n}",
            time_ms=1_763_700_000_000 + n,
            severity=Severity.CRITICAL,
            title=f"position {n} near liquidation",
            account="main",
            kind="entered",
            figures=(("distance_pct", 1.0 + n),),
        )
        journal.queue_alert(alert.to_json(), ["hook"], 0)
    print("ready", flush=True)
    dispatcher = Dispatcher(journal, sinks, policy)
    if flush:
        await dispatcher.flush(20.0)
        await client.aclose()
        journal.close()
        return
    await dispatcher.run()


if __name__ == "__main__":
    queue = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--queue" else 0
    flush = len(sys.argv) > 3 and sys.argv[3] == "--flush"
    asyncio.run(main(sys.argv[1], sys.argv[2], queue, flush=flush))
