"""The journal interface the guard writes to before it reports anything as done.

Entries are append-only: ``kind`` (``plan``, ``order_intent``, ``order_sent``, ``order_failed``,
``order_found``, ``margin_added``, ``alert``, ...), the account, the time and a JSON-ready payload.
:class:`MemoryJournal` keeps them in memory; the daemon's SQLite journal implements the same
protocol.

``append`` records an entry; ``await durable()`` returns once every entry appended so far is on
disk (raising when the journal failed). A journal may return from ``append`` before the entry is
durable (the daemon's journal commits on a writer thread, many entries per fsync:
:mod:`riskguard.daemon.journal.writer`), so whoever is about to act on the exchange, or to report
something as done, awaits ``durable()`` first: nothing is done that is not journalled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal line."""

    seq: int
    time_ms: int
    kind: str
    account: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class Journal(Protocol):
    """Where the guard records what it decided and did."""

    def append(
        self, kind: str, account: str, time_ms: int, payload: Mapping[str, Any]
    ) -> JournalEntry: ...

    def entries(
        self, kind: str | None = None, account: str | None = None
    ) -> list[JournalEntry]: ...

    async def durable(self) -> None:
        """Return once every entry appended so far is durable; raise if the journal failed."""
        ...


class MemoryJournal:
    """A journal in memory (tests, replays, and until the SQLite journal is configured)."""

    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []

    def append(
        self, kind: str, account: str, time_ms: int, payload: Mapping[str, Any]
    ) -> JournalEntry:
        entry = JournalEntry(len(self._entries) + 1, time_ms, kind, account, dict(payload))
        self._entries.append(entry)
        return entry

    def entries(self, kind: str | None = None, account: str | None = None) -> list[JournalEntry]:
        return [
            e
            for e in self._entries
            if (kind is None or e.kind == kind) and (account is None or e.account == account)
        ]

    async def durable(self) -> None:
        """Nothing to wait for: memory is as durable as it gets."""
