"""The append-only entries: appending one (with its order-row change) and reading them back.

Durability: :meth:`EntryLog.append` is one transaction (:meth:`JournalConnection._write
<riskguard.daemon.journal.connection.JournalConnection._write>`): the entry and the order row it
updates (:func:`~riskguard.daemon.journal.orders.track_order`) commit together or not at all. On
:class:`~riskguard.daemon.journal.SqliteJournal` they are committed when ``append`` returns; on the
daemon's :class:`~riskguard.daemon.journal.writer.GroupCommitJournal` they are queued, and
``await journal.durable()`` returns once they are committed. ``seq`` is numbered when the entry is
appended, after the largest ``seq`` the table ever held (``AUTOINCREMENT``'s record), so it is
never reused, even after pruning. Reads filter on kind, account, time and ``seq`` and stream in
pages ordered by ``seq``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from riskguard.daemon.journal.codec import decode_json, encode_json
from riskguard.daemon.journal.connection import Action, JournalConnection, stored_last_seq
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
        when = int(time_ms)

        def build(seq: int) -> Action:
            def insert(conn: sqlite3.Connection) -> None:
                insert_entry(conn, seq, when, kind, account, text)
                track_order(conn, kind, account, when, seq, payload)

            return insert

        seq = self._write_entries(1, build)
        return JournalEntry(seq, when, kind, account, decode_json(text))

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
        """Entries in ``seq`` order, read in pages of ``seq`` (for exports of weeks of journal).

        ``since_ms`` is inclusive and ``until_ms`` exclusive (on the entry's ``time_ms``);
        ``after_seq`` keeps entries with a larger ``seq`` (to follow the journal);
        ``limit`` keeps the first ``limit`` matches.
        """
        left = None if limit is None else max(int(limit), 0)
        last = after_seq
        while left is None or left > 0:
            page = _FETCH_BATCH if left is None else min(_FETCH_BATCH, left)
            where, args = _entry_filter(kind, account, since_ms, until_ms, last)
            # Every f-string SQL here joins fixed clauses; values are always bound parameters.
            sql = f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq LIMIT ?"  # noqa: S608
            rows = self._read(_fetch_all(sql, [*args, page]))
            for seq, time_ms, kind_, account_, payload in rows:
                yield JournalEntry(seq, time_ms, kind_, account_, decode_json(payload))
            if len(rows) < page:
                return
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def last_entry(
        self, kind: str | None = None, account: str | None = None
    ) -> JournalEntry | None:
        """The entry with the largest ``seq`` among those of ``kind`` and ``account``."""
        where, args = _entry_filter(kind, account, None, None, None)
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq DESC LIMIT 1"  # noqa: S608
        row = self._read(lambda conn: conn.execute(sql, args).fetchone())
        if row is None:
            return None
        return JournalEntry(row[0], row[1], row[2], row[3], decode_json(row[4]))

    def last_times(self, kind: str) -> dict[str, int]:
        """The ``time_ms`` of the latest entry (largest ``seq``) of ``kind``, per account that has
        one: what :meth:`last_entry` tells one account at a time, in one query."""
        sql = (
            "SELECT account, time_ms FROM entries WHERE seq IN "
            "(SELECT MAX(seq) FROM entries WHERE kind = ? GROUP BY account)"
        )
        return {str(a): int(t) for a, t in self._read(_fetch_all(sql, [kind]))}

    def last_seq(self) -> int:
        """The ``seq`` the latest append got (0 before the first); pruning does not lower it."""
        return self._read(stored_last_seq)

    def count(self, kind: str | None = None, account: str | None = None) -> int:
        """How many entries are stored (of ``kind``, for ``account``)."""
        where, args = _entry_filter(kind, account, None, None, None)
        sql = f"SELECT count(*) FROM entries{where}"  # noqa: S608
        return int(self._read(lambda conn: conn.execute(sql, args).fetchone()[0]))


def _fetch_all(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    """A query returning every row of ``sql`` (bound now, run where the connection lives)."""
    return lambda conn: conn.execute(sql, args).fetchall()


def insert_entry(
    conn: sqlite3.Connection, seq: int, time_ms: int, kind: str, account: str, text: str
) -> None:
    """Insert one entry, numbered ``seq``, with its payload already encoded, in the caller's
    transaction."""
    conn.execute(
        "INSERT INTO entries (seq, time_ms, kind, account, payload) VALUES (?, ?, ?, ?, ?)",
        (seq, time_ms, kind, account, text),
    )


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
