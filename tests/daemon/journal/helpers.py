"""Helpers shared by the journal's tests: the start time, an order intent, a raw connection, a
writer thread held busy (a disk as slow as it may be), and a writer killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from riskguard.daemon.journal import GroupCommitJournal, SqliteJournal
from tests.guard.enforce.paper_account import SYMBOL

T0 = 1_700_000_000_000
REPO = Path(__file__).resolve().parents[3]


def kill_after(script: str, path: Path, lines: int) -> tuple[list[int], int]:
    """Run ``script`` (Python, given ``path`` as its argument) in a child process, read the
    numbers it prints, one per line, and SIGKILL it after ``lines`` of them: those numbers and
    the child's return code."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    printed: list[int] = []
    for line in child.stdout:
        printed.append(int(line))
        if len(printed) == lines:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    child.stdout.close()
    return printed, child.returncode


def _intent(journal: SqliteJournal, cid: str, *, account: str = "main", t: int = T0) -> None:
    journal.append(
        "order_intent",
        account,
        t,
        {
            "plan_id": "p1",
            "client_id": cid,
            "symbol": SYMBOL,
            "side": "sell",
            "contracts": 1.5,
            "kind": "reduce",
            "rule": "liquidation_distance",
            "figures": {"distance_pct": 2.5},
        },
    )


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def hold_writer(journal: GroupCommitJournal) -> threading.Event:
    """Keep ``journal``'s writer thread busy until the returned event is set: writes queued
    meanwhile wait for it, as behind a slow fsync (returns once the writer is held)."""
    release = threading.Event()
    held = threading.Event()

    def wait(_conn: sqlite3.Connection) -> None:
        held.set()
        release.wait()

    threading.Thread(target=journal._call, args=(wait,), daemon=True).start()
    held.wait()
    return release
