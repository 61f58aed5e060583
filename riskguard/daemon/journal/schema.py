"""The journal's schema, its migrations and the version checks made when a file is opened.

``PRAGMA user_version`` holds the version; :data:`MIGRATIONS` lists the steps:

    ``entries``  seq INTEGER PRIMARY KEY AUTOINCREMENT (never reused, even after pruning),
                 time_ms, kind, account, payload (JSON text); indexes (time_ms), (kind, time_ms),
                 (account, time_ms).
    ``orders``   one row per client order id, kept in step with the ``order_*`` entries in the
                 same transaction as the append (:mod:`riskguard.daemon.journal.orders`).
    ``state``    (account, key) -> JSON value and the time it was written: rule memories, the
                 planner's state, volatility estimates, so that a restart carries on.
    ``outbox``   (step 2) one row per (alert, sink): status pending / delivered / dead, attempts,
                 next attempt time, last error and the alert itself (:mod:`riskguard.alerts.outbox`
                 explains the life of a row). Pending rows are never pruned.

A new file gets every step; a file with an older version gets the missing ones, each in one
transaction with its version bump; a file with a newer version than this code knows, a file
that is not SQLite, or a SQLite file holding someone else's tables is refused with one
:class:`~riskguard.daemon.journal.errors.JournalFileError` line naming the file. To add a table,
append a :class:`Migration` with the next version. A read-only open never migrates:
:func:`check_readable` refuses a file that is empty (still being created) or not yet migrated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from riskguard.daemon.journal.errors import JournalFileError


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: the statements that take a file from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "entries, orders and state",
        (
            """CREATE TABLE entries (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                time_ms INTEGER NOT NULL,
                kind TEXT NOT NULL,
                account TEXT NOT NULL,
                payload TEXT NOT NULL
            )""",
            "CREATE INDEX entries_time ON entries (time_ms)",
            "CREATE INDEX entries_kind_time ON entries (kind, time_ms)",
            "CREATE INDEX entries_account_time ON entries (account, time_ms)",
            """CREATE TABLE orders (
                client_id TEXT PRIMARY KEY,
                account TEXT NOT NULL,
                plan_id TEXT,
                symbol TEXT,
                side TEXT,
                contracts REAL,
                kind TEXT,
                stop_price REAL,
                status TEXT NOT NULL,
                exchange_id TEXT,
                exchange_status TEXT,
                filled REAL,
                average REAL,
                error TEXT,
                intent_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                time_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )""",
            "CREATE INDEX orders_status ON orders (status)",
            "CREATE INDEX orders_account_time ON orders (account, time_ms)",
            "CREATE INDEX orders_exchange_id ON orders (exchange_id)",
            """CREATE TABLE state (
                account TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                time_ms INTEGER NOT NULL,
                PRIMARY KEY (account, key)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        2,
        "the alerts outbox",
        (
            """CREATE TABLE outbox (
                row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id TEXT NOT NULL,
                sink TEXT NOT NULL,
                severity INTEGER NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                next_ms INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                last_error TEXT,
                alert TEXT NOT NULL,
                UNIQUE (alert_id, sink)
            )""",
            "CREATE INDEX outbox_due ON outbox (status, sink, next_ms)",
        ),
    ),
)
"""Every schema step in order; ``MIGRATIONS[-1].version`` is the version this code writes."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version


def migrate(conn: sqlite3.Connection, name: str, steps: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to the last of ``steps``.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with its
    ``PRAGMA user_version`` bump, so a failed or interrupted step leaves the previous version.
    Returns the version the file had before. ``name`` is the file, for error messages.
    """
    target = steps[-1].version if steps else 0
    before = _user_version(conn)
    _check_version(before, target, name)
    if before == 0:
        foreign = conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 1"
        ).fetchone()
        if foreign is not None:
            raise JournalFileError(
                f"journal {name}: not a riskguard journal (a SQLite file with table or index "
                f"{foreign[0]!r} and no schema version); choose another file"
            )
    for step in steps:
        if step.version <= before:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _user_version(conn)  # another process may have migrated meanwhile
            if current < step.version:
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return before


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _is_empty(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1")
    return row.fetchone() is None


def _check_version(found: int, known: int, name: str) -> None:
    if found > known:
        raise JournalFileError(
            f"journal {name}: schema version {found} is newer than this riskguard knows "
            f"({known}); upgrade riskguard or use another file"
        )


def check_readable(conn: sqlite3.Connection, name: str) -> None:
    """Refuse, for a read-only open, a file this code cannot read as it is: newer, empty or older.

    A read-only open never migrates, so an older file must first be opened once for writing.
    """
    version = _user_version(conn)
    _check_version(version, SCHEMA_VERSION, name)
    if version == 0 and _is_empty(conn):
        raise JournalFileError(
            f"journal {name}: empty, no riskguard schema yet (a daemon starting "
            "on it creates the schema; try again in a moment)"
        )
    if version < SCHEMA_VERSION:
        raise JournalFileError(
            f"journal {name}: schema version {version} needs migrating to "
            f"{SCHEMA_VERSION}; open it once without read-only (start the daemon)"
        )
