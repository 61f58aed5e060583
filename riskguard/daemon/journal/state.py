"""What a restarted daemon carries on from: saved state, and when the next snapshot is due.

The ``state`` table maps (account, key) to a JSON value (the codec of
:mod:`~riskguard.daemon.journal.codec`) and the time it was written by the journal's clock: rule
memories, the planner's state, volatility estimates. Snapshot sampling is decided from the
``snapshot`` entries in the file, so it too survives restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from riskguard.daemon.journal.codec import decode_json, encode_json
from riskguard.daemon.journal.connection import JournalConnection
from riskguard.daemon.journal.entries import EntryLog


class SavedState(JournalConnection):
    """JSON values per (account, key), written in one transaction per call (a daemon's
    journal queues it with the other writes: see :meth:`durable`)."""

    def put_state(self, account: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-ready) under ``(account, key)``, replacing the previous one."""
        self.put_states(account, {key: value})

    def put_states(self, account: str, values: Mapping[str, Any]) -> None:
        """Store several keys of one account in one transaction (one fsync per cycle)."""
        now_ms = self._clock.now_ms()
        rows = [
            (account, key, encode_json(value, f"state {account}/{key}"), now_ms)
            for key, value in values.items()
        ]

        def upsert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO state (account, key, value, time_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account, key) DO UPDATE SET "
                "value = excluded.value, time_ms = excluded.time_ms",
                rows,
            )

        self._write(upsert)

    def get_state(self, account: str, key: str) -> Any | None:
        """The value stored under ``(account, key)``, or ``None``."""
        row = self._read(
            lambda conn: conn.execute(
                "SELECT value FROM state WHERE account = ? AND key = ?", (account, key)
            ).fetchone()
        )
        return None if row is None else decode_json(row[0])

    def load_state(self, account: str) -> dict[str, Any]:
        """Every key stored for ``account`` (what a restarted daemon reloads)."""
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT key, value FROM state WHERE account = ? ORDER BY key", (account,)
            ).fetchall()
        )
        return {key: decode_json(value) for key, value in rows}

    def state_time_ms(self, account: str, key: str) -> int | None:
        """When ``(account, key)`` was last stored (by the journal's clock), or ``None``."""
        row = self._read(
            lambda conn: conn.execute(
                "SELECT time_ms FROM state WHERE account = ? AND key = ?", (account, key)
            ).fetchone()
        )
        return None if row is None else int(row[0])


class SnapshotSampling(EntryLog):
    """When to append the next ``snapshot`` entry of an account."""

    def should_sample_snapshot(self, account: str, now_ms: int, every_s: float) -> bool:
        """Whether a ``snapshot`` entry is due for ``account``: none yet, the latest is at least
        ``every_s`` old, or the clock went back past it. Read from the file, so it survives
        restarts; the caller appends the snapshot when this is true.
        """
        last = self.last_entry("snapshot", account)
        if last is None:
            return True
        elapsed_ms = now_ms - last.time_ms
        return elapsed_ms < 0 or elapsed_ms >= every_s * 1000.0
