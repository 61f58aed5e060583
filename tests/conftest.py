"""Suite-wide marks and fixtures: ``live`` tests need a real exchange account and run only when
asked; ``journal_path`` is a journal file in the test's own folder (daemon and CLI tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RISKGUARD_LIVE") == "1":
        return
    skip = pytest.mark.skip(reason="needs a live exchange account: set RISKGUARD_LIVE=1")
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(skip)


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"
