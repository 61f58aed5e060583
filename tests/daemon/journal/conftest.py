"""Fixtures for the journal's tests: a journal file's path, and a journal opened on it at T0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.journal.writer import GroupCommitJournal
from tests.daemon.journal.helpers import T0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture(params=[SqliteJournal, GroupCommitJournal], ids=["direct", "writer-thread"])
def journal(path: Path, request: pytest.FixtureRequest) -> Iterator[SqliteJournal]:
    """The journal both ways: committing on the caller's thread, and on a writer thread with
    group commit (every read must see the writes queued before it)."""
    with request.param(path, clock=VirtualClock(T0)) as opened:
        yield opened
