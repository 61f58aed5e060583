"""The append-only entries: appending one (with its order-row change) and reading them back.

Durability: :meth:`EntryLog.append` is one transaction (:meth:`JournalConnection._write
<riskguard.daemon.journal.connection.JournalConnection._write>`): the entry and the order row it
updates (:func:`~riskguard.daemon.journal.orders.track_order`) commit together or not at all, and
when ``append`` returns they are committed. ``seq`` comes from ``AUTOINCREMENT``, so it is never
reused, even after pruning. Reads filter on kind, account, time and ``seq`` and stream in batches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any, Final

from riskguard.daemon.journal.codec import decode_json, encode_json
from riskguard.daemon.journal.connection import JournalConnection
from riskguard.daemon.journal.orders import track_order
from riskguard.guard.enforce.journal import JournalEntry

_FETCH_BATCH: Final = 500
_ENTRY_COLUMNS: Final = "seq, time_ms, kind, account, payload"


class EntryLog(JournalConnection):
    """Appending entries and reading them back."""

    def append(
        self, kind: str, account: str, time_ms: int, payload: Mapping[str, Any]
    ) -> JournalEntry:
        """Record one entry (and its order-row change); committed when this returns.

        Raises ``TypeError`` for a payload that is not JSON-ready (nothing is written) and
        :class:`~riskguard.daemon.journal.errors.JournalWriteError` when the database refuses
        the write (nothing is written).
        """
        text = encode_json(payload, f"{kind} payload")
        seq = 0

        def insert(conn: sqlite3.Connection) -> None:
            nonlocal seq
            cursor = conn.execute(
                "INSERT INTO entries (time_ms, kind, account, payload) VALUES (?, ?, ?, ?)",
                (int(time_ms), kind, account, text),
            )
            seq = int(cursor.lastrowid or 0)
            track_order(conn, kind, account, time_ms, seq, payload)

        self._write(insert)
        return JournalEntry(seq, int(time_ms), kind, account, decode_json(text))

    def entries(
        self,
        kind: str | None = None,
        account: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Entries in ``seq`` order, filtered (see :meth:`iter_entries`)."""
        return list(
            self.iter_entries(
                kind,
                account,
                since_ms=since_ms,
                until_ms=until_ms,
                after_seq=after_seq,
                limit=limit,
            )
        )

    def iter_entries(
        self,
        kind: str | None = None,
        account: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEntry]:
        """Entries in ``seq`` order, read in batches (for exports of weeks of journal).

        ``since_ms`` is inclusive and ``until_ms`` exclusive (on the entry's ``time_ms``);
        ``after_seq`` keeps entries with a larger ``seq`` (to follow the journal);
        ``limit`` keeps the first ``limit`` matches.
        """
        where, args = _entry_filter(kind, account, since_ms, until_ms, after_seq)
        # Every f-string SQL here joins fixed clauses; values are always bound parameters.
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(int(limit), 0))
        cursor = self._conn.execute(sql, args)
        try:
            while rows := cursor.fetchmany(_FETCH_BATCH):
                for seq, time_ms, kind_, account_, payload in rows:
                    yield JournalEntry(seq, time_ms, kind_, account_, decode_json(payload))
        finally:
            cursor.close()

    def last_entry(
        self, kind: str | None = None, account: str | None = None
    ) -> JournalEntry | None:
        """The entry with the largest ``seq`` among those of ``kind`` and ``account``."""
        where, args = _entry_filter(kind, account, None, None, None)
        row = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq DESC LIMIT 1",  # noqa: S608
            args,
        ).fetchone()
        if row is None:
            return None
        return JournalEntry(row[0], row[1], row[2], row[3], decode_json(row[4]))

    def last_seq(self) -> int:
        """The ``seq`` the latest append got (0 before the first); pruning does not lower it."""
        row = self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'entries'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def count(self, kind: str | None = None, account: str | None = None) -> int:
        """How many entries are stored (of ``kind``, for ``account``)."""
        where, args = _entry_filter(kind, account, None, None, None)
        sql = f"SELECT count(*) FROM entries{where}"  # noqa: S608
        row = self._conn.execute(sql, args).fetchone()
        return int(row[0])


def _entry_filter(
    kind: str | None,
    account: str | None,
    since_ms: int | None,
    until_ms: int | None,
    after_seq: int | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("kind = ?", kind),
        ("account = ?", account),
        ("time_ms >= ?", since_ms),
        ("time_ms < ?", until_ms),
        ("seq > ?", after_seq),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args
