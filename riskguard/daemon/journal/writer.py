"""The daemon's journal: one writer thread, group commit, and a durability barrier to await.

Why
    With ``synchronous: full`` every commit waits for an fsync (2-50 ms, far more on a busy or
    networked disk). The daemon is one asyncio loop: when the journal committed on the loop, each
    fsync stopped every account's cycle, and a start or a market move that journals a few entries
    per account (plans, intents, alerts, snapshots) added up to seconds of loop lag and stale data
    (issue 17: 100 accounts at 1 s polls, loop lag 265-533 ms). ``synchronous: normal`` is not the
    answer: the journal's promise is "nothing done that is not journalled", and a power cut must
    not take back an intent whose order went out.

Design
    :class:`GroupCommitJournal` is a :class:`~riskguard.daemon.journal.SqliteJournal` whose
    connection lives on one thread of its own (it is opened there, and sqlite3's
    ``check_same_thread`` makes any other thread's use of it raise). The loop never touches
    SQLite: a write (:meth:`append`, :meth:`put_states`, queueing an alert, marking it delivered)
    encodes its JSON on the caller's thread (a payload that is not JSON-ready still raises there,
    and nothing is queued), numbers its entries (``seq``, so the caller gets its
    :class:`~riskguard.guard.enforce.journal.JournalEntry` at once) and is queued. The writer takes
    **every job waiting when it looks** and runs the writes among them in one transaction: one
    ``COMMIT``, one fsync, for a whole burst of accounts. The fsync runs with the GIL released, so
    the loop keeps going; while it runs, new writes queue up for the next batch. Nothing waits
    on a timer: a lone write is committed at once, and batches grow only as the disk is slow.

The barrier: what must be durable, and when
    ``await journal.durable()`` returns once every write queued before the call is committed (and
    raises :class:`~riskguard.daemon.journal.errors.JournalWriteError` if one failed). It is
    awaited where the promise needs it, and nowhere else:

    - before anything that changes an account on the exchange (an order, a stop, a cancel, adding
      margin, setting leverage): its intent is durable first (the executor, the spot margin
      guard's repay);
    - before a cycle is reported as done (the daemon's metrics and ``on_cycle``): its findings,
      plans, snapshot and saved state are durable (:mod:`riskguard.daemon.scheduler`);
    - before an alert is delivered: its outbox row is durable, so a delivered alert is never
      queued again nor lost (:mod:`riskguard.alerts.dispatcher`);
    - at stop: the ``stop`` entry and the saved state, then :meth:`close` drains the queue.

    Log lines are written when an entry is queued, as before: they trace the guard's thinking.
    What tells the operator that something is *done* waits for the barrier.

    A SIGKILL or a power cut loses only writes nobody was told were durable: no order was sent
    for them (their intent never reached the barrier), no alert delivered, no cycle counted. A
    restart finds the journal as of its last commit; an order sent after a durable intent whose
    ``order_sent`` was lost is looked up by its client id, as after any crash.

Reads see every earlier write
    A read (an order's row, the last snapshot, the outbox's due rows) is queued behind the writes
    before it and answered by the writer inside their transaction, before its commit: it sees
    them (read your writes) without waiting for their fsync. Such an answer can describe writes
    that are not durable yet, so a caller that acts on it awaits the barrier first (the
    dispatcher reads the due rows, then awaits, then sends). A read blocks its caller until the
    writer reaches it: at most one commit in progress. The daemon reads rarely (at start, when
    alerts go out, at heartbeats); a cycle never reads.

Failures (D10, D11 stay)
    A write SQLite refuses, a commit that fails, or a journal file deleted or replaced under the
    daemon rolls back the whole batch and sets :attr:`failure` once: every waiter of that batch
    and of every later write gets the error, every later write raises at once (as on
    :class:`~riskguard.daemon.journal.SqliteJournal`), so no intent queued in or after the failed
    batch can reach an exchange. Reads still work, and :meth:`rescue` copies what the connection
    still holds. The daemon reports the failure once, in one line (:attr:`failure`).

Used by the daemon only (:func:`riskguard.daemon.wiring.build_runtime`). The CLI, replays and
tests use :class:`~riskguard.daemon.journal.SqliteJournal`, whose writes are committed when they
return. Both have ``synchronous="full"`` by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from riskguard.clock import Clock
from riskguard.daemon.journal.connection import Action
from riskguard.daemon.journal.errors import JournalWriteError
from riskguard.daemon.journal.store import SqliteJournal, Synchronous

T = TypeVar("T")

_WRITE: Final = 0
_READ: Final = 1
_CALL: Final = 2
_CLOSE: Final = 3

_Waiter = tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]


@dataclass(slots=True)
class _Job:
    """One thing for the writer: a write (numbered ``ticket``), a read, a call, or closing."""

    kind: int
    run: Callable[[sqlite3.Connection], Any] | None = None
    ticket: int = 0
    last_seq: int = 0
    """The largest entry ``seq`` this write inserts (0: none)."""
    reply: Future[Any] | None = None


@dataclass(slots=True)
class _Batch:
    """The writes of the open transaction."""

    open: bool = False
    last_ticket: int = 0
    writes: int = 0
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class CommitStats:
    """What the writer has committed since the journal was opened."""

    commits: int
    """Transactions committed (one fsync each with ``synchronous="full"``)."""
    writes: int
    """Writes (appends, state saves, outbox changes) in them."""
    entries: int
    """Journal entries in them."""


class GroupCommitJournal(SqliteJournal):
    """The journal on a writer thread with group commit (the module docstring gives the why)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "full",
        clock: Clock | None = None,
    ) -> None:
        """Open the journal at ``path`` on a new writer thread (creating and migrating it).

        Raises what :class:`~riskguard.daemon.journal.SqliteJournal` raises when the file cannot
        be used; the thread is gone by then.
        """
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._state = threading.Condition()
        """Guards the counters below, the waiters and ``_closed``."""
        self._queued = 0
        """The ticket of the latest write queued."""
        self._committed = 0
        """The ticket of the latest write committed (writes commit in ticket order)."""
        self._waiters: list[_Waiter] = []
        self._closed = False
        self._commits = 0
        self._writes = 0
        self._first_seq = 0
        self.committed_seq = 0
        """The ``seq`` of the latest entry committed: an intent with a ``seq`` at most this is on
        disk (what a test's exchange checks before it takes an order)."""
        opened: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._serve,
            args=(path, synchronous, clock, opened),
            name=f"riskguard-journal:{os.fspath(path)}",
            daemon=True,
        )
        self._thread.start()
        opened.result()

    # ------------------------------------------------------------------ the loop's side

    def _write(self, action: Action) -> None:
        with self._state:
            self._refuse_if_failed()
            self._queue_write(action, 0)

    def _write_entries(self, count: int, build: Callable[[int], Action]) -> int:
        with self._state:  # numbered and queued together: seq order is commit order
            self._refuse_if_failed()
            first = self._last_seq + 1
            self._last_seq += count
            self._queue_write(build(first), self._last_seq)
        return first

    def _queue_write(self, action: Action, last_seq: int) -> None:
        """Queue a write (the caller holds ``_state``)."""
        self._check_open()
        self._queued += 1
        self._jobs.put(_Job(_WRITE, action, self._queued, last_seq))

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return self._ask(_READ, query)

    def _call(self, task: Callable[[sqlite3.Connection], T]) -> T:
        return self._ask(_CALL, task)

    def _ask(self, kind: int, run: Callable[[sqlite3.Connection], T]) -> T:
        if threading.current_thread() is self._thread:
            return run(self._conn)
        reply: Future[T] = Future()
        with self._state:
            self._check_open()
            self._jobs.put(_Job(kind, run, reply=reply))
        return reply.result()

    def _check_open(self) -> None:
        if self._closed:
            raise sqlite3.ProgrammingError(f"journal {self.path}: closed")

    async def durable(self) -> None:
        """Return once every write queued before this call is committed (fsynced with
        ``synchronous="full"``); raise :class:`JournalWriteError` once a write has failed."""
        with self._state:
            self._refuse_if_failed()
            ticket = self._queued
            if ticket <= self._committed:
                return
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            self._waiters.append((ticket, loop, done))
        await done

    def flush(self) -> None:
        """:meth:`durable` for a caller that may block (not the event loop): wait here."""
        with self._state:
            self._refuse_if_failed()
            ticket = self._queued
            self._state.wait_for(lambda: self._committed >= ticket or self.failure is not None)
            if self._committed < ticket:
                raise self._failed_error()

    @property
    def queued_seq(self) -> int:
        """The ``seq`` of the latest entry appended (queued or committed); everything appended
        so far is on disk when :attr:`committed_seq` has reached it."""
        return self._last_seq

    def stats(self) -> CommitStats:
        """Commits, writes and entries committed so far (the scale bench reports them)."""
        with self._state:
            entries = self.committed_seq - self._first_seq
            return CommitStats(self._commits, self._writes, entries)

    def close(self) -> None:
        """Commit every queued write, then close the connection and end the thread (idempotent).

        A write that cannot be committed sets :attr:`failure` (call :meth:`flush` first to have
        it raised)."""
        with self._state:
            if not self._closed:
                self._closed = True
                self._jobs.put(_Job(_CLOSE))
        if threading.current_thread() is not self._thread:
            self._thread.join()

    # ------------------------------------------------------------------ the writer thread

    def _serve(
        self,
        path: str | os.PathLike[str],
        synchronous: Synchronous,
        clock: Clock | None,
        opened: Future[None],
    ) -> None:
        try:
            SqliteJournal.__init__(self, path, synchronous=synchronous, clock=clock)
        except BaseException as exc:
            opened.set_exception(exc)
            return
        self._first_seq = self.committed_seq = self._last_seq
        opened.set_result(None)
        try:
            while self._serve_batch():
                pass
        except BaseException as exc:  # a bug here: nothing more can be written, say so
            self._fail(f"its writer thread stopped ({type(exc).__name__}: {exc})")
            self._stop_serving(exc)
            raise
        finally:
            self._conn.close()

    def _stop_serving(self, exc: BaseException) -> None:
        """The writer is gone: refuse what is queued and everything after."""
        with self._state:
            self._closed = True
        self._tell_waiters()
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._jobs.get_nowait()
                if job.reply is not None and job.reply.set_running_or_notify_cancel():
                    job.reply.set_exception(exc)

    def _serve_batch(self) -> bool:
        """Run every job waiting (writes in one transaction); False once told to close."""
        jobs = [self._jobs.get()]
        with contextlib.suppress(queue.Empty):
            while True:
                jobs.append(self._jobs.get_nowait())
        batch = _Batch()
        going = True
        for job in jobs:
            if job.kind == _WRITE:
                self._apply(job, batch)
            elif job.kind == _READ:
                _answer(job, self._conn)
            else:
                self._commit(batch)
                if job.kind == _CLOSE:
                    going = False
                else:
                    _answer(job, self._conn)
        self._commit(batch)
        return going

    def _apply(self, job: _Job, batch: _Batch) -> None:
        """Run one write in the batch's transaction (opened by the first); a failure rolls the
        batch back and refuses everything after it."""
        if self.failure is not None or job.run is None:
            return  # refused: its ticket stays above the committed one, its waiters get why
        conn = self._conn
        try:
            if not batch.open:
                self._check_trusted()
                conn.execute("BEGIN IMMEDIATE")
                batch.open = True
            job.run(conn)
        except JournalWriteError:
            return  # a journal file was lost: the failure is set
        except Exception as exc:  # whatever the write raised, the batch is not committed
            self._abandon(batch, exc)
            return
        batch.last_ticket = job.ticket
        batch.writes += 1
        batch.last_seq = max(batch.last_seq, job.last_seq)

    def _commit(self, batch: _Batch) -> None:
        """Commit the open transaction (if any), then tell its waiters."""
        if batch.open:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._abandon(batch, exc)
            else:
                batch.open = False
                with contextlib.suppress(JournalWriteError):  # a lost file sets the failure
                    self._check_files()
                if self.failure is None:
                    with self._state:
                        self._committed = batch.last_ticket
                        self._commits += 1
                        self._writes += batch.writes
                        self.committed_seq = max(self.committed_seq, batch.last_seq)
        self._tell_waiters()
        batch.writes = 0

    def _abandon(self, batch: _Batch, exc: BaseException) -> None:
        """Roll the batch back and stop trusting the journal (the first failure is kept)."""
        conn = self._conn
        if conn.in_transaction:  # SQLite may have rolled back already (disk full)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        batch.open = False
        detail = str(exc) if isinstance(exc, sqlite3.Error) else f"{type(exc).__name__}: {exc}"
        error = self._fail(f"cannot write ({detail})")
        if error is self.failure:
            error.__cause__ = exc

    def _tell_waiters(self) -> None:
        """Settle every waiter whose writes are committed, or all of them after a failure (a
        waiter whose writes were committed before it still hears of it: nothing is trusted)."""
        with self._state:
            self._state.notify_all()
            if not self._waiters:
                return
            failure = self.failure
            keep: list[_Waiter] = []
            due: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for waiter in self._waiters:
                ticket, loop, done = waiter
                if ticket <= self._committed or failure is not None:
                    due.setdefault(loop, []).append(done)
                else:
                    keep.append(waiter)
            self._waiters = keep
        for loop, futures in due.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(self._settle, futures)

    def _settle(self, futures: list[asyncio.Future[None]]) -> None:
        """On the waiters' loop: their writes are committed, or the journal failed."""
        for done in futures:
            if done.done():
                continue  # the waiting task was cancelled
            if self.failure is None:
                done.set_result(None)
            else:
                done.set_exception(self._failed_error())

    def _failed_error(self) -> JournalWriteError:
        """The failure, raised again for one more waiter (its own exception, same line)."""
        error = JournalWriteError(str(self.failure))
        error.__cause__ = self.failure
        return error


def _answer(job: _Job, conn: sqlite3.Connection) -> None:
    """Run a read or a call and hand its answer (or what it raised) to the asker."""
    reply = job.reply
    if reply is None or job.run is None or not reply.set_running_or_notify_cancel():
        return
    try:
        result = job.run(conn)
    except BaseException as exc:
        reply.set_exception(exc)
    else:
        reply.set_result(result)
