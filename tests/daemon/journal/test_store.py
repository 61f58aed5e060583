"""The SQLite journal as a whole: opening, durability settings, lifecycle, crash safety."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from riskguard.daemon.journal import JournalFileError, JournalWriteError, SqliteJournal
from riskguard.guard.enforce.journal import Journal
from tests.daemon.journal.helpers import T0, kill_after


def test_synchronous_full_is_the_default_and_normal_can_be_chosen(path: Path) -> None:
    with SqliteJournal(path) as full:
        assert full._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with SqliteJournal(path, synchronous="normal") as normal:
        assert normal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_unknown_synchronous_setting_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'full' or 'normal'"):
        SqliteJournal(path, synchronous="off")  # type: ignore[arg-type]
    assert not path.exists()


def test_reopened_journal_keeps_its_entries_and_continues_the_sequence(path: Path) -> None:
    with SqliteJournal(path) as first:
        first.append("plan", "main", T0, {"plan_id": "p1"})
        first.append("finding", "main", T0 + 1, {"rule": "r"})

    with SqliteJournal(path) as again:
        entry = again.append("alert", "main", T0 + 2, {"message": "m"})
        kinds = [e.kind for e in again.entries()]

    assert kinds == ["plan", "finding", "alert"]
    assert entry.seq == 3


def test_file_that_is_not_sqlite_is_refused_in_one_line_naming_it(path: Path) -> None:
    path.write_text("equity,margin\n" * 200)

    with pytest.raises(JournalFileError) as caught:
        SqliteJournal(path)

    message = str(caught.value)
    assert message.startswith(f"journal {path}: not a usable SQLite database")
    assert "\n" not in message
    assert path.read_text() == "equity,margin\n" * 200


def test_file_in_a_missing_directory_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "journal.sqlite"

    with pytest.raises(JournalFileError, match=r"cannot open \(unable to open database file\)"):
        SqliteJournal(missing)


def test_readonly_journal_reads_a_file_and_never_writes_it(path: Path) -> None:
    with SqliteJournal(path) as writer:
        writer.append("plan", "main", T0, {"plan_id": "p1"})

    with SqliteJournal(path, readonly=True) as reader:
        kinds = [e.kind for e in reader.entries()]
        with pytest.raises(JournalWriteError, match="readonly"):
            reader.append("plan", "main", T0, {})

    assert kinds == ["plan"]


def test_readonly_journal_of_a_missing_file_is_refused_and_not_created(path: Path) -> None:
    with pytest.raises(JournalFileError, match="no such file"):
        SqliteJournal(path, readonly=True)

    assert not path.exists()


def test_in_memory_journal_works_for_tests() -> None:
    with SqliteJournal(":memory:") as memory:
        memory.append("plan", "main", T0, {})
        assert memory.count() == 1


def test_closed_journal_refuses_further_use(path: Path) -> None:
    with SqliteJournal(path) as opened:
        pass
    opened.close()  # closing twice is harmless

    with pytest.raises(sqlite3.ProgrammingError):
        opened.entries()


def test_sqlite_journal_satisfies_the_journal_protocol(journal: SqliteJournal) -> None:
    port: Journal = journal

    entry = port.append("plan", "main", T0, {"plan_id": "p1"})

    assert port.entries("plan", "main") == [entry]


# ------------------------------------------------------------------------------ crash safety


_CHILD = """
import sys
from riskguard.daemon.journal import SqliteJournal

journal = SqliteJournal(sys.argv[1])
i = 0
while True:
    cid = f"c{i}"
    journal.append("order_intent", "main", i, {"client_id": cid, "symbol": "X", "plan_id": "p"})
    sent = journal.append("order_sent", "main", i, {"client_id": cid, "order_id": str(i)})
    print(sent.seq, flush=True)
    i += 1
"""


def test_every_append_that_returned_survives_sigkill_and_the_file_reopens(path: Path) -> None:
    returned, returncode = kill_after(_CHILD, path, 40)

    with SqliteJournal(path) as reopened:
        integrity = reopened._conn.execute("PRAGMA integrity_check").fetchone()[0]
        seqs = [e.seq for e in reopened.entries()]
        sent = {e.payload["client_id"] for e in reopened.entries("order_sent")}
        statuses = {o.client_id: o.status for o in reopened.orders()}

    assert returncode == -signal.SIGKILL
    assert integrity == "ok"
    assert set(returned) <= set(seqs)
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(statuses[c] == "sent" for c in sent)
    assert all(status == "intent" for c, status in statuses.items() if c not in sent)
