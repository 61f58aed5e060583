"""The whole guard cycle on the paper venue through crashes: it acts in time; no guard, no luck."""

from __future__ import annotations

import asyncio
from typing import Any

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.enforce.journal import MemoryJournal
from riskguard.guard import Guard, GuardAccount
from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config
from riskguard.rules.base import Level, Rule
from riskguard.rules.liquidation_distance import LiquidationDistanceConfig, LiquidationDistanceRule


def _paper(
    positions: list[dict[str, Any]],
    *,
    crash_pct: float = -30.0,
    symbols: tuple[str, ...] = ("BTC/USDT:USDT",),
    balance: float = 10_000.0,
) -> PaperSetup:
    markets = []
    for i, symbol in enumerate(symbols):
        markets.append(
            {
                "symbol": symbol,
                "maintenance_margin_rate": 0.005,
                "amount_step": 0.0001,
                "min_amount": 0.0001,
                "feed": {
                    "jump_diffusion": {
                        "start_price": [100_000, 4_000, 200][i],
                        "start": "2024-01-01T00:00:00Z",
                        "daily_volatility_pct": 3,
                        "bars": 240,
                        "seed": 5 + i,
                        "crash_at_bar": 60,
                        "crash_pct": crash_pct,
                        "crash_bars": 60,
                    }
                },
            }
        )
    config = parse_paper_config(
        {
            "venue": "binance",
            "markets": markets,
            "accounts": [{"id": "main", "balance": balance, "positions": positions}],
        }
    )
    return build_paper(config)


def _rules() -> list[Rule]:
    return [LiquidationDistanceRule(LiquidationDistanceConfig(type="liquidation_distance"))]


async def _replay(setup: PaperSetup, guard: Guard | None, poll_s: float) -> GuardAccount:
    acct = GuardAccount(
        account="main",
        port=setup.client("main", label="guard"),
        exchange_id="paper",
        venue="binance",
        default_margin_mode=MarginMode.CROSS,
    )
    end = setup.venue.end_ms
    clock = setup.clock
    assert hasattr(clock, "advance_to")
    while setup.venue.now_ms < end:
        if guard is not None:
            await guard.cycle(acct)
        clock.advance_to(min(end, setup.venue.now_ms + int(poll_s * 1000)))  # type: ignore[union-attr]
    return acct


def _guard(setup: PaperSetup, journal: MemoryJournal, alerts: list[Any]) -> Guard:
    return Guard(
        GuardConfig(poll_interval_s=5.0),
        _rules(),
        journal=journal,
        clock=setup.clock,
        alert=lambda level, message, payload: alerts.append((level, message)),
    )


LONG_20X = {
    "symbol": "BTC/USDT:USDT",
    "side": "long",
    "leverage": 20,
    "margin_mode": "isolated",
    "notional": 40_000,
}


def test_isolated_20x_long_without_guard_is_liquidated_in_a_30pct_crash() -> None:
    setup = _paper([LONG_20X])

    asyncio.run(_replay(setup, None, 5.0))

    assert [r.symbol for r in setup.venue.liquidations] == ["BTC/USDT:USDT"]


def test_isolated_20x_long_with_guard_is_reduced_in_time_and_never_liquidated() -> None:
    setup = _paper([LONG_20X])
    journal = MemoryJournal()
    alerts: list[Any] = []

    asyncio.run(_replay(setup, _guard(setup, journal, alerts), 5.0))

    assert setup.venue.liquidations == []
    sent = journal.entries("order_sent")
    assert sent, "the guard should have reduced the position"
    intents = journal.entries("order_intent")
    assert all(e.payload["side"] == "sell" for e in intents)
    crash_start = setup.venue.now_ms - 180 * 60_000  # the crash starts at bar 60 of 240
    assert sent[0].time_ms < crash_start + 60 * 60_000


def test_cross_account_with_three_positions_survives_with_the_guard_and_not_without() -> None:
    positions = [
        {"symbol": s, "side": "long", "leverage": 10, "margin_mode": "cross", "notional": n}
        for s, n in (
            ("BTC/USDT:USDT", 30_000),
            ("ETH/USDT:USDT", 20_000),
            ("SOL/USDT:USDT", 10_000),
        )
    ]
    symbols = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")
    unguarded = _paper(positions, symbols=symbols)
    guarded = _paper(positions, symbols=symbols)
    journal = MemoryJournal()

    asyncio.run(_replay(unguarded, None, 5.0))
    asyncio.run(_replay(guarded, _guard(guarded, journal, []), 5.0))

    assert unguarded.venue.liquidations
    assert guarded.venue.liquidations == []
    assert guarded.venue.total_equity() > 0


def test_short_with_guard_survives_a_40pct_squeeze_that_liquidates_it_without() -> None:
    short = {**LONG_20X, "side": "short", "leverage": 10}
    unguarded = _paper([short], crash_pct=40.0)
    guarded = _paper([short], crash_pct=40.0)
    journal = MemoryJournal()

    asyncio.run(_replay(unguarded, None, 5.0))
    asyncio.run(_replay(guarded, _guard(guarded, journal, []), 5.0))

    assert [r.side for r in unguarded.venue.liquidations] == ["short"]
    assert guarded.venue.liquidations == []
    assert all(e.payload["side"] == "buy" for e in journal.entries("order_intent"))


def test_guard_alerts_and_never_acts_when_the_exchange_stops_answering() -> None:
    setup = _paper([LONG_20X])
    journal = MemoryJournal()
    alerts: list[Any] = []
    guard = _guard(setup, journal, alerts)
    acct = GuardAccount("main", setup.client("main"), "paper", "binance")
    asyncio.run(guard.cycle(acct))
    from riskguard.paper.faults import FaultConfig, MethodFaults

    acct.port = setup.client("main", label="broken")
    acct.port.faults.config = FaultConfig(
        seed=1, methods={"fetch_positions": MethodFaults(unavailable=1.0)}
    )
    orders_before = len(journal.entries("order_intent"))

    report = asyncio.run(guard.cycle(acct))

    assert report.actionable is False
    assert len(journal.entries("order_intent")) == orders_before
    assert alerts[-1][0] >= Level.WARN
