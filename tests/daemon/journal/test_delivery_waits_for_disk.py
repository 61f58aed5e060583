"""An alert goes out only once its outbox row is on disk (issue 17: the journal's barrier).

The daemon's journal answers a read before the writes it sees are committed (read your writes,
without waiting for their fsync), so the dispatcher can find a row that a crash would still take
back. Here the writer holds every commit until someone awaits the barrier; the sink checks, when
it is handed the alert, that everything journalled before was committed.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from riskguard.alerts.config import AlertingConfig, WebhookSinkConfig
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.alerts.model import Alert, alert_from_payload
from riskguard.daemon.journal import GroupCommitJournal
from riskguard.daemon.journal.writer import _Batch
from riskguard.guard.rules.base import Level
from tests.daemon.journal.helpers import T0, hold_writer


class _CommitOnBarrierJournal(GroupCommitJournal):
    """Holds its first commit until a barrier is awaited (reads in that batch are answered)."""

    def __init__(self, path: Path) -> None:
        self.may_commit = threading.Event()
        self._held = False
        super().__init__(path)

    def _commit(self, batch: _Batch) -> None:
        if batch.open and not self._held:
            self._held = True
            # A dispatcher that sends without the barrier would wait here forever on its next
            # read; give up after a while so that the test fails on its assertion instead.
            self.may_commit.wait(timeout=10)
        super()._commit(batch)

    async def durable(self) -> None:
        self.may_commit.set()
        await super().durable()

    def close(self) -> None:
        self.may_commit.set()
        super().close()


def _release_when_queued(journal: GroupCommitJournal, release: threading.Event, jobs: int) -> None:
    """Let the held writer go once ``jobs`` jobs wait, so it takes them as one batch."""

    def watch() -> None:
        while journal._jobs.qsize() < jobs:
            time.sleep(0.001)
        release.set()

    threading.Thread(target=watch, daemon=True).start()


class _CheckingSink:
    name = "hook"

    def __init__(self, journal: GroupCommitJournal) -> None:
        self.journal = journal
        self.sent: list[tuple[str, bool]] = []

    async def send(self, alerts: Sequence[Alert]) -> None:
        on_disk = self.journal.committed_seq >= self.journal.queued_seq
        self.sent.extend((a.id, on_disk) for a in alerts)


def test_an_alert_is_sent_only_once_its_outbox_row_is_committed(tmp_path: Path) -> None:
    journal = _CommitOnBarrierJournal(tmp_path / "journal.sqlite")
    sink = _CheckingSink(journal)
    config = WebhookSinkConfig.model_validate({"name": "hook", "url_env": "HOOK_URL"})
    dispatcher = Dispatcher(
        journal,
        [(sink, config)],
        AlertingConfig(gather_s=0),
        now_ms=lambda: T0,
        rng=random.Random(7),
    )
    alert = alert_from_payload(Level.CRITICAL, "margin call", {"account": "main"}, time_ms=T0)
    try:
        release = hold_writer(journal)
        journal.queue_alert(alert.to_json(), ["hook"], T0)
        # The row and the dispatcher's first read of the due rows go in one batch: the read is
        # answered, and the commit waits for a barrier.
        _release_when_queued(journal, release, jobs=2)

        asyncio.run(dispatcher.deliver_due())
    finally:
        journal.close()

    assert sink.sent == [(alert.id, True)]
