"""A reduction's margin put-back: never more than what the reduction actually freed.

Rules size the ADD_MARGIN that follows an isolated reduction at the mark; in a fast market the
reduction fills far worse, and adding the planned amount would move wallet money into the
position the guard is getting out of (the BTC 2020-03-12 3x replay lost more than its margin
that way). The executor caps the put-back at the closed part's equity at its real fills.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.clock import VirtualClock
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, MethodFaults
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.risk import closed_part_equity, get_profile
from tests.guard.enforce.paper_account import snapshot_of

SYMBOL = "BTC/USDT:USDT"


def _slippy_venue(leverage: float) -> tuple[PaperVenue, VirtualClock]:
    """A market at 100,000 where every taker order fills 3% away from the touch.

    Its one-minute bars open and close at 100,000 and trade from 96,000 to 104,000, so a fill 3%
    away is one at a price that traded in its minute (the paper venue fills at no other).
    """
    flat = tuple([100_000.0] * 50)
    times = tuple(1_700_000_000_000 + i * 60_000 for i in range(50))
    highs = tuple([104_000.0] * 50)
    lows = tuple([96_000.0] * 50)
    bars = Bars(SYMBOL, times, flat, highs, lows, flat, 60_000)
    market = PaperMarket(
        SYMBOL,
        (Tier(0, float("inf"), 0.005, 0, 125),),
        mark_half_life_s=0,
        slippage=SlippageModel(base=0.03, per_million=0.0, speed_factor=0.0),
    )
    venue = PaperVenue(get_profile("binance"), [market], {SYMBOL: bars})
    venue.add_account("main", 100_000.0)
    venue.set_margin_mode("main", SYMBOL, MarginMode.ISOLATED)
    venue.set_leverage("main", SYMBOL, leverage)
    venue.create_order("main", SYMBOL, "market", "buy", 2.0, None)
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return venue, clock


@dataclass
class Slippy:
    """A long of 2 BTC on the slippy venue, its executor and its snapshot."""

    venue: PaperVenue
    executor: Executor
    journal: MemoryJournal
    snapshot: AccountSnapshot
    pos: Any
    margin_before: float


def _slippy(leverage: float, faults: FaultConfig | None = None) -> Slippy:
    venue, clock = _slippy_venue(leverage)
    client = PaperExchange(venue, "main", clock=clock, faults=faults)
    executor, journal = _executor(client, clock)
    snapshot = asyncio.run(snapshot_of(client))
    (pos,) = venue.accounts["main"].positions.values()
    return Slippy(venue, executor, journal, snapshot, pos, pos.isolated_margin)


def _executor(port: Any, clock: VirtualClock) -> tuple[Executor, MemoryJournal]:
    journal = MemoryJournal()
    executor = Executor(
        port,
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda *_: None,
        config=ExecutorConfig(prefix="rg", amount_steps={SYMBOL: 0.001}),
    )
    return executor, journal


def _action(kind: ActionKind, **kw: Any) -> Action:
    return Action(
        kind=kind,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="liquidation_distance",
        level=Level.ACT,
        reason="restore distance",
        **kw,
    )


def _reduce_and_put_back(margin: float) -> list[tuple[Action, list[float]]]:
    return [
        (_action(ActionKind.REDUCE, size_before=2.0, target_size=1.0), [1.0]),
        (_action(ActionKind.ADD_MARGIN, size_before=1.0, target_size=1.0, margin=margin), []),
    ]


def test_put_back_is_capped_at_what_the_reduction_freed_at_its_real_fill() -> None:
    t = _slippy(leverage=10)
    (position,) = t.snapshot.positions
    wallet_before = t.venue.accounts["main"].wallet
    # What a rule would plan at the mark (100,000): half the margin plus the half's PnL there.
    planned = closed_part_equity(position, 1.0, 100_000.0, 50.0)

    outcomes = asyncio.run(t.executor.execute("p1", _reduce_and_put_back(planned), t.snapshot))

    sell = t.venue.accounts["main"].trades[-1]
    freed = closed_part_equity(position, 1.0, sell.price, sell.fee)
    assert sell.price < 97_500.0
    assert freed < planned - 2_500.0
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert t.pos.isolated_margin == pytest.approx(t.margin_before / 2 + freed)
    # The wallet gave back nothing beyond what the reduction brought in.
    assert t.venue.accounts["main"].wallet == pytest.approx(wallet_before)
    (capped,) = t.journal.entries("margin_capped")
    assert capped.payload["planned"] == pytest.approx(planned)
    assert capped.payload["amount"] == pytest.approx(freed)
    (added,) = t.journal.entries("margin_added")
    assert added.payload["amount"] == pytest.approx(freed)


def test_a_fill_at_or_better_than_planned_puts_back_the_planned_amount() -> None:
    t = _slippy(leverage=10)

    asyncio.run(t.executor.execute("p1", _reduce_and_put_back(1_000.0), t.snapshot))

    assert t.pos.isolated_margin == pytest.approx(t.margin_before / 2 + 1_000.0)
    assert t.journal.entries("margin_capped") == []


def test_nothing_is_put_back_when_the_reduction_filled_past_bankruptcy() -> None:
    # 20x: 5% of margin; entry 3% above the mark and the sale 3% below it is a 6% loss.
    t = _slippy(leverage=20)

    outcomes = asyncio.run(t.executor.execute("p1", _reduce_and_put_back(2_000.0), t.snapshot))

    assert [o.status for o in outcomes] == ["sent", "skipped"]
    assert t.pos.isolated_margin == pytest.approx(t.margin_before / 2)
    (skipped,) = t.journal.entries("margin_skipped")
    assert skipped.payload["freed"] < 0
    assert t.journal.entries("margin_added") == []


def test_nothing_is_put_back_when_the_reduction_was_rejected() -> None:
    faults = FaultConfig(seed=1, methods={"create_order": MethodFaults(reject=1.0)})
    t = _slippy(leverage=10, faults=faults)

    outcomes = asyncio.run(t.executor.execute("p1", _reduce_and_put_back(1_000.0), t.snapshot))

    assert [o.status for o in outcomes] == ["failed", "skipped"]
    assert t.pos.size == pytest.approx(2.0)
    assert t.pos.isolated_margin == pytest.approx(t.margin_before)
    (skipped,) = t.journal.entries("margin_skipped")
    assert skipped.payload["freed"] == 0.0


def test_add_margin_without_a_reduction_in_the_plan_is_not_capped() -> None:
    t = _slippy(leverage=20)
    add = _action(ActionKind.ADD_MARGIN, size_before=2.0, target_size=2.0, margin=3_000.0)

    asyncio.run(t.executor.execute("p1", [(add, [])], t.snapshot))

    assert t.pos.isolated_margin == pytest.approx(t.margin_before + 3_000.0)


class ScriptedPort:
    """A venue whose market orders answer without their fills (as Bybit's create does)."""

    def __init__(self, fetched: dict[str, Any] | Exception) -> None:
        self.fetched = fetched
        self.added: list[float] = []
        self.fetches: list[str | None] = []

    async def create_order(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"id": "o1", "status": "open", "filled": None, "average": None}

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: Any = None
    ) -> dict[str, Any]:
        self.fetches.append(id)
        if isinstance(self.fetched, Exception):
            raise self.fetched
        return self.fetched

    async def add_margin(self, symbol: str, amount: float, params: Any = None) -> dict[str, Any]:
        self.added.append(amount)
        return {}


