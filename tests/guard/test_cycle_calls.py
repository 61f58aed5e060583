"""How a cycle makes its calls: together on a live venue, one by one where they answer at once,
and the same guard either way; an unchanged book is not evaluated twice."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.guard.cycle import CycleReport, Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config
from riskguard.paper.exchange import PaperExchange
from riskguard.risk.evaluation import evaluate_account

BTC = "BTC/USDT:USDT"


def _paper(leverage: float = 20) -> PaperSetup:
    market = {
        "symbol": BTC,
        "maintenance_margin_rate": 0.005,
        "amount_step": 0.0001,
        "min_amount": 0.0001,
        "feed": {
            "jump_diffusion": {
                "start_price": 100_000,
                "start": "2024-01-01T00:00:00Z",
                "daily_volatility_pct": 3,
                "bars": 120,
                "seed": 5,
                "crash_at_bar": 30,
                "crash_pct": -30,
                "crash_bars": 40,
            }
        },
    }
    long_20x = {"symbol": BTC, "side": "long", "leverage": leverage, "notional": 40_000}
    config = parse_paper_config(
        {
            "venue": "binance",
            "markets": [market],
            "accounts": [{"id": "main", "balance": 10_000, "positions": [long_20x]}],
        }
    )
    return build_paper(config)


async def _guarded(poll_s: float) -> tuple[PaperSetup, MemoryJournal, list[CycleReport]]:
    setup = _paper()
    journal = MemoryJournal()
    guard = Guard(
        GuardConfig(poll_interval_s=poll_s),
        build_rules(default_rule_configs()),
        journal=journal,
        clock=setup.clock,
        alert=lambda level, message, payload: None,
    )
    acct = GuardAccount(
        account="main",
        port=setup.client("main", label="guard"),
        exchange_id="paper",
        venue="binance",
        default_margin_mode=MarginMode.ISOLATED,
    )
    reports = []
    clock: Any = setup.clock
    while setup.venue.now_ms < setup.venue.end_ms:
        reports.append(await guard.cycle(acct))
        clock.advance_to(min(setup.venue.end_ms, setup.venue.now_ms + int(poll_s * 1000)))
    return setup, journal, reports


def _what_happened(setup: PaperSetup, journal: MemoryJournal) -> tuple[object, ...]:
    account = setup.venue.account("main")
    trades = [(t.timestamp, t.side, t.amount, t.price) for t in account.trades]
    kinds = [(e.time_ms, e.kind) for e in journal.entries()]
    return trades, account.wallet, len(setup.venue.liquidations), kinds


def test_calls_awaited_one_by_one_guard_as_calls_awaited_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup, journal, _ = asyncio.run(_guarded(5.0))
    at_once = _what_happened(setup, journal)
    assert journal.entries("order_sent"), "the guard should act in this crash"

    monkeypatch.setattr(PaperExchange, "answers_at_once", property(lambda self: False))
    setup, journal, _ = asyncio.run(_guarded(5.0))

    assert _what_happened(setup, journal) == at_once


def test_every_evaluation_a_cycle_reports_is_the_one_its_snapshot_and_settings_give() -> None:
    _, _, reports = asyncio.run(_guarded(5.0))

    held = [r for r in reports if r.snapshot is not None and r.snapshot.positions]
    reused = fresh = 0
    for before, after in itertools.pairwise(held):
        assert after.evaluation is not None
        assert after.snapshot is not None
        assert after.evaluation == evaluate_account(after.snapshot, after.evaluation.settings)
        if after.evaluation is before.evaluation:
            reused += 1
        else:
            fresh += 1
    assert reused > 0
    assert fresh > 0


def test_a_poll_a_second_later_on_the_same_prices_is_not_evaluated_again() -> None:
    setup = _paper(leverage=5)  # the guard only places its stop: the book moves with prices
    guard = Guard(
        GuardConfig(poll_interval_s=1.0),
        build_rules(default_rule_configs()),
        journal=MemoryJournal(),
        clock=setup.clock,
        alert=lambda level, message, payload: None,
    )
    acct = GuardAccount("main", setup.client("main"), "paper", "binance")
    clock: Any = setup.clock

    first = asyncio.run(guard.cycle(acct))
    clock.advance_to(setup.venue.now_ms + 1_000)
    second = asyncio.run(guard.cycle(acct))
    clock.advance_to(setup.venue.now_ms + 60_000)
    third = asyncio.run(guard.cycle(acct))

    assert second.outcomes == ()
    assert second.evaluation is first.evaluation
    assert third.evaluation is not first.evaluation
    assert third.snapshot is not None
    assert third.evaluation is not None
    assert third.evaluation == evaluate_account(third.snapshot, third.evaluation.settings)
