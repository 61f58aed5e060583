"""The alert outbox: one row per (alert, sink), written before anything is sent.

Row life::

    pending ──send ok──────────────────────────► delivered
       │  └─retryable failure: attempts+1, next_ms = now + backoff or Retry-After ─┐
       │                                                                           │
       ◄───────────────────────────────────────────────────────────────────────────┘
       └──permanent failure, or attempts reach the sink's max_attempts──► dead

The rows live in the journal (:class:`riskguard.daemon.journal.SqliteJournal` implements
:class:`Outbox`; its ``outbox`` table is schema step 2), so a restart finds every pending row with
its attempt count and its next attempt time and carries on: an alert is delivered at least once or
ends as a dead letter, never lost. The daemon's journal commits on a writer thread, so a row can be
read before it is on disk: the dispatcher awaits :meth:`Outbox.durable` before it sends. A crash
between a successful send and marking the row delivered sends it again after the restart
(at-least-once; webhook receivers can dedupe on the ``X-Riskguard-Alert-Id`` header).
:class:`MemoryOutbox` is the same store in memory for the one-shot ``check`` command and for tests.

Queueing an alert also appends an ``alert_queued`` journal entry in the same transaction;
delivering appends ``alert_delivered`` and dead-lettering ``alert_dead``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

from riskguard.guard.enforce.journal import Journal, JournalEntry, MemoryJournal

OUTBOX_STATUSES: Final = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One alert waiting for (or done with) one sink."""

    row_id: int
    alert_id: str
    sink: str
    severity: int
    status: str
    attempts: int
    next_ms: int
    created_ms: int
    updated_ms: int
    last_error: str | None
    alert: Mapping[str, Any]


class Outbox(Protocol):
    """Where queued alerts wait; every method commits before it returns."""

    def queue_alert(
        self, alert: Mapping[str, Any], sinks: Sequence[str], time_ms: int
    ) -> JournalEntry:
        """Journal ``alert_queued`` and add a pending row per sink (due at ``time_ms``)."""
        ...

    def append_with_alert(
        self,
        kind: str,
        account: str,
        time_ms: int,
        payload: Mapping[str, Any],
        alert: Mapping[str, Any],
        sinks: Sequence[str],
        due_ms: int,
    ) -> JournalEntry:
        """Journal the entry ``kind`` (a fact) and queue ``alert`` for it, as one commit."""
        ...

    def due_alerts(self, sink: str, now_ms: int, limit: int) -> list[OutboxRow]:
        """Pending rows of ``sink`` due by ``now_ms``: most severe first, then oldest."""
        ...

    def next_alert_due_ms(self, after_ms: int | None = None) -> int | None:
        """The earliest ``next_ms`` of any pending row (later than ``after_ms``), or ``None``."""
        ...

    def alerts_delivered(self, row_ids: Sequence[int], time_ms: int) -> None:
        """Mark rows delivered (one more attempt) and journal ``alert_delivered``."""
        ...

    def alerts_retry(self, row_ids: Sequence[int], time_ms: int, next_ms: int, error: str) -> None:
        """Count a failed attempt and set the next one."""
        ...

    def alerts_dead(self, row_ids: Sequence[int], time_ms: int, error: str) -> None:
        """Count the last attempt, mark rows dead and journal ``alert_dead``."""
        ...

    def outbox_rows(self, status: str | None = None) -> list[OutboxRow]:
        """Every row (of ``status``), oldest first."""
        ...

    async def durable(self) -> None:
        """Return once every change made so far is durable (a row read may be only queued);
        raise when the store failed. Awaited before a row is delivered."""
        ...


def delivered_payload(rows: Sequence[OutboxRow]) -> dict[str, Any]:
    """The journal payload of an ``alert_delivered`` entry."""
    return {
        "sink": rows[0].sink,
        "alert_ids": [r.alert_id for r in rows],
        "attempts": [r.attempts + 1 for r in rows],
    }


def dead_payload(rows: Sequence[OutboxRow], error: str) -> dict[str, Any]:
    """The journal payload of an ``alert_dead`` entry."""
    return {
        "sink": rows[0].sink,
        "alert_ids": [r.alert_id for r in rows],
        "attempts": [r.attempts + 1 for r in rows],
        "error": error,
        "titles": [str(r.alert.get("title", "")) for r in rows],
    }


