"""Helpers shared by the journal's tests: the start time, an order intent, a raw connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from riskguard.daemon.journal import SqliteJournal
from tests.guard.enforce.paper_account import SYMBOL

T0 = 1_700_000_000_000


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