def _snapshot_of_long() -> AccountSnapshot:
    position = Position(
        symbol=SYMBOL,
        side=Side.LONG,
        size=2.0,
        entry_price=100_000.0,
        mark_price=100_000.0,
        margin_mode=MarginMode.ISOLATED,
        collateral=20_000.0,
        taker_fee=0.0005,
    )
    return AccountSnapshot("binance", 50_000.0, (position,), datetime.now(UTC), account="main")


def test_fills_missing_from_the_response_are_read_back_by_order_id() -> None:
    port = ScriptedPort(
        {"id": "o1", "filled": 1.0, "average": 95_000.0, "fee": {"cost": 47.5, "currency": "USDT"}}
    )
    executor, _ = _executor(port, VirtualClock(0))

    asyncio.run(executor.execute("p1", _reduce_and_put_back(9_000.0), _snapshot_of_long()))

    assert port.fetches == ["o1"]
    assert port.added == [pytest.approx(10_000.0 - 5_000.0 - 47.5)]


def test_an_unreported_fee_is_estimated_at_the_taker_rate() -> None:
    port = ScriptedPort({"id": "o1", "filled": 1.0, "average": 95_000.0})
    executor, _ = _executor(port, VirtualClock(0))

    asyncio.run(executor.execute("p1", _reduce_and_put_back(9_000.0), _snapshot_of_long()))

    assert port.added == [pytest.approx(10_000.0 - 5_000.0 - 95_000.0 * 0.0005)]


