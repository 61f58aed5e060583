"""A fact and its alert are one journal transaction: an order sent is never left untold
(issue 15, part 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskguard.alerts.center import AlertCenter, Route
from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.model import Severity
from riskguard.daemon.journal import JournalWriteError, SqliteJournal, outbox_rows
from riskguard.guard.rules.base import Level

T0 = 1_763_700_000_000
SENT = {
    "client_id": "rgfact1",
    "order_id": "42",
    "status": "closed",
    "filled": 0.5,
    "average": 99_800.0,
}


def _center(journal: SqliteJournal) -> AlertCenter:
    return AlertCenter(
        journal,
        [Route("ops", Severity.INFO)],
        AlertingConfig(),
        now_ms=lambda: T0,
        queue_ms=lambda: T0 + 5,
    )


def _intent(journal: SqliteJournal) -> None:
    journal.append(
        "order_intent",
        "main",
        T0 - 10,
        {"client_id": "rgfact1", "symbol": "BTC/USDT:USDT", "side": "sell", "kind": "reduce"},
    )


def test_an_order_sent_is_journalled_with_its_alert_queued(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    _intent(journal)

    _center(journal).record(
        "order_sent",
        "main",
        T0,
        SENT,
        Level.ACT,
        "guard reduce from 2 to 1.5 BTC/USDT:USDT long [shortfall]: filled 0.5",
        {"account": "main", "symbol": "BTC/USDT:USDT", "rule": "shortfall"},
    )

    kinds = [e.kind for e in journal.entries()]
    assert kinds == ["order_intent", "order_sent", "alert_queued"]
    (row,) = journal.outbox_rows("pending")
    assert row.sink == "ops"
    assert row.alert["title"].startswith("guard reduce from 2 to 1.5")
    (order,) = journal.orders()
    assert (order.status, order.filled) == ("sent", 0.5)
    journal.close()


def test_when_the_alert_cannot_be_queued_the_fact_is_not_written_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    _intent(journal)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the order row cannot be updated")

    monkeypatch.setattr(outbox_rows, "track_order", broken)

    with pytest.raises((RuntimeError, JournalWriteError)):
        _center(journal).record(
            "order_sent", "main", T0, SENT, Level.ACT, "guard reduce", {"account": "main"}
        )

    assert [e.kind for e in journal.entries()] == ["order_intent"]
    assert journal.outbox_rows() == []
    journal.close()
