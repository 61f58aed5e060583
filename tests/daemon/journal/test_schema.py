"""The journal's schema: versions, migrations, and the checks of a read-only open."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from riskguard.daemon.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    JournalFileError,
    Migration,
    SqliteJournal,
    migrate,
)
from riskguard.errors import ConfigError
from tests.daemon.journal.helpers import T0, _raw


def test_new_file_gets_the_current_schema_version_in_wal_mode(path: Path) -> None:
    SqliteJournal(path).close()

    conn = _raw(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert version == SCHEMA_VERSION == MIGRATIONS[-1].version
    assert mode == "wal"
    assert {"entries", "orders", "state"} <= tables


def test_file_with_a_newer_schema_is_refused_in_one_line_naming_it(path: Path) -> None:
    SqliteJournal(path).close()
    conn = _raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(JournalFileError) as caught:
        SqliteJournal(path)

    message = str(caught.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in message
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)


def test_sqlite_file_with_someone_elses_tables_is_refused_and_left_alone(path: Path) -> None:
    conn = _raw(path)
    conn.execute("CREATE TABLE trades (id INTEGER)")
    conn.close()

    with pytest.raises(JournalFileError, match=r"not a riskguard journal .*'trades'"):
        SqliteJournal(path)

    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    finally:
        conn.close()
    assert names == ["trades"]


V3 = Migration(3, "a future table", ("CREATE TABLE later (id INTEGER PRIMARY KEY, body TEXT)",))


def test_migrate_brings_an_older_file_up_to_date_and_keeps_its_entries(path: Path) -> None:
    conn = _raw(path)
    try:
        migrate(conn, str(path), MIGRATIONS[:1])  # a file written before the outbox existed
        conn.execute(
            "INSERT INTO entries (time_ms, kind, account, payload) "
            "VALUES (?, 'plan', 'main', '{}')",
            (T0,),
        )
    finally:
        conn.close()

    with SqliteJournal(path) as journal:  # opening migrates to the current version
        journal.queue_alert({"id": "a1", "severity": "warning", "title": "t"}, ["slack"], T0)
        kinds = [e.kind for e in journal.entries()]
        pending = journal.outbox_rows("pending")
    conn = _raw(path)
    try:
        before = migrate(conn, str(path), (*MIGRATIONS, V3))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("INSERT INTO later (body) VALUES ('x')")
    finally:
        conn.close()

    assert kinds == ["plan", "alert_queued"]
    assert [r.alert_id for r in pending] == ["a1"]
    assert (before, version) == (2, 3)


def test_migrate_applies_every_step_to_an_empty_file_in_order(path: Path) -> None:
    conn = _raw(path)
    try:
        before = migrate(conn, str(path), (*MIGRATIONS, V3))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()

    assert (before, version) == (0, 3)


def test_migrate_with_no_steps_leaves_an_empty_file_at_version_zero(path: Path) -> None:
    conn = _raw(path)
    try:
        assert migrate(conn, str(path), ()) == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        conn.close()


def test_failed_migration_step_leaves_the_previous_version_and_schema(path: Path) -> None:
    SqliteJournal(path).close()
    broken = Migration(3, "broken", ("CREATE TABLE later (id INTEGER)", "CREATE TABLE entries (x)"))
    conn = _raw(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn, str(path), (*MIGRATIONS, broken))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        later = conn.execute("SELECT name FROM sqlite_master WHERE name = 'later'").fetchall()
    finally:
        conn.close()

    assert version == SCHEMA_VERSION
    assert later == []


class _RacingConnection(sqlite3.Connection):
    """Lets another connection migrate the file just before this one takes the write lock."""

    other_path = ""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self.other_path:
            other = sqlite3.connect(self.other_path, isolation_level=None)
            try:
                migrate(other, self.other_path)
            finally:
                other.close()
            self.other_path = ""
        return super().execute(sql, *args)


def test_migrate_skips_a_step_another_process_applied_meanwhile(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None, factory=_RacingConnection)
    conn.other_path = str(path)
    try:
        before = migrate(conn, str(path))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()

    assert (before, version) == (0, SCHEMA_VERSION)


def test_readonly_journal_of_an_older_schema_asks_for_a_migration(path: Path) -> None:
    _raw(path).close()
    conn = _raw(path)
    conn.execute("CREATE TABLE legacy (x)")
    conn.close()

    with pytest.raises(JournalFileError, match=f"version 0 needs migrating to {SCHEMA_VERSION}"):
        SqliteJournal(path, readonly=True)


@pytest.mark.parametrize("header", [False, True], ids=["zero-bytes", "wal-header-only"])
def test_readonly_journal_of_a_file_still_being_created_says_so(path: Path, header: bool) -> None:
    # What a reader sees between a daemon creating the file and committing its schema.
    if header:
        conn = _raw(path)
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.close()
    else:
        path.touch()

    with pytest.raises(JournalFileError, match="empty, no riskguard schema yet") as raised:
        SqliteJournal(path, readonly=True)

    assert "\n" not in str(raised.value)
    SqliteJournal(path).close()  # the writer then creates the schema as usual
    with SqliteJournal(path, readonly=True) as reader:
        assert reader.entries() == []


def test_readonly_journal_of_a_newer_schema_is_refused(path: Path) -> None:
    conn = _raw(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    with pytest.raises(JournalFileError, match="version 99 is newer"):
        SqliteJournal(path, readonly=True)
