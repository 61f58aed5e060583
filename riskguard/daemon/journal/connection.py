"""What every part of the journal works on: one SQLite connection, and one way to write through it.

:class:`JournalConnection` is the base of the parts :class:`~riskguard.daemon.journal.SqliteJournal`
is made of (entries, orders, state, outbox rows, retention). It holds the file's name, the
connection :mod:`~riskguard.daemon.journal.store` opens and the clock that stamps state writes;
:meth:`JournalConnection._write` runs a change in one committed transaction (``BEGIN IMMEDIATE``
... ``COMMIT``), or rolls it back and raises
:class:`~riskguard.daemon.journal.errors.JournalWriteError`. Every write goes through it, so one
append (with the order row it updates) is one transaction.

Trust
    A write is only worth something if it lands in the file the next process will open. Before
    each transaction and after its commit, :meth:`JournalConnection._write` compares the device
    and inode of the journal's path, and of its write-ahead log's, with those of the files opened
    (a ``stat`` each, next to a commit's fsync): a file deleted or replaced under the daemon
    (D11: hundreds of intents went into an unlinked file) fails the write. So does any write
    SQLite refuses (``SQLITE_FULL``, an I/O error, a read-only file). After the first failure the
    journal is not trusted again: :attr:`JournalConnection.failure` keeps it and every later
    write raises at once, so nothing that must be journalled first (an order's intent) can go
    out, even if space comes back or a new file appears at the path. Reads still work.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable

from riskguard.clock import Clock
from riskguard.daemon.journal.errors import JournalWriteError

FileId = tuple[int, int]
"""A file's (device, inode): what stays the same while it is the same file."""


def file_id(name: str) -> FileId:
    """The (device, inode) of the file at ``name`` (raises ``OSError``)."""
    found = os.stat(name)
    return (found.st_dev, found.st_ino)


class JournalConnection:
    """The file, its connection and its clock, shared by every part of the journal."""

    path: str
    readonly: bool
    _clock: Clock
    _conn: sqlite3.Connection
    _files: dict[str, FileId | None]
    """The journal's files (the database, its write-ahead log) and their identity when opened;
    ``None`` until the file exists. Empty for an in-memory or read-only journal."""
    failure: JournalWriteError | None = None
    """Why the journal stopped taking writes (``None`` while it takes them); set once."""

    def _write(self, action: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``action`` in one committed transaction, or roll back and raise."""
        self._check_trusted()
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
            raise self._fail(f"cannot write ({exc})") from exc
        self._check_files()

    def _check_trusted(self) -> None:
        """Raise unless every earlier write succeeded and the files are still the ones opened."""
        if self.failure is not None:
            reason = str(self.failure).removeprefix(f"journal {self.path}: ")
            raise JournalWriteError(
                f"journal {self.path}: no longer trusted, nothing more is written: {reason}"
            ) from self.failure
        self._check_files()

    def _check_files(self) -> None:
        for name, opened in self._files.items():
            what = "the file" if name == self.path else f"its write-ahead log {name}"
            try:
                found = os.stat(name)
            except FileNotFoundError:
                raise self._fail(
                    f"{what} was deleted while riskguard ran; what is written now is lost"
                ) from None
            except OSError as exc:
                raise self._fail(f"{what} cannot be checked ({exc.strerror})") from exc
            now = (found.st_dev, found.st_ino)
            if opened is None:
                self._files[name] = now
            elif now != opened:
                kind = " (now a directory)" if stat.S_ISDIR(found.st_mode) else ""
                raise self._fail(
                    f"{what} was replaced while riskguard ran{kind}; the file written is not "
                    "the one at the path"
                )

    def _fail(self, reason: str) -> JournalWriteError:
        """Record the first failure (the journal is not trusted after it) and return its error."""
        error = JournalWriteError(f"journal {self.path}: {reason}")
        if self.failure is None:
            self.failure = error
        return error
