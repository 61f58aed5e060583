"""Config files for daemon tests: a small paper book written to a temporary folder.

The document itself is :func:`riskguard.testing.paper_daemon_config`, public so that users'
tests can run the daemon on it too; ``paper_config`` is its name in these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from riskguard.testing import paper_daemon_config as paper_config

__all__ = ["paper_config", "write_config"]


def write_config(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
