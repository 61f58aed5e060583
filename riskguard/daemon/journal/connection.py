"""What every part of the journal works on: one SQLite connection, and one way to write through it.

:class:`JournalConnection` is the base of the parts :class:`~riskguard.daemon.journal.SqliteJournal`
is made of (entries, orders, state, outbox rows, retention). It holds the file's name, the
connection :mod:`~riskguard.daemon.journal.store` opens and the clock that stamps state writes;
:meth:`JournalConnection._write` runs a change in one committed transaction (``BEGIN IMMEDIATE``
... ``COMMIT``), or rolls it back and raises
:class:`~riskguard.daemon.journal.errors.JournalWriteError`. Every write goes through it, so one
append (with the order row it updates) is one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from riskguard.clock import Clock
from riskguard.daemon.journal.errors import JournalWriteError


class JournalConnection:
    """The file, its connection and its clock, shared by every part of the journal."""

    path: str
    readonly: bool
    _clock: Clock
    _conn: sqlite3.Connection

    def _write(self, action: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``action`` in one committed transaction, or roll back and raise."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                action(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalWriteError(f"journal {self.path}: cannot write ({exc})") from exc
