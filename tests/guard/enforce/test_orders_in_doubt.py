"""An order whose fate is unknown blocks its position until a lookup settles it (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.enforce.order_fate import PendingOrder
from riskguard.guard.rules.base import Action, Level
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, FaultInjector, MethodFaults
from tests.guard.enforce.paper_account import SYMBOL, long_venue, reduce_long, snapshot_of

IN_DOUBT = FaultConfig(
    seed=1,
    methods={
        "create_order": MethodFaults(accepted_timeout=1.0),
        "fetch_order": MethodFaults(unavailable=1.0),
    },
)


class Account:
    """One account's executors, plan after plan, sharing what is in doubt."""

    def __init__(self, faults: FaultConfig) -> None:
        self.venue, self.clock = long_venue(seconds=600)
        self.client = PaperExchange(self.venue, "main", clock=self.clock, faults=faults)
        self.journal = MemoryJournal()
        self.alerts: list[tuple[Level, str]] = []
        self.pending: dict[str, PendingOrder] = {}
        self.plans = 0

    def plan(self, *steps: tuple[Action, list[float]]) -> list[Any]:
        self.plans += 1
        executor = Executor(
            self.client,
            account="main",
            exchange_id="paper",
            journal=self.journal,
            clock=self.clock,
            alert=lambda level, message, _payload: self.alerts.append((level, message)),
            config=ExecutorConfig(prefix="rg", amount_steps={SYMBOL: 0.001}),
            pending=self.pending,
        )
        snapshot = asyncio.run(snapshot_of(self.client))
        outcomes = asyncio.run(executor.execute(f"p{self.plans}", list(steps), snapshot))
        self.clock.advance_to(self.clock.now_ms() + 5_000)
        return outcomes

    def size(self) -> float:
        (position,) = self.venue.accounts["main"].positions.values()
        return position.size


def test_an_order_in_doubt_blocks_its_position_until_a_lookup_finds_it() -> None:
    account = Account(IN_DOUBT)

    # The venue takes the order but the answer never arrives, and every lookup fails.
    (first,) = account.plan((reduce_long(1.5, size_before=2.0), [0.5]))
    assert first.status == "unknown"
    assert next(iter(account.pending.values())).position == (SYMBOL, "long")
    assert account.size() == pytest.approx(1.5)
    assert account.alerts[-1][0] is Level.CRITICAL
    assert "is unknown" in account.alerts[-1][1]

    # Next plan: still in doubt, so nothing is sent for that position.
    (second,) = account.plan((reduce_long(1.0, size_before=1.5), [0.5]))
    assert second.status == "blocked"
    assert account.size() == pytest.approx(1.5)

    # The venue answers again: the order is found, said, and the plan still waits for a
    # snapshot that counts its fill.
    account.client.faults = FaultInjector(FaultConfig(), "main/client")
    (third,) = account.plan((reduce_long(1.0, size_before=1.5), [0.5]))
    assert third.status == "blocked"
    assert account.pending == {}
    found = account.journal.entries("order_found")[-1]
    assert (found.payload["after"], found.payload["status"]) == ("lookup", "closed")
    assert "is on the venue: status closed" in account.alerts[-1][1]

    (fourth,) = account.plan((reduce_long(1.0, size_before=1.5), [0.5]))
    assert fourth.status == "sent"
    assert account.size() == pytest.approx(1.0)
    reductions = [o for o in account.venue.accounts["main"].orders.values() if o.reduce_only]
    assert len(reductions) == 2


def test_a_plan_with_no_steps_still_settles_what_is_in_doubt() -> None:
    account = Account(IN_DOUBT)
    account.plan((reduce_long(1.5, size_before=2.0), [0.5]))
    account.client.faults = FaultInjector(FaultConfig(), "main/client")

    assert account.plan() == []

    assert account.pending == {}
    assert account.journal.entries()[-1].kind == "order_found"
    assert "is on the venue: status closed" in account.alerts[-1][1]
