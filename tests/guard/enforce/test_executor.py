"""The executor on the paper venue: journal first, reduce-only, no duplicates, dry run."""

from __future__ import annotations

import asyncio

import pytest

from riskguard.clock import VirtualClock
from riskguard.domain import MarginMode, Side
from riskguard.exchange.ccxt_account import (
    open_stops_from_ccxt,
)
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, MethodFaults
from tests.guard.enforce.paper_account import SYMBOL, long_venue, reduce_long, snapshot_of


def _executor(
    client: PaperExchange, clock: VirtualClock, *, dry_run: bool = False
) -> tuple[Executor, MemoryJournal, list[tuple[Level, str]]]:
    journal = MemoryJournal()
    alerts: list[tuple[Level, str]] = []
    executor = Executor(
        client,
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda level, message, _payload: alerts.append((level, message)),
        config=ExecutorConfig(prefix="rg", dry_run=dry_run, amount_steps={SYMBOL: 0.001}),
    )
    return executor, journal, alerts


def test_reduction_is_journalled_before_it_is_sent_and_leaves_the_target_size() -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    executor, journal, _ = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))

    outcomes = asyncio.run(executor.execute("p1", [(reduce_long(0.5), [1.5])], snapshot))

    kinds = [e.kind for e in journal.entries()]
    assert kinds[:3] == ["plan", "order_intent", "order_sent"]
    assert outcomes[0].status == "sent"
    (pos,) = venue.accounts["main"].positions.values()
    assert pos.size == pytest.approx(0.5)
    order = venue.accounts["main"].orders[outcomes[0].exchange_ids[0]]
    assert order.reduce_only is True
    assert is_guard_client_id(order.client_order_id, "rg")


def test_dry_run_journals_the_intent_and_sends_nothing() -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    executor, journal, _ = _executor(client, clock, dry_run=True)
    snapshot = asyncio.run(snapshot_of(client))
    trades_before = len(venue.accounts["main"].trades)

    outcomes = asyncio.run(
        executor.execute("p1", [(reduce_long(0.0, ActionKind.CLOSE), [2.0])], snapshot)
    )

    assert outcomes[0].status == "dry_run"
    assert len(venue.accounts["main"].trades) == trades_before
    assert [e.kind for e in journal.entries()] == ["plan", "order_intent", "order_dry_run"]


def test_order_accepted_while_the_client_timed_out_is_found_not_sent_twice() -> None:
    venue, clock = long_venue()
    faults = FaultConfig(seed=1, methods={"create_order": MethodFaults(accepted_timeout=1.0)})
    client = PaperExchange(venue, "main", clock=clock, faults=faults)
    executor, journal, _ = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))

    outcomes = asyncio.run(executor.execute("p1", [(reduce_long(1.0), [1.0])], snapshot))

    assert outcomes[0].status == "sent"
    assert [e.kind for e in journal.entries()][-1] == "order_found"
    reduce_orders = [o for o in venue.accounts["main"].orders.values() if o.reduce_only]
    assert len(reduce_orders) == 1
    (pos,) = venue.accounts["main"].positions.values()
    assert pos.size == pytest.approx(1.0)


def test_rejected_reduction_is_retried_at_half_size_then_alerts() -> None:
    venue, clock = long_venue()
    faults = FaultConfig(seed=1, methods={"create_order": MethodFaults(reject=1.0)})
    client = PaperExchange(venue, "main", clock=clock, faults=faults)
    executor, journal, alerts = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))

    outcomes = asyncio.run(executor.execute("p1", [(reduce_long(1.0), [1.0])], snapshot))

    assert outcomes[0].status == "failed"
    intents = journal.entries("order_intent")
    assert [e.payload.get("retry") for e in intents] == [None, "half"]
    assert intents[1].payload["contracts"] == pytest.approx(0.5)
    assert alerts
    assert alerts[0][0] is Level.CRITICAL


def test_refuses_to_act_on_a_position_the_snapshot_does_not_hold() -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    executor, journal, _ = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))
    wrong_side = Action(
        kind=ActionKind.REDUCE,
        account="main",
        symbol=SYMBOL,
        side=Side.SHORT,
        rule="r",
        level=Level.ACT,
        reason="test",
        target_size=0.0,
    )

    outcomes = asyncio.run(executor.execute("p1", [(wrong_side, [1.0])], snapshot))

    assert outcomes[0].status == "refused"
    assert not journal.entries("order_intent")


def test_stop_is_replaced_by_placing_the_new_one_before_cancelling_the_old() -> None:
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    executor, journal, _ = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))
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

    remaining = asyncio.run(client.fetch_open_orders(SYMBOL, params={"trigger": True}))
    assert [o["stopLossPrice"] for o in remaining] == [93_000.0]
    kinds = [e.kind for e in journal.entries()]
    assert kinds.index("stop_cancelled") > kinds.index("order_sent", kinds.index("plan", 1))


def test_a_stop_is_no_larger_than_the_venues_largest_market_order() -> None:
    # A stop-market above MARKET_LOT_SIZE maxQty is refused (-4005) every cycle, leaving no stop
    # at all: the guard keeps one for as much as the venue takes, and says so in the intent.
    venue, clock = long_venue()
    client = PaperExchange(venue, "main", clock=clock)
    journal = MemoryJournal()
    executor = Executor(
        client,
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda *_: None,
        config=ExecutorConfig(
            prefix="rg", amount_steps={SYMBOL: 0.001}, max_market_amounts={SYMBOL: 1.5}
        ),
    )
    snapshot = asyncio.run(snapshot_of(client))
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

    (order,) = [o for o in venue.accounts["main"].orders.values() if o.trigger_price]
    assert order.amount == pytest.approx(1.5)
    (intent,) = journal.entries("order_intent")
    assert intent.payload["contracts"] == pytest.approx(1.5)
    assert intent.payload["capped_at"] == pytest.approx(1.5)


def test_add_margin_goes_to_an_isolated_position() -> None:
    venue, clock = long_venue(MarginMode.ISOLATED)
    client = PaperExchange(venue, "main", clock=clock)
    executor, journal, _ = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))
    (pos,) = venue.accounts["main"].positions.values()
    before = pos.isolated_margin
    add = Action(
        kind=ActionKind.ADD_MARGIN,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="liquidation_distance",
        level=Level.ACT,
        reason="restore distance",
        margin=1_000.0,
    )

    outcomes = asyncio.run(executor.execute("p1", [(add, [])], snapshot))

    assert outcomes[0].status == "sent"
    assert pos.isolated_margin == pytest.approx(before + 1_000.0)
    assert [e.kind for e in journal.entries()][-2:] == ["margin_intent", "margin_added"]
