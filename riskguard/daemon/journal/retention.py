"""Retention: deleting what is old enough to go, and giving the space back to the file system.

:meth:`Retention.prune` deletes entries older than a cutoff, except the kinds asked to be kept and
the intents of pending orders, finished order rows older than the cutoff, and delivered or dead
outbox rows last updated before it. Pending orders and pending outbox rows always stay; state is
not pruned. :meth:`Retention.vacuum` rewrites the file to shrink it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from riskguard.daemon.journal.connection import JournalConnection


class Retention(JournalConnection):
    """Pruning and vacuuming the journal."""

    def prune(self, older_than_ms: int, *, keep_kinds: Sequence[str] = ()) -> int:
        """Delete entries with ``time_ms`` before ``older_than_ms``; return how many went.

        Kept whatever their age: entries of ``keep_kinds``, and the intent entries of pending
        orders. Order rows older than the cutoff go too, unless pending, and delivered or dead
        outbox rows last updated before it (pending ones stay). State is not pruned. Returns
        once committed (blocking: the daemon's loop awaits :meth:`prune_async` instead).
        """
        deleted = self._queue_prune(older_than_ms, keep_kinds)
        self.flush()
        return deleted[0]

    async def prune_async(self, older_than_ms: int, *, keep_kinds: Sequence[str] = ()) -> int:
        """:meth:`prune`, awaiting its commit without blocking the event loop."""
        deleted = self._queue_prune(older_than_ms, keep_kinds)
        await self.durable()
        return deleted[0]

    def _queue_prune(self, older_than_ms: int, keep_kinds: Sequence[str]) -> list[int]:
        """Write the deletions; the one-item list gets how many entries went once they ran."""
        deleted = [0]
        kinds = [str(k) for k in keep_kinds]
        marks = ", ".join("?" for _ in kinds)
        keep = f" AND kind NOT IN ({marks})" if kinds else ""

        def delete(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"DELETE FROM entries WHERE time_ms < ?{keep} AND seq NOT IN "  # noqa: S608
                "(SELECT intent_seq FROM orders WHERE status IN ('intent', 'unknown'))",
                [int(older_than_ms), *kinds],
            )
            deleted[0] = cursor.rowcount
            conn.execute(
                "DELETE FROM orders WHERE time_ms < ? AND status NOT IN ('intent', 'unknown')",
                (int(older_than_ms),),
            )
            conn.execute(
                "DELETE FROM outbox WHERE updated_ms < ? AND status != 'pending'",
                (int(older_than_ms),),
            )

        self._write(delete)
        return deleted

    def vacuum(self) -> None:
        """Give the space freed by :meth:`prune` back to the file system (rewrites the file)."""
        self._call(self._vacuum)

    def _vacuum(self, conn: sqlite3.Connection) -> None:
        self._check_trusted()
        try:
            conn.execute("VACUUM")
        except sqlite3.Error as exc:
            raise self._fail(f"cannot vacuum ({exc})") from exc
        self._check_files()
