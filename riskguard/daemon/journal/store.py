"""The SQLite journal: what the guard decided and did, durable before anything is reported or sent.

:class:`SqliteJournal` implements the :class:`riskguard.guard.enforce.journal.Journal` protocol for
a daemon that runs for weeks and may be killed (``SIGKILL``, power loss) at any moment.

Durability
    One connection, WAL mode, one transaction per :meth:`SqliteJournal.append`: when ``append``
    returns, the entry (and the order row it updates) is committed (on the daemon's
    :class:`~riskguard.daemon.journal.writer.GroupCommitJournal`, when ``durable()`` returns). With
    ``synchronous="full"`` (the default) every commit is fsynced, so it also survives power loss and
    OS crashes; with ``synchronous="normal"`` a commit survives the process being killed but the
    last commits may be lost on power loss (fine for replays and paper runs, which append thousands
    of times a second). Opening a file again after a crash is safe: SQLite replays the WAL on open.

Trust (issue 15: D10, D11)
    Every write checks that the journal's files are still the ones opened and that SQLite took
    it; after one failure every write is refused
    (:mod:`~riskguard.daemon.journal.connection`), so the guard, which journals an order's
    intent before sending it, cannot act on a journal that is gone, full or broken.

Exclusive, so that no signal can kill the daemon (D10)
    In WAL mode SQLite normally keeps its index of the log (the wal-index) in the ``-shm`` file,
    mapped into memory by every process using the journal. If that file is truncated, or its
    file system cannot back a page (full, gone read-only), the next access to the mapping is a
    ``SIGBUS``: the daemon died with no message and no alert. A writable journal is therefore
    opened with ``PRAGMA locking_mode = EXCLUSIVE`` set *before* ``journal_mode = WAL``: "If
    EXCLUSIVE locking mode is set prior to the first WAL-mode database access, then SQLite never
    attempts to call any of the shared-memory methods and hence no shared-memory wal-index is
    ever created" (sqlite.org/wal.html, "Use of WAL Without Shared-Memory"). The wal-index lives
    in the daemon's heap, where nothing outside can revoke it; no ``-shm`` file is made, and one
    left behind (or a directory in its place) is ignored. Durability is unchanged (the WAL and
    its fsyncs are the same).

    What it costs: the daemon holds the file's lock from open to close, so **no other process
    can read the journal while the daemon runs** (before, a reader could). ``riskguard journal``
    (a ``readonly=True`` open) gets, after a short wait, one :class:`JournalFileError` line
    saying the journal is in use by a running daemon; it works as before once the daemon has
    stopped. A second daemon on the same journal is refused the same way, which is a gain: two
    writers never interleave. Also, WAL mode cannot be left while the connection is open (no
    caller does).

Threads
    :class:`SqliteJournal` is synchronous: each write commits (and fsyncs) on the caller's thread
    before it returns, which is what the CLI, replays and tests want. The daemon does not block
    its event loop on fsyncs: it uses
    :class:`~riskguard.daemon.journal.writer.GroupCommitJournal`, this class with its connection
    on a writer thread, many writes per commit, and ``await journal.durable()`` where the guard
    must know an intent is on disk (that module argues the design). Either way the connection
    keeps sqlite3's ``check_same_thread=True``: calling from another thread raises instead of
    interleaving two transactions on one connection. ``readonly=True`` opens a journal no daemon
    holds without ever writing or creating it.

Parts (each a base class over the one connection of
:class:`~riskguard.daemon.journal.connection.JournalConnection`, in its own module)
    :mod:`~riskguard.daemon.journal.entries` append and read entries;
    :mod:`~riskguard.daemon.journal.orders` the orders' lifecycle;
    :mod:`~riskguard.daemon.journal.state` saved state and snapshot sampling;
    :mod:`~riskguard.daemon.journal.outbox_rows` the alert outbox's rows;
    :mod:`~riskguard.daemon.journal.retention` pruning and vacuuming.
    The schema and its migrations are in :mod:`~riskguard.daemon.journal.schema`, the JSON codec
    (non-finite numbers) in :mod:`~riskguard.daemon.journal.codec`. This module opens the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from riskguard.clock import Clock, SystemClock
from riskguard.daemon.journal.connection import FileId, file_id, stored_last_seq
from riskguard.daemon.journal.entries import EntryLog
from riskguard.daemon.journal.errors import JournalFileError
from riskguard.daemon.journal.orders import OrderBook
from riskguard.daemon.journal.outbox_rows import OutboxTable
from riskguard.daemon.journal.retention import Retention
from riskguard.daemon.journal.schema import check_readable, migrate
from riskguard.daemon.journal.state import SavedState, SnapshotSampling

Synchronous = Literal["full", "normal"]

_BUSY_TIMEOUT_MS: Final = 5_000
"""How long an open waits for another process to let go of the file (a daemon stopping)."""
_READ_BUSY_TIMEOUT_MS: Final = 1_000
"""The same for a read-only open: a running daemon never lets go, so waiting long is useless."""
_IN_USE: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteJournal(SnapshotSampling, EntryLog, OrderBook, SavedState, OutboxTable, Retention):
    """The journal in one SQLite file (the module docstring gives the design and its parts)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "full",
        readonly: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """Open (creating and migrating unless ``readonly``) the journal at ``path``.

        ``":memory:"`` gives a private in-memory journal (tests). ``clock`` stamps state writes.
        Raises :class:`JournalFileError` when the file cannot be used.
        """
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        self.path = os.fspath(path)
        self.readonly = readonly
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.failure = None
        self._files: dict[str, FileId | None] = {}
        self._conn = self._connect(synchronous)
        self._last_seq = stored_last_seq(self._conn)
        if not readonly and self.path != ":memory:":
            try:
                opened = file_id(self.path)
            except OSError as exc:
                self._conn.close()
                what = "deleted" if isinstance(exc, FileNotFoundError) else "unreadable"
                raise JournalFileError(
                    f"journal {self.path}: the file was {what} while riskguard opened it "
                    f"({exc.strerror}); nothing was written to it"
                ) from exc
            self._files = {self.path: opened, self.path + "-wal": _maybe_id(self)}

    def _connect(self, synchronous: Synchronous) -> sqlite3.Connection:
        name = self.path
        try:
            if self.readonly:
                if not Path(name).is_file():
                    raise JournalFileError(f"journal {name}: no such file")
                conn = sqlite3.connect(
                    Path(name).resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None
                )
            else:
                conn = sqlite3.connect(name, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalFileError(f"journal {name}: cannot open ({exc})") from exc
        try:
            if self.readonly:
                conn.execute(f"PRAGMA busy_timeout = {_READ_BUSY_TIMEOUT_MS}")
                check_readable(conn, name)
            else:
                conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                # Before WAL mode, so the wal-index is kept in heap memory (module docstring).
                conn.execute("PRAGMA locking_mode = EXCLUSIVE").fetchone()
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                migrate(conn, name)
        except sqlite3.OperationalError as exc:
            conn.close()
            if exc.sqlite_errorcode in _IN_USE:
                raise JournalFileError(
                    f"journal {name}: in use by a running riskguard daemon (it holds its journal "
                    "exclusively while it runs); stop the daemon first, then try again"
                ) from exc
            raise JournalFileError(f"journal {name}: not a usable SQLite database ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalFileError(f"journal {name}: not a usable SQLite database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def rescue(self) -> Path | None:
        """Copy what the open connection still reads into a new file next to the journal.

        For a journal deleted or replaced under the daemon: the connection still holds the lost
        file, so its history (orders in flight, saved state) can be saved. Returns the copy's
        path, or ``None`` when the file at the path is still the one opened (nothing is lost),
        or the copy could not be written.
        """
        opened = self._files.get(self.path)
        if opened is None:
            return None  # in memory or read-only: nothing of ours can be lost
        with contextlib.suppress(OSError):
            if file_id(self.path) == opened:
                return None  # the file is still there: it holds everything committed
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = Path(f"{self.path}.rescued-{stamp}-{os.getpid()}")
        if target.exists():
            return None  # never write over an earlier rescue
        try:
            self._call(lambda conn: _backup(conn, target))
        except (sqlite3.Error, OSError):
            return None
        return target

    def close(self) -> None:
        """Close the connection (idempotent); every committed append is already on disk."""
        self._conn.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _backup(conn: sqlite3.Connection, target: Path) -> None:
    """Copy what ``conn`` reads into a new database at ``target``."""
    with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as copy:
        conn.backup(copy)


def _maybe_id(journal: SqliteJournal) -> FileId | None:
    """The write-ahead log's identity, or ``None`` if SQLite has not made it yet."""
    try:
        return file_id(journal.path + "-wal")
    except FileNotFoundError:
        return None
