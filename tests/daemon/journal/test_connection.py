"""The one-transaction write: a refused write raises one line and keeps nothing.

Each test runs on both journals (the ``journal`` fixture): committing on the caller's thread,
where the write itself raises, and on the writer thread, where it raises at the barrier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riskguard.daemon.journal import JournalWriteError, SqliteJournal
from tests.daemon.journal.helpers import T0, _intent


def _append_durably(journal: SqliteJournal, kind: str, payload: dict[str, Any]) -> None:
    """Append and wait until it is committed: on the writer thread the append is only queued,
    and its failure is raised by the wait."""
    journal.append(kind, "main", T0 + 1, payload)
    journal.flush()


def test_write_the_database_refuses_raises_one_line_and_keeps_nothing(
    journal: SqliteJournal, path: Path
) -> None:
    journal.append("plan", "main", T0, {"plan_id": "p1"})
    pages = journal._call(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
    journal._call(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
    big = {"blob": "x" * 100_000}

    with pytest.raises(JournalWriteError) as caught:
        _append_durably(journal, "snapshot", big)

    assert str(caught.value) == f"journal {path}: cannot write (database or disk is full)"
    assert journal.count() == 1
    # A journal that refused a write is not trusted again, even when space comes back.
    journal._call(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    with pytest.raises(JournalWriteError, match="no longer trusted"):
        _append_durably(journal, "snapshot", big)


def test_entry_and_its_order_change_commit_together_or_not_at_all(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "c1")
    journal._call(
        lambda conn: conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON orders BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    )

    with pytest.raises(JournalWriteError, match=r"cannot write \(no\)"):
        _append_durably(journal, "order_sent", {"client_id": "c1", "order_id": "9"})

    assert journal.count("order_sent") == 0
    record = journal.order("c1")
    assert record is not None
    assert record.status == "intent"