@pytest.mark.parametrize(
    "fetched",
    [ccxt.ExchangeError("order lookup failed"), {"id": "o1", "status": "open", "filled": 0.0}],
    ids=["lookup fails", "nothing filled yet"],
)
def test_nothing_is_put_back_when_the_fills_stay_unknown(fetched: Any) -> None:
    port = ScriptedPort(fetched)
    executor, journal = _executor(port, VirtualClock(0))

    outcomes = asyncio.run(
        executor.execute("p1", _reduce_and_put_back(9_000.0), _snapshot_of_long())
    )

    assert port.added == []
    assert outcomes[1].status == "skipped"
    (skipped,) = journal.entries("margin_skipped")
    assert skipped.payload["reason"] == "the reduction's fills are unknown"
    assert journal.entries("fill_unknown")


def test_an_inverse_contracts_put_back_is_in_the_base_coin() -> None:
    # 100 contracts of 100 USD, long at 50,000 on 0.4 BTC; 50 closed at 40,000: 0.2 BTC of
    # margin comes back, the half lost 5,000 * (1/40,000 - 1/50,000) = 0.025 BTC, and the fee
    # is 5,000 / 40,000 * 0.0005 BTC.
    position = Position(
        symbol="BTC/USD:BTC",
        side=Side.LONG,
        size=10_000.0,
        entry_price=50_000.0,
        mark_price=50_000.0,
        margin_mode=MarginMode.ISOLATED,
        collateral=0.4,
        contract_size=100.0,
        taker_fee=0.0005,
        inverse=True,
    )
    snapshot = AccountSnapshot("binance", 1.0, (position,), datetime.now(UTC), account="main")
    port = ScriptedPort({"id": "o1", "filled": 50.0, "average": 40_000.0})
    executor, _ = _executor(port, VirtualClock(0))
    plan = [
        (
            Action(
                kind=ActionKind.REDUCE,
                account="main",
                symbol="BTC/USD:BTC",
                side=Side.LONG,
                rule="liquidation_distance",
                level=Level.ACT,
                reason="restore distance",
                size_before=10_000.0,
                target_size=5_000.0,
            ),
            [50.0],
        ),
        (
            Action(
                kind=ActionKind.ADD_MARGIN,
                account="main",
                symbol="BTC/USD:BTC",
                side=Side.LONG,
                rule="liquidation_distance",
                level=Level.ACT,
                reason="restore distance",
                margin=1.0,
            ),
            [],
        ),
    ]

    asyncio.run(executor.execute("p1", plan, snapshot))

    assert port.added == [pytest.approx(0.2 - 0.025 - 5_000 / 40_000 * 0.0005)]
