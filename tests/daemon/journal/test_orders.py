"""The orders' lifecycle: order rows kept in step with the executor's entries."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import SqliteJournal
from riskguard.domain import Side
from riskguard.exchange.ccxt_account import open_stops_from_ccxt
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, MethodFaults
from tests.daemon.journal.helpers import T0, _intent
from tests.guard.enforce.paper_account import SYMBOL, long_venue, reduce_long, snapshot_of


def test_order_intent_then_sent_records_the_acknowledged_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")
    journal.append(
        "order_sent",
        "main",
        T0 + 50,
        {"client_id": "c1", "order_id": "77", "status": "closed", "filled": 1.5, "average": 99.5},
    )

    record = journal.order("c1")

    assert record is not None
    assert (record.status, record.exchange_id, record.exchange_status) == ("sent", "77", "closed")
    assert (record.filled, record.average) == (1.5, 99.5)
    assert (record.symbol, record.side, record.contracts, record.kind) == (
        SYMBOL,
        "sell",
        1.5,
        "reduce",
    )
    assert (record.plan_id, record.intent_seq, record.last_seq) == ("p1", 1, 2)
    assert (record.time_ms, record.updated_ms) == (T0, T0 + 50)
    assert not record.pending
    assert journal.pending_orders() == []


@pytest.mark.parametrize(
    ("kind", "payload", "status", "error", "pending"),
    [
        ("order_found", {"after": "timeout", "order_id": "55"}, "found", None, False),
        ("order_failed", {"error": "rejected", "attempt": 0}, "failed", "rejected", False),
        ("order_unknown", {"error": "timed out", "attempt": 1}, "unknown", "timed out", True),
        ("order_dry_run", {}, "dry_run", None, False),
        ("lookup_failed", {"error": "busy"}, "intent", None, True),
    ],
)
def test_order_outcome_sets_the_order_status(
    journal: SqliteJournal,
    kind: str,
    payload: dict[str, Any],
    status: str,
    error: str | None,
    pending: bool,
) -> None:
    _intent(journal, "c1")

    journal.append(kind, "main", T0 + 1, {"client_id": "c1", **payload})

    record = journal.order("c1")
    assert record is not None
    assert record.status == status
    assert record.pending is pending
    assert record.exchange_id == payload.get("order_id")
    assert record.error == error
    assert [o.client_id for o in journal.pending_orders()] == (["c1"] if pending else [])


def test_stop_cancelled_marks_the_order_with_that_exchange_id(journal: SqliteJournal) -> None:
    _intent(journal, "old")
    journal.append("order_sent", "main", T0, {"client_id": "old", "order_id": "s1"})
    _intent(journal, "new")
    journal.append("order_sent", "main", T0, {"client_id": "new", "order_id": "s2"})

    journal.append("stop_cancelled", "main", T0 + 1, {"order_id": "s1", "replaced_by": "new"})

    statuses = {o.client_id: o.status for o in journal.orders()}
    assert statuses == {"old": "cancelled", "new": "sent"}


def test_pending_orders_are_unknown_fates_of_one_account_oldest_first(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "a1", account="a")
    _intent(journal, "b1", account="b")
    _intent(journal, "a2", account="a")
    journal.append("order_unknown", "a", T0, {"client_id": "a1", "error": "timeout"})
    journal.append("order_sent", "a", T0, {"client_id": "a2", "order_id": "9"})

    assert [o.client_id for o in journal.pending_orders()] == ["a1", "b1"]
    assert [o.client_id for o in journal.pending_orders("a")] == ["a1"]


def test_recovery_lookup_settles_a_pending_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append("order_found", "main", T0 + 9, {"client_id": "c1", "after": "restart"})

    assert journal.pending_orders() == []


def test_recovery_lookup_records_the_exchange_status_and_fill(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append(
        "order_found",
        "main",
        T0 + 9,
        {"client_id": "c1", "after": "restart", "order_id": "8", "status": "closed", "filled": 1.5},
    )

    record = journal.order("c1")
    assert record is not None
    assert (record.status, record.exchange_id, record.exchange_status, record.filled) == (
        "found",
        "8",
        "closed",
        1.5,
    )


def test_orders_lists_by_account_and_intent_time(journal: SqliteJournal) -> None:
    _intent(journal, "a1", account="a", t=T0)
    _intent(journal, "b1", account="b", t=T0 + 10)
    _intent(journal, "a2", account="a", t=T0 + 20)

    assert [o.client_id for o in journal.orders()] == ["a1", "b1", "a2"]
    assert [o.client_id for o in journal.orders("a")] == ["a1", "a2"]
    assert [o.client_id for o in journal.orders(since_ms=T0 + 10)] == ["b1", "a2"]
    assert [o.client_id for o in journal.orders("a", since_ms=T0 + 10)] == ["a2"]


def test_intent_for_a_known_client_id_rearms_the_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")
    journal.append("order_failed", "main", T0, {"client_id": "c1", "error": "rejected"})

    _intent(journal, "c1", t=T0 + 100)

    record = journal.order("c1")
    assert record is not None
    assert (record.status, record.error, record.intent_seq) == ("intent", None, 3)
    assert len(journal.orders()) == 1


def test_half_size_retry_intent_inherits_symbol_side_and_kind_from_its_plan(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "c1")
    journal.append("order_failed", "main", T0, {"client_id": "c1", "error": "rejected"})

    journal.append(
        "order_intent",
        "main",
        T0,
        {"plan_id": "p1", "client_id": "c1h", "contracts": 0.75, "retry": "half"},
    )

    record = journal.order("c1h")
    assert record is not None
    assert (record.symbol, record.side, record.kind, record.contracts) == (
        SYMBOL,
        "sell",
        "reduce",
        0.75,
    )


def test_intent_without_symbol_or_parent_keeps_the_fields_empty(journal: SqliteJournal) -> None:
    journal.append("order_intent", "main", T0, {"plan_id": "p9", "client_id": "x"})
    journal.append("order_intent", "main", T0, {"client_id": "y", "contracts": math.inf})

    x, y = journal.orders()
    assert (x.symbol, x.side, x.kind) == (None, None, None)
    assert (y.plan_id, y.contracts) == (None, None)


def test_events_without_an_order_row_are_journalled_and_change_no_order(
    journal: SqliteJournal,
) -> None:
    journal.append("order_intent", "main", T0, {"symbol": SYMBOL})
    journal.append("order_sent", "main", T0, {"client_id": "ghost", "order_id": "1"})
    journal.append("stop_cancelled", "main", T0, {"order_id": "unseen"})

    assert journal.orders() == []
    assert journal.count() == 3


def test_order_numbers_that_are_not_numbers_are_stored_empty(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append("order_sent", "main", T0, {"client_id": "c1", "filled": True, "average": "1"})

    record = journal.order("c1")
    assert record is not None
    assert (record.filled, record.average, record.exchange_id) == (None, None, None)


def _executor(client: PaperExchange, clock: VirtualClock, journal: Journal) -> Executor:
    return Executor(
        client,
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda _level, _message, _payload: None,
        config=ExecutorConfig(prefix="rg", amount_steps={SYMBOL: 0.001}),
    )


def test_executor_reduction_leaves_a_sent_order_matching_the_venue(
    journal: SqliteJournal,
) -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    snapshot = asyncio.run(snapshot_of(client))

    outcomes = asyncio.run(
        _executor(client, clock, journal).execute("p1", [(reduce_long(0.5), [1.5])], snapshot)
    )

    (record,) = journal.orders("main")
    assert record.status == "sent"
    assert record.client_id == outcomes[0].client_ids[0]
    assert record.exchange_id == outcomes[0].exchange_ids[0]
    assert record.filled == pytest.approx(1.5)
    assert (record.symbol, record.side, record.kind) == (SYMBOL, "sell", "reduce")


def test_executor_rejected_reduction_and_its_half_retry_both_fail(
    journal: SqliteJournal,
) -> None:
    venue, clock = long_venue()
    faults = FaultConfig(seed=1, methods={"create_order": MethodFaults(reject=1.0)})
    client = PaperExchange(venue, "main", clock=clock, faults=faults)
    snapshot = asyncio.run(snapshot_of(client))

    asyncio.run(
        _executor(client, clock, journal).execute("p1", [(reduce_long(1.0), [1.0])], snapshot)
    )

    orders = [(o.status, o.symbol, o.contracts) for o in journal.orders()]
    assert orders == [("failed", SYMBOL, 1.0), ("failed", SYMBOL, 0.5)]
    assert journal.pending_orders() == []


def test_executor_stop_replacement_cancels_the_old_stop_row(journal: SqliteJournal) -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    snapshot = asyncio.run(snapshot_of(client))
    executor = _executor(client, clock, journal)
    stop = Action(
        kind=ActionKind.PLACE_STOP,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="stop_loss",
        level=Level.WARN,
        reason="keep a stop",
        target_size=2.0,
        stop_price=91_000.0,
    )
    asyncio.run(executor.execute("p1", [(stop, [])], snapshot))
    markets = asyncio.run(client.load_markets())
    open_orders = asyncio.run(client.fetch_open_orders(SYMBOL, params={"trigger": True}))
    stops = open_stops_from_ccxt(open_orders, markets, lambda c: is_guard_client_id(c, "rg"))
    safer = Action(**{**{f: getattr(stop, f) for f in stop.__slots__}, "stop_price": 93_000.0})

    asyncio.run(executor.execute("p2", [(safer, [])], snapshot, stops))

    old, new = journal.orders()
    assert (old.status, old.stop_price) == ("cancelled", 91_000.0)
    assert (new.status, new.stop_price, new.kind) == ("sent", 93_000.0, "stop")
