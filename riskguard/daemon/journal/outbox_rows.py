"""The alert outbox's rows in the journal: :class:`riskguard.alerts.outbox.Outbox` on SQLite.

One row per (alert, sink) in the ``outbox`` table (schema step 2); :mod:`riskguard.alerts.outbox`
explains the life of a row (pending, delivered, dead). Queueing, delivering and dead-lettering
each append their journal entry (``alert_queued``, ``alert_delivered``, ``alert_dead``) in the
same transaction as the rows they change. :meth:`OutboxTable.append_with_alert` records a fact
and queues its alert in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final

from riskguard.alerts.outbox import (
    OutboxRow,
    alert_account,
    dead_payload,
    delivered_payload,
    queued_payload,
    severity_rank,
)
from riskguard.daemon.journal.codec import decode_json, encode_json
from riskguard.daemon.journal.connection import Action, JournalConnection
from riskguard.daemon.journal.entries import insert_entry
from riskguard.daemon.journal.orders import track_order
from riskguard.guard.enforce.journal import JournalEntry


class OutboxTable(JournalConnection):
    """The outbox rows: queued, due, delivered, retried, dead."""

    def queue_alert(
        self, alert: Mapping[str, Any], sinks: Sequence[str], time_ms: int
    ) -> JournalEntry:
        """Journal ``alert_queued`` and add a pending row per sink, in one transaction."""
        queue = _AlertRows(alert, sinks, time_ms)
        seq = self._write_entries(1, lambda first: lambda conn: queue.insert(conn, first))
        return JournalEntry(seq, int(time_ms), "alert_queued", queue.account, queue.payload)

    def append_with_alert(
        self,
        kind: str,
        account: str,
        time_ms: int,
        payload: Mapping[str, Any],
        alert: Mapping[str, Any],
        sinks: Sequence[str],
        due_ms: int,
    ) -> JournalEntry:
        """Record a fact (an order sent or found, margin added) and queue its alert in one
        transaction: either both are in the journal or neither is, so no fact goes untold."""
        text = encode_json(payload, f"{kind} payload")
        queue = _AlertRows(alert, sinks, due_ms)
        when = int(time_ms)

        def build(seq: int) -> Action:
            def insert(conn: sqlite3.Connection) -> None:
                insert_entry(conn, seq, when, kind, account, text)
                track_order(conn, kind, account, when, seq, payload)
                queue.insert(conn, seq + 1)

            return insert

        seq = self._write_entries(2, build)
        return JournalEntry(seq, when, kind, account, decode_json(text))

    def due_alerts(self, sink: str, now_ms: int, limit: int) -> list[OutboxRow]:
        """Pending rows of ``sink`` due by ``now_ms``: most severe first, then oldest."""
        sql = (
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND sink = ? "  # noqa: S608
            "AND next_ms <= ? ORDER BY severity DESC, created_ms, row_id LIMIT ?"
        )
        args = (sink, int(now_ms), int(limit))
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [_outbox_row(r) for r in rows]

    def next_alert_due_ms(self, after_ms: int | None = None) -> int | None:
        """The earliest next attempt of any pending row (later than ``after_ms``), or ``None``."""
        after = -(2**62) if after_ms is None else int(after_ms)
        row = self._read(
            lambda conn: conn.execute(
                "SELECT MIN(next_ms) FROM outbox WHERE status = 'pending' AND next_ms > ?",
                (after,),
            ).fetchone()
        )
        return None if row is None or row[0] is None else int(row[0])

    def alerts_delivered(self, row_ids: Sequence[int], time_ms: int) -> None:
        """Mark rows delivered (counting the attempt) and journal ``alert_delivered``."""
        rows = self._outbox_by_id(row_ids)
        payload = delivered_payload(rows)
        self._outbox_update(
            rows,
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, updated_ms = ? "
            "WHERE row_id = ?",
            [(int(time_ms), r.row_id) for r in rows],
            ("alert_delivered", alert_account(rows[0].alert), time_ms, payload),
        )

    def alerts_retry(self, row_ids: Sequence[int], time_ms: int, next_ms: int, error: str) -> None:
        """Count a failed attempt and set the next one."""
        rows = self._outbox_by_id(row_ids)
        self._outbox_update(
            rows,
            "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, updated_ms = ?, "
            "last_error = ? WHERE row_id = ?",
            [(int(next_ms), int(time_ms), error, r.row_id) for r in rows],
            None,
        )

    def alerts_dead(self, row_ids: Sequence[int], time_ms: int, error: str) -> None:
        """Count the last attempt, mark rows dead and journal ``alert_dead``."""
        rows = self._outbox_by_id(row_ids)
        payload = dead_payload(rows, error)
        self._outbox_update(
            rows,
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, updated_ms = ?, "
            "last_error = ? WHERE row_id = ?",
            [(int(time_ms), error, r.row_id) for r in rows],
            ("alert_dead", alert_account(rows[0].alert), time_ms, payload),
        )

    def outbox_rows(self, status: str | None = None) -> list[OutboxRow]:
        """Every outbox row (of ``status``), oldest first."""
        where, args = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY row_id"  # noqa: S608
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [_outbox_row(r) for r in rows]

    def _outbox_by_id(self, row_ids: Sequence[int]) -> list[OutboxRow]:
        ids = [int(i) for i in row_ids]
        marks = ", ".join("?" for _ in ids)
        sql = (
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE row_id IN ({marks}) "  # noqa: S608
            "ORDER BY row_id"
        )
        rows = self._read(lambda conn: conn.execute(sql, ids).fetchall())
        if len(rows) != len(set(ids)):
            raise KeyError(f"outbox: no rows {sorted(set(ids) - {r[0] for r in rows})}")
        return [_outbox_row(r) for r in rows]

    def _outbox_update(
        self,
        rows: Sequence[OutboxRow],
        statement: str,
        args: Sequence[tuple[Any, ...]],
        entry: tuple[str, str, int, Mapping[str, Any]] | None,
    ) -> None:
        if not rows:
            return
        if entry is None:
            self._write(lambda conn: _execute_many(conn, statement, args))
            return
        kind, account, time_ms, payload = entry
        body = encode_json(payload)

        def build(seq: int) -> Action:
            def update(conn: sqlite3.Connection) -> None:
                conn.executemany(statement, args)
                insert_entry(conn, seq, int(time_ms), kind, account, body)

            return update

        self._write_entries(1, build)


_OUTBOX_COLUMNS: Final = (
    "row_id, alert_id, sink, severity, status, attempts, next_ms, created_ms, updated_ms, "
    "last_error, alert"
)


class _AlertRows:
    """An ``alert_queued`` entry and one pending outbox row per sink, encoded up front (a
    payload that is not JSON-ready fails before the transaction starts)."""

    def __init__(self, alert: Mapping[str, Any], sinks: Sequence[str], time_ms: int) -> None:
        self.account = alert_account(alert)
        self.payload = queued_payload(alert, sinks)
        self._body = encode_json(self.payload)
        text = encode_json(dict(alert), "alert")
        rank = severity_rank(alert)
        when = int(time_ms)
        self._time_ms = when
        self._rows = [(str(alert["id"]), sink, rank, when, when, when, text) for sink in sinks]

    def insert(self, conn: sqlite3.Connection, seq: int) -> None:
        """Write the entry (numbered ``seq``) and the rows inside the caller's transaction."""
        insert_entry(conn, seq, self._time_ms, "alert_queued", self.account, self._body)
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (alert_id, sink, severity, status, attempts, "
            "next_ms, created_ms, updated_ms, last_error, alert) "
            "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, NULL, ?)",
            self._rows,
        )


def _execute_many(
    conn: sqlite3.Connection, statement: str, args: Sequence[tuple[Any, ...]]
) -> None:
    conn.executemany(statement, args)


def _outbox_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        int(row[3]),
        str(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]),
        int(row[8]),
        None if row[9] is None else str(row[9]),
        decode_json(str(row[10])),
    )
