"""What every part of the journal works on: one SQLite connection, and three ways to use it.

:class:`JournalConnection` is the base of the parts :class:`~riskguard.daemon.journal.SqliteJournal`
is made of (entries, orders, state, outbox rows, retention). It holds the file's name, the
connection :mod:`~riskguard.daemon.journal.store` opens and the clock that stamps state writes.
The parts never touch the connection themselves; they go through three methods, which
:class:`~riskguard.daemon.journal.writer.GroupCommitJournal` (the daemon's journal) overrides to
run them on its writer thread:

- :meth:`JournalConnection._write` runs a change in one committed transaction (``BEGIN IMMEDIATE``
  ... ``COMMIT``), or rolls it back and raises
  :class:`~riskguard.daemon.journal.errors.JournalWriteError`. One append (with the order row it
  updates) is one transaction. :meth:`JournalConnection._write_entries` does the same for a change
  that adds entries: it numbers them first (``seq``), so that a caller gets its entry's ``seq`` at
  once even where the write is only queued.
- :meth:`JournalConnection._read` runs a query and returns its answer; it sees every earlier write.
- :meth:`JournalConnection._call` runs something that must happen outside a transaction, after
  every earlier write is committed (vacuuming, copying the file).

Trust
    A write is only worth something if it lands in the file the next process will open. Before
    each transaction and after its commit, the journal compares the device and inode of its path,
    and of its write-ahead log's, with those of the files opened (a ``stat`` each, next to a
    commit's fsync): a file deleted or replaced under the daemon (D11: hundreds of intents went
    into an unlinked file) fails the write. So does any write SQLite refuses (``SQLITE_FULL``, an
    I/O error, a read-only file). After the first failure the journal is not trusted again:
    :attr:`JournalConnection.failure` keeps it and every later write raises at once, so nothing
    that must be journalled first (an order's intent) can go out, even if space comes back or a
    new file appears at the path. Reads still work.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Callable
from typing import TypeVar

from riskguard.clock import Clock
from riskguard.daemon.journal.errors import JournalWriteError

FileId = tuple[int, int]
"""A file's (device, inode): what stays the same while it is the same file."""

Action = Callable[[sqlite3.Connection], None]
"""A change to the journal, run inside its transaction."""

T = TypeVar("T")


def file_id(name: str) -> FileId:
    """The (device, inode) of the file at ``name`` (raises ``OSError``)."""
    found = os.stat(name)
    return (found.st_dev, found.st_ino)


def stored_last_seq(conn: sqlite3.Connection) -> int:
    """The largest ``seq`` the entries table ever gave (0 before the first; pruning keeps it)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
    return 0 if row is None else int(row[0])


class JournalConnection:
    """The file, its connection and its clock, shared by every part of the journal."""

    path: str
    readonly: bool
    _clock: Clock
    _conn: sqlite3.Connection
    _files: dict[str, FileId | None]
    """The journal's files (the database, its write-ahead log) and their identity when opened;
    ``None`` until the file exists. Empty for an in-memory or read-only journal."""
    _last_seq: int = 0
    """The ``seq`` of the latest entry numbered (written, or queued to be)."""
    failure: JournalWriteError | None = None
    """Why the journal stopped taking writes (``None`` while it takes them); set once."""

    # ------------------------------------------------------------------ the three ways in

    def _write(self, action: Action) -> None:
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
                with contextlib.suppress(sqlite3.Error):  # numbers handed out were not used
                    self._last_seq = stored_last_seq(conn)
                raise
        except sqlite3.Error as exc:
            raise self._fail(f"cannot write ({exc})") from exc
        self._check_files()

    def _write_entries(self, count: int, build: Callable[[int], Action]) -> int:
        """Number ``count`` new entries, then :meth:`_write` the change ``build(first seq)``
        makes (it inserts them with those numbers); returns the first number."""
        self._refuse_if_failed()
        first = self._last_seq + 1
        self._last_seq += count
        self._write(build(first))
        return first

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` and return its answer (it sees every earlier write)."""
        return query(self._conn)

    def _call(self, task: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``task`` outside any transaction, every earlier write committed."""
        return task(self._conn)

    # ------------------------------------------------------------------ trust

    def _check_trusted(self) -> None:
        """Raise unless every earlier write succeeded and the files are still the ones opened."""
        self._refuse_if_failed()
        self._check_files()

    def _refuse_if_failed(self) -> None:
        """Raise the "no longer trusted" error once a write has failed."""
        if self.failure is not None:
            reason = str(self.failure).removeprefix(f"journal {self.path}: ")
            raise JournalWriteError(
                f"journal {self.path}: no longer trusted, nothing more is written: {reason}"
            ) from self.failure

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

    def flush(self) -> None:
        """:meth:`durable` for a caller that may block; here every write is already committed."""
        self._refuse_if_failed()

    async def durable(self) -> None:
        """Return once every write made so far is committed; raise if one failed.

        Every write of this (synchronous) journal is committed when it returns, so this only
        raises the "no longer trusted" error after a failure. The daemon's journal waits here
        for its writer thread (:class:`~riskguard.daemon.journal.writer.GroupCommitJournal`).
        """
        self._refuse_if_failed()
