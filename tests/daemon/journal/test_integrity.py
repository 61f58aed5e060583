"""A journal that cannot be trusted refuses every write after it, and never kills the process.

Issue 15, part 3 (D10, D11). The failures are made the way root cannot ignore: deleting or
replacing a file, putting a directory where a file was, truncating the shared memory file,
``PRAGMA max_page_count`` (SQLite's own ``SQLITE_FULL``) and ``RLIMIT_FSIZE`` (the kernel
refusing a write), never ``chmod``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from riskguard.daemon.journal import JournalFileError, JournalWriteError, SqliteJournal
from tests.daemon.journal.helpers import T0

REPO = Path(__file__).resolve().parents[3]


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _fill(journal: SqliteJournal) -> None:
    for i in range(200):
        journal.append("snapshot", "main", T0 + i, {"blob": "x" * 4_000})


def test_a_journal_deleted_under_an_open_store_refuses_the_next_write_and_every_later_one(
    path: Path,
) -> None:
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        path.unlink()

        with pytest.raises(JournalWriteError, match=r"journal .*journal\.sqlite: .*deleted"):
            journal.append("order_intent", "main", T0 + 1, {"client_id": "c1"})
        SqliteJournal(path).close()  # a new file at the same path does not make it trusted
        with pytest.raises(JournalWriteError, match="deleted"):
            journal.put_state("main", "guard", {"cycles": 1})

        assert journal.failure is not None
        assert journal.count("order_intent") == 0
        rescued = journal.rescue()
    assert rescued is not None
    with SqliteJournal(rescued, readonly=True) as copy:
        assert [e.kind for e in copy.entries()] == ["plan"]


def test_a_journal_replaced_under_an_open_store_refuses_the_next_write(
    path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.sqlite"
    SqliteJournal(other).close()
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        os.replace(other, path)

        with pytest.raises(JournalWriteError, match="replaced"):
            journal.append("order_intent", "main", T0 + 1, {"client_id": "c1"})


@pytest.mark.parametrize("how", ["deleted", "a directory"])
def test_a_wal_file_deleted_or_made_unwritable_under_an_open_store_refuses_the_next_write(
    path: Path, how: str
) -> None:
    wal = _sidecar(path, "-wal")
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        wal.unlink()
        if how == "a directory":
            wal.mkdir()

        with pytest.raises(JournalWriteError, match=r"-wal.*(deleted|replaced)"):
            journal.append("order_intent", "main", T0 + 1, {"client_id": "c1"})


def test_a_full_journal_refuses_the_write_and_stays_refused_when_space_comes_back(
    path: Path,
) -> None:
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
        journal._conn.execute(f"PRAGMA max_page_count = {pages}")

        with pytest.raises(JournalWriteError, match="full"):
            _fill(journal)
        journal._conn.execute("PRAGMA max_page_count = 1000000")
        with pytest.raises(JournalWriteError, match="no longer trusted"):
            journal.append("order_intent", "main", T0 + 1, {"client_id": "c1"})
        assert journal.rescue() is None  # the file is still there, with every commit


_TRUNCATE_SHM = """
import os, sys
from riskguard.daemon.journal import SqliteJournal

path = sys.argv[1]
journal = SqliteJournal(path)
journal.append("plan", "main", 1, {})
shm = path + "-shm"
if os.path.isfile(shm):
    os.truncate(shm, 0)  # what an unwritable or full file system does to the mapping
else:
    with open(shm, "wb"):
        pass
journal.append("plan", "main", 2, {})
print(journal.count(), flush=True)
journal.close()
"""


def test_a_truncated_shared_memory_file_does_not_kill_the_process_with_sigbus(
    path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    child = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _TRUNCATE_SHM, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert child.returncode != -signal.SIGBUS, "SIGBUS: the wal-index was in a mapped -shm file"
    assert (child.returncode, child.stdout.strip()) == (0, "2"), child.stderr


def test_a_shared_memory_path_that_is_a_directory_does_not_stop_the_journal(path: Path) -> None:
    _sidecar(path, "-shm").mkdir()

    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})

        assert journal.count() == 1


_FILE_SIZE_LIMIT = """
import resource, signal, sys
from riskguard.daemon.journal import JournalWriteError, SqliteJournal

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
journal = SqliteJournal(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
try:
    for i in range(1000):
        journal.append("snapshot", "main", i, {"blob": "x" * 4000})
except JournalWriteError as exc:
    print("refused:", exc, flush=True)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
try:
    journal.append("order_intent", "main", 1, {"client_id": "c1"})
except JournalWriteError as exc:
    print("refused again:", exc, flush=True)
else:
    print("written after a failed write", flush=True)
"""


def test_a_write_the_kernel_refuses_stops_every_later_write(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    child = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _FILE_SIZE_LIMIT, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    lines = child.stdout.splitlines()
    assert child.returncode == 0, child.stderr
    assert lines[0].startswith("refused: journal ")
    assert lines[1].startswith("refused again: journal "), lines
    assert "no longer trusted" in lines[1]


def test_no_shared_memory_file_is_made_for_the_journal(path: Path) -> None:
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})

        assert not _sidecar(path, "-shm").exists()


def test_a_journal_held_by_a_running_writer_is_refused_to_a_reader_in_one_line(
    path: Path,
) -> None:
    with SqliteJournal(path) as journal:
        journal.append("plan", "main", T0, {"plan_id": "p1"})
        started = time.monotonic()

        with pytest.raises(JournalFileError, match="in use by a running riskguard") as caught:
            SqliteJournal(path, readonly=True)
        with pytest.raises(JournalFileError, match="in use by a running riskguard"):
            SqliteJournal(path)

    assert "\n" not in str(caught.value)
    assert time.monotonic() - started < 15
    with SqliteJournal(path, readonly=True) as reader:  # once the writer closed, it reads
        assert reader.count() == 1


def test_an_in_memory_journal_has_no_file_to_check() -> None:
    with SqliteJournal(":memory:") as journal:
        journal.append("plan", "main", T0, {})

        assert journal.count() == 1
        assert journal.failure is None


def test_a_broken_write_names_the_cause_in_the_failure(path: Path) -> None:
    with SqliteJournal(path) as journal:
        journal._conn.execute("PRAGMA max_page_count = 1")

        with pytest.raises(JournalWriteError):
            journal.append("plan", "main", T0, {"blob": "x" * 10_000})

        assert journal.failure is not None
        assert isinstance(journal.failure.__cause__, sqlite3.Error)


def test_a_journal_deleted_while_it_is_being_opened_is_refused_in_one_line(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon's start raced an operator (or a test) deleting the file right after SQLite
    # made it: the store must refuse with one line, not a FileNotFoundError traceback.
    from riskguard.daemon.journal import store

    real_migrate = store.migrate

    def migrate_then_lose_the_file(conn: sqlite3.Connection, name: str) -> None:
        real_migrate(conn, name)
        os.unlink(name)

    monkeypatch.setattr(store, "migrate", migrate_then_lose_the_file)

    with pytest.raises(JournalFileError, match=r"was deleted while riskguard opened it") as caught:
        SqliteJournal(path)

    assert str(caught.value).startswith(f"journal {path}: ")
    assert "\n" not in str(caught.value)
