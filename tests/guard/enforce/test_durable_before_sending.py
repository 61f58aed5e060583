"""Nothing reaches the exchange before its intent is on disk (issue 17: the journal's barrier).

The daemon's journal commits on a writer thread, so an append returns before its entry is
durable. Here the writer is kept busy (a disk as slow as it may be) until someone awaits the
barrier, and the exchange checks, at every call that changes the account, that every entry
journalled so far is committed: an executor that sent without awaiting ``journal.durable()``
would be caught with its intent still queued.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import GroupCommitJournal
from riskguard.domain import MarginMode, Side
from riskguard.exchange.ccxt_account import open_stops_from_ccxt
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.exchange import PaperExchange
from tests.daemon.journal.helpers import hold_writer
from tests.guard.enforce.paper_account import SYMBOL, long_venue, reduce_long, snapshot_of

_ACTING = frozenset({"create_order", "cancel_order", "add_margin", "set_leverage"})


class _SlowDiskJournal(GroupCommitJournal):
    """Commits nothing until the barrier is awaited, then holds the writer again."""

    def hold(self) -> None:
        self._release: threading.Event = hold_writer(self)

    async def durable(self) -> None:
        self._release.set()
        await super().durable()
        self.hold()

    def close(self) -> None:
        self._release.set()
        super().close()


class _CheckingExchange:
    """The paper exchange, noting at each call that changes the account whether everything
    journalled before it was committed."""

    def __init__(self, inner: PaperExchange, journal: GroupCommitJournal) -> None:
        self.inner = inner
        self.journal = journal
        self.calls: list[tuple[str, bool]] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if name not in _ACTING:
            return value

        async def checked(*args: Any, **kwargs: Any) -> Any:
            on_disk = self.journal.committed_seq >= self.journal.queued_seq
            self.calls.append((name, on_disk))
            return await value(*args, **kwargs)

        return checked


def _run(
    path: Path, mode: MarginMode, plans: list[list[tuple[Action, list[float]]]]
) -> list[tuple[str, bool]]:
    venue, clock = long_venue(mode)
    client = PaperExchange(venue, "main", clock=clock)
    journal = _SlowDiskJournal(path, clock=VirtualClock(venue.now_ms))
    exchange = _CheckingExchange(client, journal)
    executor = Executor(
        exchange,  # type: ignore[arg-type]
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda *_: None,
        config=ExecutorConfig(prefix="rg", amount_steps={SYMBOL: 0.001}),
    )

    async def execute_all() -> None:
        journal.hold()
        for i, actions in enumerate(plans):
            snapshot = await snapshot_of(client)
            markets = await client.load_markets()
            open_orders = await client.fetch_open_orders(SYMBOL, params={"trigger": True})
            stops = open_stops_from_ccxt(
                open_orders, markets, lambda c: is_guard_client_id(c, "rg")
            )
            await executor.execute(f"p{i}", actions, snapshot, stops)

    try:
        asyncio.run(execute_all())
    finally:
        journal.close()
    return exchange.calls


def _guard_owned(client_id: str) -> bool:
    return is_guard_client_id(client_id, "rg")


def _stop(price: float) -> Action:
    return Action(
        kind=ActionKind.PLACE_STOP,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="stop_loss",
        level=Level.WARN,
        reason="keep a stop",
        target_size=2.0,
        stop_price=price,
    )


def _margin_step(kind: ActionKind, **figures: float) -> Action:
    return Action(
        kind=kind,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="liquidation_distance",
        level=Level.ACT,
        reason="restore distance",
        **figures,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("mode", "plans", "expected"),
    [
        (MarginMode.CROSS, [[(reduce_long(0.5), [1.0, 0.5])]], ["create_order", "create_order"]),
        (
            MarginMode.CROSS,
            [[(_stop(91_000.0), [])], [(_stop(93_000.0), [])]],
            ["create_order", "create_order", "cancel_order"],
        ),
        (
            MarginMode.ISOLATED,
            [[(_margin_step(ActionKind.ADD_MARGIN, margin=1_000.0), [])]],
            ["add_margin"],
        ),
        (
            MarginMode.CROSS,
            [[(_margin_step(ActionKind.SET_LEVERAGE, leverage=5.0), [])]],
            ["set_leverage"],
        ),
    ],
    ids=["reduce-in-two-orders", "stop-replaced", "add-margin", "set-leverage"],
)
def test_every_call_that_changes_the_account_waits_until_its_intent_is_on_disk(
    tmp_path: Path,
    mode: MarginMode,
    plans: list[list[tuple[Action, list[float]]]],
    expected: list[str],
) -> None:
    calls = _run(tmp_path / "journal.sqlite", mode, plans)

    assert [name for name, _ in calls] == expected
    assert all(on_disk for _, on_disk in calls), calls
