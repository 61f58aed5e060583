"""The whole guard cycle on the paper venue through crashes: it acts in time; no guard, no luck."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import Level, Rule
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config


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
    return build_rules(default_rule_configs())


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


def _stops(setup: PaperSetup) -> list[Any]:
    return [
        o
        for o in setup.venue.accounts["main"].orders.values()
        if o.status == "open" and o.trigger_price is not None
    ]


def test_guard_keeps_one_stop_and_finds_it_again_after_a_restart() -> None:
    setup = _paper([{**LONG_20X, "leverage": 5}], crash_pct=-1.0)
    journal = MemoryJournal()
    guard = _guard(setup, journal, [])
    acct = GuardAccount("main", setup.client("main", label="guard"), "paper", "binance")
    asyncio.run(guard.cycle(acct))
    first = _stops(setup)

    restarted = _guard(setup, MemoryJournal(), [])
    fresh = GuardAccount("main", setup.client("main", label="guard2"), "paper", "binance")
    for _ in range(3):
        setup.clock.advance_to(setup.venue.now_ms + 5_000)  # type: ignore[union-attr]
        asyncio.run(restarted.cycle(fresh))

    assert len(first) == 1
    assert first[0].client_order_id.startswith("rg")
    assert [o.id for o in _stops(setup)] == [first[0].id]


def test_bot_stop_that_protects_as_well_gets_no_duplicate() -> None:
    setup = _paper([{**LONG_20X, "leverage": 5}], crash_pct=-1.0)
    bot = setup.client("main", label="bot")
    asyncio.run(bot.load_markets())
    (pos,) = setup.venue.accounts["main"].positions.values()
    contracts = pos.size / setup.venue.markets["BTC/USDT:USDT"].contract_size
    asyncio.run(
        bot.create_order(
            "BTC/USDT:USDT",
            "market",
            "sell",
            contracts,
            None,
            {"stopLossPrice": pos.entry_price * 0.95, "reduceOnly": True, "clientOrderId": "bot1"},
        )
    )
    guard = _guard(setup, MemoryJournal(), [])
    acct = GuardAccount("main", setup.client("main", label="guard"), "paper", "binance")

    asyncio.run(guard.cycle(acct))

    assert [o.client_order_id for o in _stops(setup)] == ["bot1"]


def test_dry_run_guard_journals_and_alerts_but_sends_nothing() -> None:
    setup = _paper([LONG_20X])
    journal = MemoryJournal()
    guard = Guard(
        GuardConfig(poll_interval_s=5.0, dry_run=True),
        _rules(),
        journal=journal,
        clock=setup.clock,
        alert=lambda *_: None,
    )
    orders_before = len(setup.venue.accounts["main"].orders)

    asyncio.run(_replay(setup, guard, 5.0))

    sent = [o for o in setup.venue.accounts["main"].orders if not o.startswith("liq")]
    assert len(sent) == orders_before
    assert journal.entries("order_dry_run")
    assert not journal.entries("order_sent")
    assert setup.venue.liquidations, "a dry run protects nothing"


@pytest.mark.parametrize("seed", range(6))
def test_with_faults_on_no_order_is_duplicated_or_adds_exposure(seed: int) -> None:
    from riskguard.paper.faults import FaultConfig, MethodFaults

    setup = _paper([LONG_20X])
    setup.faults = FaultConfig(
        seed=seed,
        methods={
            "create_order": MethodFaults(timeout=0.2, accepted_timeout=0.2, reject=0.2),
            "*": MethodFaults(timeout=0.05, unavailable=0.05),
        },
    )
    journal = MemoryJournal()

    asyncio.run(_replay(setup, _guard(setup, journal, []), 5.0))

    orders = list(setup.venue.accounts["main"].orders.values())
    guard_ids = [o.client_order_id for o in orders if o.client_order_id]
    assert len(guard_ids) == len(set(guard_ids)), "a client id was used twice"
    for order in orders[1:]:  # the first is the configured opening trade
        assert order.reduce_only, f"{order.id} could add exposure"
        assert order.side == "sell"
    assert journal.entries("plan"), "the guard should have planned something in the crash"
