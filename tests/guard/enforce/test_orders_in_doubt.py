"""An order whose fate is unknown blocks its position until a lookup settles it (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from riskguard.clock import VirtualClock, to_datetime
from riskguard.domain import AccountSnapshot, Side, Tier
from riskguard.exchange.ccxt_account import snapshot_from_ccxt, tiers_from_ccxt
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.enforce.order_fate import PendingOrder
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, FaultInjector, MethodFaults
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket
from riskguard.risk import get_profile

SYMBOL = "BTC/USDT:USDT"

IN_DOUBT = FaultConfig(
    seed=1,
    methods={
        "create_order": MethodFaults(accepted_timeout=1.0),
        "fetch_order": MethodFaults(unavailable=1.0),
    },
)


def _venue() -> tuple[PaperVenue, VirtualClock]:
    prices = tuple([100_000.0] * 600)
    times = tuple(1_700_000_000_000 + i * 1000 for i in range(600))
    bars = Bars(SYMBOL, times, prices, prices, prices, prices, 0)
    market = PaperMarket(SYMBOL, (Tier(0, float("inf"), 0.005, 0, 125),), mark_half_life_s=0)
    venue = PaperVenue(get_profile("binance"), [market], {SYMBOL: bars})
    venue.add_account("main", 100_000.0)
    venue.set_leverage("main", SYMBOL, 10)
    venue.create_order("main", SYMBOL, "market", "buy", 2.0, None)
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return venue, clock


async def _snapshot(client: PaperExchange) -> AccountSnapshot:
    markets = await client.load_markets()
    tiers = {SYMBOL: tiers_from_ccxt(await client.fetch_market_leverage_tiers(SYMBOL))}
    return snapshot_from_ccxt(
        account="main",
        venue="binance",
        balance=await client.fetch_balance(),
        positions=await client.fetch_positions(),
        markets=markets,
        tiers=tiers,
        taken_at=to_datetime(client.milliseconds()),
    )


def _reduce(size_before: float, target: float) -> Action:
    return Action(
        kind=ActionKind.REDUCE,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="test",
        level=Level.ACT,
        reason="test",
        size_before=size_before,
        target_size=target,
    )


class Account:
    """One account's executors, plan after plan, sharing what is in doubt."""

    def __init__(self, faults: FaultConfig) -> None:
        self.venue, self.clock = _venue()
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
        snapshot = asyncio.run(_snapshot(self.client))
        outcomes = asyncio.run(executor.execute(f"p{self.plans}", list(steps), snapshot))
        self.clock.advance_to(self.clock.now_ms() + 5_000)
        return outcomes

    def size(self) -> float:
        (position,) = self.venue.accounts["main"].positions.values()
        return position.size


def test_an_order_in_doubt_blocks_its_position_until_a_lookup_finds_it() -> None:
    account = Account(IN_DOUBT)

    # The venue takes the order but the answer never arrives, and every lookup fails.
    (first,) = account.plan((_reduce(2.0, 1.5), [0.5]))
    assert first.status == "unknown"
    assert next(iter(account.pending.values())).position == (SYMBOL, "long")
    assert account.size() == pytest.approx(1.5)
    assert account.alerts[-1][0] is Level.CRITICAL
    assert "is unknown" in account.alerts[-1][1]

    # Next plan: still in doubt, so nothing is sent for that position.
    (second,) = account.plan((_reduce(1.5, 1.0), [0.5]))
    assert second.status == "blocked"
    assert account.size() == pytest.approx(1.5)

    # The venue answers again: the order is found, said, and the plan still waits for a
    # snapshot that counts its fill.
    account.client.faults = FaultInjector(FaultConfig(), "main/client")
    (third,) = account.plan((_reduce(1.5, 1.0), [0.5]))
    assert third.status == "blocked"
    assert account.pending == {}
    found = account.journal.entries("order_found")[-1]
    assert (found.payload["after"], found.payload["status"]) == ("lookup", "closed")
    assert "is on the venue: status closed" in account.alerts[-1][1]

    (fourth,) = account.plan((_reduce(1.5, 1.0), [0.5]))
    assert fourth.status == "sent"
    assert account.size() == pytest.approx(1.0)
    reductions = [o for o in account.venue.accounts["main"].orders.values() if o.reduce_only]
    assert len(reductions) == 2


def test_a_plan_with_no_steps_still_settles_what_is_in_doubt() -> None:
    account = Account(IN_DOUBT)
    account.plan((_reduce(2.0, 1.5), [0.5]))
    account.client.faults = FaultInjector(FaultConfig(), "main/client")

    assert account.plan() == []

    assert account.pending == {}
    assert [e.kind for e in account.journal.entries()][-2:] == ["order_found", "alert"]
