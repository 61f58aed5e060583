"""The daemon's journal: one writer thread, many writes per commit, and a barrier to await.

Commits are counted by the writer's own instrumentation (:meth:`GroupCommitJournal.stats`), never
by timing; a writer "held busy" (:func:`hold_writer`) stands for a slow fsync, so what queues
behind it is decided by the test, not by the machine's speed.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from riskguard.daemon.journal import GroupCommitJournal, JournalWriteError, SqliteJournal
from tests.daemon.journal.helpers import T0, _intent, hold_writer, kill_after


def test_writes_of_many_cycles_queued_behind_a_commit_go_in_one_commit(path: Path) -> None:
    with GroupCommitJournal(path) as journal:
        release = hold_writer(journal)
        before = journal.stats()

        async def cycle(account: str) -> None:
            for i in range(3):
                journal.append("finding", account, T0 + i, {"rule": "distance", "i": i})
            journal.put_state(account, "guard", {"cycles": 1})
            await journal.durable()

        async def hundred_accounts() -> list[bool]:
            cycles = [asyncio.create_task(cycle(f"acct{i:03d}")) for i in range(100)]
            await asyncio.sleep(0)  # every cycle has queued its writes and awaits the barrier
            waiting = [not c.done() for c in cycles]
            release.set()
            await asyncio.gather(*cycles)
            return waiting

        waiting = asyncio.run(hundred_accounts())
        after = journal.stats()

    assert all(waiting)
    assert after.commits - before.commits == 1
    assert after.writes - before.writes == 400
    assert after.entries - before.entries == 300


def test_the_barrier_returns_once_the_writes_before_it_are_committed(path: Path) -> None:
    with GroupCommitJournal(path) as journal:
        release = hold_writer(journal)
        entry = journal.append("order_intent", "main", T0, {"client_id": "c1"})

        async def wait() -> tuple[int, int]:
            waiter = asyncio.create_task(journal.durable())
            await asyncio.sleep(0)
            committed_while_held = journal.committed_seq
            release.set()
            await waiter
            return committed_while_held, journal.committed_seq

        held, after = asyncio.run(wait())

    assert held < entry.seq
    assert after >= entry.seq == journal.queued_seq


def test_reads_see_every_write_queued_before_them(path: Path) -> None:
    with GroupCommitJournal(path) as journal:
        _intent(journal, "c1")
        sent = journal.append("order_sent", "main", T0 + 1, {"client_id": "c1", "order_id": "9"})
        journal.put_state("main", "guard", {"cycles": 7})
        journal.queue_alert({"id": "a1", "severity": "critical", "title": "t"}, ["hook"], T0)

        record = journal.order("c1")
        assert record is not None
        assert record.status == "sent"
        assert journal.last_seq() == sent.seq + 1
        assert journal.get_state("main", "guard") == {"cycles": 7}
        assert [r.alert_id for r in journal.due_alerts("hook", T0, 10)] == ["a1"]


def test_the_connection_belongs_to_the_writer_thread(path: Path) -> None:
    with GroupCommitJournal(path) as journal:
        with pytest.raises(sqlite3.ProgrammingError, match="thread"):
            journal._conn.execute("SELECT 1")

        assert journal._call(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)


def test_a_failed_commit_fails_its_waiters_and_refuses_every_later_write(path: Path) -> None:
    with GroupCommitJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        journal.flush()
        pages = journal._call(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
        journal._call(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
        release = hold_writer(journal)
        _intent(journal, "c1")
        journal.append("snapshot", "main", T0, {"blob": "x" * 100_000})

        async def barrier() -> None:
            waiter = asyncio.create_task(journal.durable())
            await asyncio.sleep(0)
            release.set()
            await waiter

        with pytest.raises(JournalWriteError) as caught:
            asyncio.run(barrier())
        with pytest.raises(JournalWriteError, match="no longer trusted"):
            _intent(journal, "c2")

        assert str(caught.value) == f"journal {path}: cannot write (database or disk is full)"
        assert journal.failure is not None
        assert journal.order("c1") is None  # the whole batch was rolled back
        assert journal.count() == 1


def test_close_commits_everything_still_queued(path: Path) -> None:
    journal = GroupCommitJournal(path)
    release = hold_writer(journal)
    for i in range(500):
        journal.append("finding", f"acct{i % 50}", T0 + i, {"i": i})
    release.set()

    journal.close()

    with SqliteJournal(path, readonly=True) as reopened:
        assert reopened.count("finding") == 500
        assert reopened.last_seq() == 500


_CHILD = """
import sys
from riskguard.daemon.journal import GroupCommitJournal

journal = GroupCommitJournal(sys.argv[1])
i = 0
while True:
    for _ in range(10):
        cid = f"c{i}"
        journal.append("order_intent", "main", i, {"client_id": cid, "symbol": "X"})
        last = journal.append("order_sent", "main", i, {"client_id": cid, "order_id": str(i)})
        i += 1
    journal.flush()
    print(last.seq, flush=True)
"""


def test_a_sigkill_loses_only_writes_nobody_was_told_were_durable(path: Path) -> None:
    durable, returncode = kill_after(_CHILD, path, 30)

    with SqliteJournal(path) as reopened:
        integrity = reopened._conn.execute("PRAGMA integrity_check").fetchone()[0]
        seqs = [e.seq for e in reopened.entries()]

    assert returncode == -signal.SIGKILL
    assert integrity == "ok"
    assert max(durable) <= len(seqs)
    assert seqs == list(range(1, len(seqs) + 1))  # committed in seq order: no hole
