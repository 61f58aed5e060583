"""Retention: pruning old entries, orders and outbox rows, and vacuuming."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskguard.daemon.journal import JournalWriteError, SqliteJournal
from tests.daemon.journal.helpers import T0, _intent


def test_prune_deletes_old_entries_and_returns_how_many(journal: SqliteJournal) -> None:
    for i in range(5):
        journal.append("cycle", "main", T0 + i * 1000, {"i": i})

    deleted = journal.prune(T0 + 3000)

    assert deleted == 3
    assert [e.payload["i"] for e in journal.entries()] == [3, 4]


def test_prune_keeps_the_kinds_asked_for(journal: SqliteJournal) -> None:
    journal.append("cycle", "main", T0, {})
    journal.append("alert", "main", T0, {})
    journal.append("order_sent", "main", T0, {})

    deleted = journal.prune(T0 + 1, keep_kinds=("alert", "order_sent"))

    assert deleted == 1
    assert [e.kind for e in journal.entries()] == ["alert", "order_sent"]


def test_prune_never_deletes_pending_orders_or_their_intents(journal: SqliteJournal) -> None:
    _intent(journal, "pending")
    _intent(journal, "done")
    journal.append("order_sent", "main", T0, {"client_id": "done", "order_id": "1"})

    deleted = journal.prune(T0 + 1)

    assert deleted == 2
    (kept,) = journal.entries()
    assert (kept.kind, kept.payload["client_id"]) == ("order_intent", "pending")
    assert [o.client_id for o in journal.orders()] == ["pending"]


def test_seq_keeps_rising_after_everything_is_pruned(journal: SqliteJournal) -> None:
    journal.append("cycle", "main", T0, {})
    journal.append("cycle", "main", T0, {})
    journal.prune(T0 + 1)

    entry = journal.append("cycle", "main", T0 + 2, {})

    assert entry.seq == 3
    assert journal.last_seq() == 3
    assert journal.count() == 1


def test_vacuum_shrinks_the_file_after_a_prune(path: Path) -> None:
    with SqliteJournal(path, synchronous="normal") as opened:
        for i in range(300):
            opened.append("snapshot", "main", T0 + i, {"blob": "x" * 2_000})
        opened.prune(T0 + 300)
        opened._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size

        opened.vacuum()

        opened._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert path.stat().st_size < before / 10


def test_vacuum_of_a_readonly_journal_raises_a_write_error(path: Path) -> None:
    SqliteJournal(path).close()

    with (
        SqliteJournal(path, readonly=True) as reader,
        pytest.raises(JournalWriteError, match=r"cannot vacuum \(attempt to write a readonly"),
    ):
        reader.vacuum()
