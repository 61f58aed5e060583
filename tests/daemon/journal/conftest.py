"""Fixtures for the journal's tests: a journal file's path, and a journal opened on it at T0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import SqliteJournal
from tests.daemon.journal.helpers import T0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal(path, clock=VirtualClock(T0)) as opened:
        yield opened
