"""Suite-wide marks: ``live`` tests need a real exchange account and run only when asked."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("RISKGUARD_LIVE") == "1":
        return
    skip = pytest.mark.skip(reason="needs a live exchange account: set RISKGUARD_LIVE=1")
    for item in items:
        if item.get_closest_marker("live") is not None:
            item.add_marker(skip)
