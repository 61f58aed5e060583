"""A ``kind: spot_margin`` account in the daemon: configured like any live account, wired with
the spot margin guard, cycled, journalled; its repaying order's intent survives a restart
(issue 16, part 4). The exchange client is the paper spot margin venue's ccxt-shaped client, in
place of ccxt's ``binance`` (it answers as ccxt parses Binance), over prices that start now."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from riskguard.clock import PacedClock
from riskguard.config import load_config
from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.scheduler import Daemon
from riskguard.daemon.wiring import build_runtime
from riskguard.errors import ConfigError
from riskguard.paper.spot_margin.client import SpotMarginExchange
from riskguard.paper.spot_margin.venue import SpotMarginVenue
from tests.daemon.conftest import write_config
from tests.paper.spot_margin.kit import bars

ENV = {"RG_MARGIN_KEY": "rgMarginKey4Tq8Vn2Lx6", "RG_MARGIN_SECRET": "rgMarginSecret9Kd3Wp7Zs1"}


def _venue_now(borrowed_usdt: float) -> tuple[SpotMarginVenue, PacedClock]:
    start = int(time.time() // 60 * 60 * 1000)
    from riskguard.paper.market import SlippageModel
    from riskguard.paper.spot_margin.rules import MarginRules, SpotMarket

    market = SpotMarket(
        "BTC/USDT",
        maker_fee=0.0,
        taker_fee=0.0,
        spread=0.0,
        slippage=SlippageModel(0.0, 0.0, 0.0),
        mark_half_life_s=0.0,
    )
    venue = SpotMarginVenue(
        [market], {"BTC/USDT": bars([100.0] * 30, start_ms=start)}, MarginRules()
    )
    venue.add_account("margin", {"BTC": 30.0}, {"USDT": borrowed_usdt})
    # The venue's time is the wall time (the guard reads tickers against its own clock).
    return venue, PacedClock(int(time.time() * 1000), 1.0)


def _config(tmp_path: Path, journal: Path) -> Path:
    return write_config(
        tmp_path,
        {
            "journal": {"path": str(journal)},
            "guard": {"poll_interval_s": 1, "spot_margin": {"gap_pct": 10}},
            "accounts": [
                {
                    "id": "margin",
                    "kind": "spot_margin",
                    "exchange": "binance",
                    "api_key_env": "RG_MARGIN_KEY",
                    "secret_env": "RG_MARGIN_SECRET",
                }
            ],
        },
    )


def _factory(venue: SpotMarginVenue, clock: PacedClock) -> Any:
    def make(account: Any, credentials: Any) -> SpotMarginExchange:
        client = SpotMarginExchange(venue, "margin", clock=clock)
        client.options = {}  # type: ignore[attr-defined] - LiveExchange sets ccxt options
        return client

    return make


def test_a_spot_margin_account_is_cycled_by_the_daemon_and_repaid(tmp_path: Path) -> None:
    venue, clock = _venue_now(2_600.0)  # level 1.154: a 4.7% fall liquidates
    journal_path = tmp_path / "journal.sqlite3"
    runtime = build_runtime(
        _config(tmp_path, journal_path), environ=ENV, client_factory=_factory(venue, clock)
    )
    alerts: list[str] = []

    asyncio.run(Daemon(runtime, alert=lambda _l, m, _p: alerts.append(m)).run_once())

    assert venue.margin_level("margin") > 1.3
    journal = SqliteJournal(journal_path)
    try:
        (intent,) = journal.entries("order_intent", "margin")
        assert intent.payload["params"]["sideEffectType"] == "AUTO_REPAY"
        assert journal.entries("order_sent", "margin")
        assert journal.entries("margin_finding", "margin")
    finally:
        journal.close()


def test_a_repaying_order_never_settled_is_pending_after_a_restart(tmp_path: Path) -> None:
    venue, clock = _venue_now(2_600.0)
    journal_path = tmp_path / "journal.sqlite3"
    journal = SqliteJournal(journal_path)
    journal.append(
        "order_intent",
        "margin",
        1,
        {"client_id": "rg1lostorder00000001", "symbol": "BTC/USDT", "side": "sell"},
    )
    journal.close()

    runtime = build_runtime(
        _config(tmp_path, journal_path), environ=ENV, client_factory=_factory(venue, clock)
    )

    (margin,) = runtime.margin_accounts
    assert margin.pending == {"rg1lostorder00000001": "BTC/USDT"}
    assert any("never settled" in n for n in runtime.notices)
    asyncio.run(runtime.aclose())
    runtime.journal.close()  # type: ignore[attr-defined]


def test_a_spot_margin_account_on_an_exchange_it_cannot_read_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {"accounts": [{"id": "m", "kind": "spot_margin", "exchange": "kraken"}]},
    )

    with pytest.raises(ConfigError, match=r"accounts\[0\].*kind: spot_margin accounts are read"):
        load_config(path)
