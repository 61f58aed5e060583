"""The SQLite journal: what the guard decided and did, durable before anything is reported or sent.

:class:`SqliteJournal` implements the :class:`riskguard.guard.enforce.journal.Journal` protocol for
a daemon that runs for weeks and may be killed (``SIGKILL``, power loss) at any moment.

Durability
    One connection, WAL mode, one transaction per :meth:`SqliteJournal.append`: when ``append``
    returns, the entry (and the order row it updates) is committed. With ``synchronous="full"``
    (the default) every commit is fsynced, so it also survives power loss and OS crashes; with
    ``synchronous="normal"`` a commit survives the process being killed but the last commits may
    be lost on power loss (fine for replays and paper runs, which append thousands of times a
    second). Opening a file again after a crash is safe: SQLite replays the WAL on open.

Threads
    The daemon is single-threaded asyncio, and the journal is synchronous on purpose: the guard
    must not send an order before its intent is on disk, so blocking the loop for one fsync is
    the point. The connection keeps sqlite3's ``check_same_thread=True``: calling from another
    thread raises instead of interleaving two transactions on one connection. Another process
    (``riskguard journal`` export) may read the same file at the same time (WAL readers do not
    block the writer); ``readonly=True`` opens it without ever writing or creating it.

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

import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from riskguard.clock import Clock, SystemClock
from riskguard.daemon.journal.entries import EntryLog
from riskguard.daemon.journal.errors import JournalFileError
from riskguard.daemon.journal.orders import OrderBook
from riskguard.daemon.journal.outbox_rows import OutboxTable
from riskguard.daemon.journal.retention import Retention
from riskguard.daemon.journal.schema import check_readable, migrate
from riskguard.daemon.journal.state import SavedState, SnapshotSampling

Synchronous = Literal["full", "normal"]

_BUSY_TIMEOUT_MS: Final = 5_000


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
        self._conn = self._connect(synchronous)

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
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if self.readonly:
                check_readable(conn, name)
            else:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                migrate(conn, name)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalFileError(f"journal {name}: not a usable SQLite database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

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