def queued_payload(alert: Mapping[str, Any], sinks: Sequence[str]) -> dict[str, Any]:
    """The journal payload of an ``alert_queued`` entry: the alert and where it goes."""
    return {**alert, "sinks": list(sinks)}


def alert_account(alert: Mapping[str, Any]) -> str:
    """The journal account column for an alert (``*`` for the daemon's own alerts)."""
    return str(alert.get("account") or "*")


class MemoryOutbox:
    """The outbox in memory, journalling into a :class:`MemoryJournal` (or any journal)."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self._rows: dict[int, OutboxRow] = {}

    def queue_alert(
        self, alert: Mapping[str, Any], sinks: Sequence[str], time_ms: int
    ) -> JournalEntry:
        entry = self.journal.append(
            "alert_queued", alert_account(alert), time_ms, queued_payload(alert, sinks)
        )
        for sink in sinks:
            if any(r.alert_id == alert["id"] and r.sink == sink for r in self._rows.values()):
                continue
            row_id = len(self._rows) + 1
            self._rows[row_id] = OutboxRow(
                row_id,
                str(alert["id"]),
                sink,
                severity_rank(alert),
                "pending",
                0,
                time_ms,
                time_ms,
                time_ms,
                None,
                dict(alert),
            )
        return entry

    def append_with_alert(
        self,
        kind: str,
        account: str,
        time_ms: int,
        payload: Mapping[str, Any],
        alert: Mapping[str, Any],
        sinks: Sequence[str],
        due_ms: int,
    ) -> JournalEntry:
        """Record a fact and queue its alert (in memory nothing can fall between the two)."""
        entry = self.journal.append(kind, account, time_ms, payload)
        self.queue_alert(alert, sinks, due_ms)
        return entry

    def due_alerts(self, sink: str, now_ms: int, limit: int) -> list[OutboxRow]:
        rows = [
            r
            for r in self._rows.values()
            if r.sink == sink and r.status == "pending" and r.next_ms <= now_ms
        ]
        rows.sort(key=lambda r: (-r.severity, r.created_ms, r.row_id))
        return rows[:limit]

    def next_alert_due_ms(self, after_ms: int | None = None) -> int | None:
        return min(
            (
                r.next_ms
                for r in self._rows.values()
                if r.status == "pending" and (after_ms is None or r.next_ms > after_ms)
            ),
            default=None,
        )

    def alerts_delivered(self, row_ids: Sequence[int], time_ms: int) -> None:
        rows = [self._rows[i] for i in row_ids]
        self.journal.append(
            "alert_delivered", alert_account(rows[0].alert), time_ms, delivered_payload(rows)
        )
        for r in rows:
            self._rows[r.row_id] = replace(
                r, status="delivered", attempts=r.attempts + 1, updated_ms=time_ms
            )

    def alerts_retry(self, row_ids: Sequence[int], time_ms: int, next_ms: int, error: str) -> None:
        for i in row_ids:
            r = self._rows[i]
            self._rows[i] = replace(
                r, attempts=r.attempts + 1, next_ms=next_ms, updated_ms=time_ms, last_error=error
            )

    def alerts_dead(self, row_ids: Sequence[int], time_ms: int, error: str) -> None:
        rows = [self._rows[i] for i in row_ids]
        self.journal.append(
            "alert_dead", alert_account(rows[0].alert), time_ms, dead_payload(rows, error)
        )
        for r in rows:
            self._rows[r.row_id] = replace(
                r, status="dead", attempts=r.attempts + 1, updated_ms=time_ms, last_error=error
            )

    def outbox_rows(self, status: str | None = None) -> list[OutboxRow]:
        return [r for r in self._rows.values() if status is None or r.status == status]

    async def durable(self) -> None:
        await self.journal.durable()


_SEVERITY_RANK: Final = {"info": 0, "warning": 1, "critical": 2}


def severity_rank(alert: Mapping[str, Any]) -> int:
    """The severity of a stored alert as a number (critical highest): the outbox's order."""
    return _SEVERITY_RANK.get(str(alert.get("severity")), 0)
