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

from collections import Counter
from collections.abc import Collection, Mapping
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

    def __init__(self, *, keep: Collection[str] | None = None) -> None:
        """``keep`` names the kinds whose entries are kept (``None``: every kind). Entries of
        other kinds are numbered and counted (:meth:`count`) but not kept: a replay polling every
        second for days reads back only its orders and alerts, and keeping every cycle's
        ``finding`` grew it by about 1 KB per poll."""
        self._entries: list[JournalEntry] = []
        self._keep = None if keep is None else frozenset(keep)
        self._counts: Counter[str] = Counter()
        self._seq = 0

    def append(
        self, kind: str, account: str, time_ms: int, payload: Mapping[str, Any]
    ) -> JournalEntry:
        self._seq += 1
        entry = JournalEntry(self._seq, time_ms, kind, account, dict(payload))
        self._counts[kind] += 1
        if self._keep is None or kind in self._keep:
            self._entries.append(entry)
        return entry

    def count(self, kind: str) -> int:
        """How many entries of ``kind`` were appended (kept or not)."""
        return self._counts[kind]

    def entries(self, kind: str | None = None, account: str | None = None) -> list[JournalEntry]:
        """The kept entries, in order (of ``kind`` and ``account`` when given). Raises
        ``ValueError`` for a kind this journal does not keep: its entries are gone, and an empty
        list would say there were none."""
        if kind is not None and self._keep is not None and kind not in self._keep:
            raise ValueError(f"this journal keeps only {sorted(self._keep)}, not {kind!r} entries")
        return [
            e
            for e in self._entries
            if (kind is None or e.kind == kind) and (account is None or e.account == account)
        ]

    async def durable(self) -> None:
        """Nothing to wait for: memory is as durable as it gets."""
