"""A position the guard cannot read is alerted and blocks actions on its account until it reads
(issue 16, part 2): never dropped, never acted on with a guess."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.registry import build_rules, default_rule_configs

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SYMBOL = "ETH/USDT:USDT"
MARKET = {
    "id": "ETHUSDT",
    "symbol": SYMBOL,
    "base": "ETH",
    "quote": "USDT",
    "settle": "USDT",
    "type": "swap",
    "swap": True,
    "contract": True,
    "linear": True,
    "contractSize": 1.0,
    "maintenanceMarginPercentage": 0.01,
    "precision": {"amount": 0.001, "price": 0.01},
    "limits": {"amount": {"min": 0.001}},
}
UNREADABLE = {  # no entry price in ccxt's row nor in the venue's raw row
    "symbol": SYMBOL,
    "side": "short",
    "contracts": 40.0,
    "entryPrice": None,
    "markPrice": 3_000.0,
    "marginMode": "cross",
    "leverage": 20.0,
    "info": {"positionAmt": "-40"},
}
READABLE = {**UNREADABLE, "info": {"positionAmt": "-40", "entryPrice": "2900"}}


class _Venue:
    has: dict[str, bool] = {}  # noqa: RUF012 - a fake's fixed capabilities

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers = list(answers)

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return {SYMBOL: MARKET}

    async def fetch_balance(self, params: Any = None) -> dict[str, Any]:
        return {"total": {"USDT": 7_000.0}, "free": {"USDT": 1_000.0}}

    async def fetch_positions(self, symbols: Any = None, params: Any = None) -> list[Any]:
        return [dict(self.answers.pop(0))]

    async def fetch_leverage_tiers(self, symbols: Any = None, params: Any = None) -> dict[str, Any]:
        return {}

    async def fetch_open_orders(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def fetch_ohlcv(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _Clock:
    t = int(NOW.timestamp() * 1000)

    def now_ms(self) -> int:
        self.t += 1000
        return self.t

    async def sleep(self, seconds: float) -> None:
        return None


def test_an_unreadable_position_is_alerted_blocks_actions_and_reads_again_later() -> None:
    alerts: list[str] = []
    journal = MemoryJournal()
    guard = Guard(
        GuardConfig(),
        build_rules(default_rule_configs()),
        journal=journal,
        clock=_Clock(),
        alert=lambda level, message, payload: alerts.append(message),
    )
    acct = GuardAccount("acct", _Venue(UNREADABLE, READABLE), "x", "binance", MarginMode.CROSS)
    acct.alert_only = True  # plans are made but nothing is sent: the fake takes no orders

    first = asyncio.run(guard.cycle(acct))
    second = asyncio.run(guard.cycle(acct))

    assert not first.actionable
    assert first.plan is None
    assert first.outcomes == ()
    assert first.error is not None
    assert "ETH/USDT:USDT short 40 contracts: unreadable, no entry price" in first.error
    assert any("unreadable, no entry price" in m for m in alerts)
    assert any("unreadable" in e.payload["reason"] for e in journal.entries("stale"))
    assert second.actionable
    assert second.plan is not None  # readable again: the guard plans for the 20x short
    assert second.snapshot is not None
    assert second.snapshot.positions[0].entry_price == 2_900.0
