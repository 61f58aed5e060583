"""The wallet is read in the account's settle currency, known from the markets, never guessed
from the positions (issue 16).

A flat account on a venue that settles in USDC (Hyperliquid, Binance's USDC-M markets) used to
read a wallet of 0: the settle currency came from the first position and fell back to USDT when
there was none. The drawdown rule then saw the account fall 100% from its peak and held it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.exchange.ccxt_account import settle_currency, settle_notes, snapshot_from_ccxt
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.registry import build_rules, default_rule_configs

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _market(symbol: str) -> dict[str, Any]:
    base, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    return {
        "id": base + quote,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle,
        "type": "swap",
        "swap": True,
        "contract": True,
        "linear": True,
        "inverse": False,
        "contractSize": 1.0,
        "maintenanceMarginPercentage": 0.01,
        "precision": {"amount": 0.00001, "price": 1.0},
        "limits": {"amount": {"min": 0.00001}},
    }


# What ccxt gives for a flat Hyperliquid-style account: USDC only, no cross-wallet field.
USDC_MARKETS = {s: _market(s) for s in ("BTC/USDC:USDC", "ETH/USDC:USDC")}
USDC_BALANCE = {
    "info": {"marginSummary": {"accountValue": "1000.0"}},
    "USDC": {"free": 1000.0, "used": 0.0, "total": 1000.0},
    "free": {"USDC": 1000.0},
    "used": {"USDC": 0.0},
    "total": {"USDC": 1000.0},
}


def _snapshot(balance: dict[str, Any], markets: dict[str, Any], **kw: Any) -> Any:
    return snapshot_from_ccxt(
        account="flat",
        venue="hyperliquid",
        balance=balance,
        positions=[],
        markets=markets,
        tiers={},
        taken_at=NOW,
        **kw,
    )


def test_a_flat_usdc_account_reads_its_usdc_wallet() -> None:
    snapshot = _snapshot(USDC_BALANCE, USDC_MARKETS)

    assert snapshot.wallet_balance == 1000.0
    assert snapshot.settle == "USDC"


def test_with_markets_in_several_settle_currencies_the_funded_one_is_the_wallet() -> None:
    markets = {**USDC_MARKETS, "BTC/USDT:USDT": _market("BTC/USDT:USDT")}
    balance = {"total": {"USDT": 0.0, "USDC": 1000.0}, "free": {"USDC": 1000.0}}

    assert settle_currency(balance, [], markets) == "USDC"
    assert settle_currency({"total": {"USDT": 5.0}}, [], markets) == "USDT"


def test_a_configured_settle_currency_wins_and_an_unfunded_one_reads_zero() -> None:
    snapshot = _snapshot(USDC_BALANCE, USDC_MARKETS, settle="USDT")

    assert (snapshot.settle, snapshot.wallet_balance) == ("USDT", 0.0)


def test_positions_in_two_settle_currencies_are_read_in_the_first_and_said_so() -> None:
    # An account whose answer does not show it as unified (those are read in USD, see
    # test_account_kind.py) is not refused (that would blind the guard) but carries a note.
    symbols = ["BTC/USDT:USDT", "ETH/USDC:USDC"]

    assert settle_currency({}, symbols, USDC_MARKETS) == "USDT"
    (note,) = settle_notes("USDT", symbols)
    assert "positions settle in USDT and USDC" in note
    assert settle_notes("USDC", ["ETH/USDC:USDC"]) == ()


LONG = {
    "symbol": "BTC/USDC:USDC",
    "side": "long",
    "contracts": 0.01,
    "contractSize": 1.0,
    "entryPrice": 100_000.0,
    "markPrice": 100_000.0,
    "notional": 1_000.0,
    "marginMode": "cross",
    "leverage": 2.0,
    "unrealizedPnl": 0.0,
    "info": {},
}


class _UsdcVenue:
    """A USDC-settled account answering as ccxt does: a long, then flat (the bot closed it)."""

    def __init__(self) -> None:
        self.has: dict[str, bool] = {}
        self.positions: list[list[dict[str, Any]]] = [[LONG], [], []]

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return USDC_MARKETS

    async def fetch_balance(self, params: Any = None) -> dict[str, Any]:
        return USDC_BALANCE

    async def fetch_positions(self, symbols: Any = None, params: Any = None) -> list[Any]:
        return self.positions.pop(0) if len(self.positions) > 1 else self.positions[0]

    async def fetch_leverage_tiers(self, symbols: Any = None, params: Any = None) -> dict[str, Any]:
        return {}

    async def fetch_open_orders(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def fetch_ohlcv(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def test_an_account_gone_flat_in_usdc_keeps_its_wallet_and_raises_no_drawdown() -> None:
    # Before: with the position the wallet read 1,000 USDC; flat, it read the USDT total, 0, and
    # the drawdown rule found the account 100% below its peak.
    alerts: list[Any] = []
    journal = MemoryJournal()

    class Clock:
        t = int(NOW.timestamp() * 1000)

        def now_ms(self) -> int:
            self.t += 1000
            return self.t

        async def sleep(self, seconds: float) -> None:
            return None

    guard = Guard(
        GuardConfig(),
        build_rules(default_rule_configs()),
        journal=journal,
        clock=Clock(),
        alert=lambda level, message, payload: alerts.append((level, message)),
    )
    acct = GuardAccount("usdc", _UsdcVenue(), "hyperliquid", "hyperliquid", MarginMode.CROSS)

    async def cycles() -> list[float]:
        wallets = []
        for _ in range(3):
            await guard.cycle(acct)
            assert acct.last_snapshot is not None
            wallets.append(acct.last_snapshot.wallet_balance)
        return wallets

    assert asyncio.run(cycles()) == [1000.0, 1000.0, 1000.0]
    drawdown = [e for e in journal.entries("finding") if e.payload["rule_type"] == "drawdown"]
    assert drawdown == []
    assert not [message for _, message in alerts if "drawdown" in message]
