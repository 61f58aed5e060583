"""A 3x borrowed long through a crash on the paper spot margin venue: with no one acting the
venue liquidates it; a scripted seller (a test-only stand-in for a guard) that sells with
AUTO_REPAY when the margin level falls below 1.3 ends the same crash without a liquidation and
with assets above liabilities. Once on a synthetic crash (always runs), once on a real one
(BTC 2021-05-19 from ../shared/data/crashes, skipped when that data is absent)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from riskguard.paper.spot_margin.client import SpotMarginExchange
from riskguard.paper.spot_margin.config import (
    SpotMarginSetup,
    build_spot_margin,
    parse_spot_margin_config,
)

CRASH_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "crashes"
EQUITY = 1000.0
LEVERAGE = 2.95  # coin worth 2.95x the equity: 3x less the spread and fees fits the 3x limit
POLL_MS = 60_000
SYMBOL = "BTC/USDT"

SYNTHETIC_FEED = {
    "jump_diffusion": {
        "start_price": 40_000,
        "daily_volatility_pct": 3.0,
        "bars": 720,
        "seed": 7,
        "crash_at_bar": 240,
        "crash_pct": -40.0,
        "crash_bars": 120,
        "start": "2024-01-01T00:00:00Z",
    }
}


def _setup(feed: dict[str, Any]) -> SpotMarginSetup:
    config = parse_spot_margin_config(
        {
            "markets": [{"symbol": SYMBOL, "feed": feed}],
            "rules": {"interest_per_hour_pct": {"USDT": 0.001}},
            "accounts": [
                {
                    "id": "long",
                    "holdings": {"USDT": EQUITY},
                    "open": [{"symbol": SYMBOL, "side": "buy", "quote_value": EQUITY * LEVERAGE}],
                }
            ],
        }
    )
    return build_spot_margin(config)


@dataclass
class ScriptedSeller:
    """Test-only stand-in for a guard: every poll it reads the margin level through the client
    and, below ``act_below``, sells the coin with AUTO_REPAY until the level would be ``target``."""

    client: SpotMarginExchange
    act_below: float = 1.3
    target: float = 1.8
    sells: int = 0

    async def poll(self) -> None:
        balance = await self.client.fetch_balance({"type": "margin"})
        level = float(balance["info"]["marginLevel"])
        if level >= self.act_below:
            return
        ticker = await self.client.fetch_ticker(SYMBOL)
        price, bid = ticker["last"], ticker["bid"]
        assets = balance["BTC"]["total"] * price + balance["USDT"]["total"]
        liabilities = balance["USDT"]["debt"] + balance["BTC"]["debt"] * price
        # selling x at the bid repays x * bid * (1 - fee): (A - x p) / (L - x r) = target
        repaid = bid * 0.998
        x = (self.target * liabilities - assets) / (self.target * repaid - price)
        amount = math.floor(min(x, balance["BTC"]["free"]) * 1e5) / 1e5
        if amount <= 0:
            return
        await self.client.create_order(
            SYMBOL, "market", "sell", amount, None,
            {"marginMode": "cross", "sideEffectType": "AUTO_REPAY"},
        )  # fmt: skip
        self.sells += 1


@dataclass(frozen=True)
class Outcome:
    liquidations: int
    first_liquidation_ms: int | None
    level_at_liquidation: float | None
    min_level: float
    assets: float
    liabilities: float
    sells: int

    @property
    def equity(self) -> float:
        return self.assets - self.liabilities


def _run(setup: SpotMarginSetup, *, seller: bool) -> Outcome:
    venue, clock = setup.venue, setup.clock
    client = setup.client("long")
    bot = ScriptedSeller(client) if seller else None
    lowest = [venue.margin_level("long")]
    venue.add_tick_listener(lambda _s, _t: lowest.append(venue.margin_level("long")))

    async def drive() -> None:
        while venue.now_ms < venue.end_ms:
            clock.advance_to(min(venue.now_ms + POLL_MS, venue.end_ms))
            if bot is not None:
                await bot.poll()

    asyncio.run(drive())
    acc = venue.accounts["long"]
    assets = sum(b.held * venue.price_of(a) for a, b in acc.assets.items())
    liabilities = sum(b.debt * venue.price_of(a) for a, b in acc.assets.items())
    first = venue.liquidations[0] if venue.liquidations else None
    return Outcome(
        len(venue.liquidations),
        first.time_ms if first else None,
        first.margin_level_before if first else None,
        min(lowest),
        assets,
        liabilities,
        bot.sells if bot else 0,
    )


def _check_pair(feed: dict[str, Any]) -> tuple[Outcome, Outcome]:
    alone = _run(_setup(feed), seller=False)
    guarded = _run(_setup(feed), seller=True)

    assert alone.liquidations >= 1
    assert alone.level_at_liquidation is not None
    assert alone.level_at_liquidation <= 1.1
    assert guarded.liquidations == 0
    assert guarded.sells >= 1
    assert guarded.min_level > 1.1
    assert guarded.assets > guarded.liabilities
    assert guarded.equity > alone.equity
    return alone, guarded


def test_a_3x_borrowed_long_on_a_synthetic_crash_is_liquidated_alone_and_saved_by_a_seller() -> (
    None
):
    alone, guarded = _check_pair(SYNTHETIC_FEED)

    assert alone.first_liquidation_ms is not None
    assert guarded.equity > 2 * alone.equity


@pytest.mark.shared_data
def test_a_3x_borrowed_long_through_btc_2021_05_19_is_liquidated_alone_and_saved_by_a_seller() -> (
    None
):
    path = CRASH_DIR / "btcusdt-perp-2021-05-19.csv"
    if not path.exists():
        pytest.skip(f"shared crash data not found at {path}: ../shared/data is absent")

    alone, guarded = _check_pair({"csv": str(path)})

    # 2021-05-19: the venue liquidates in the 13:00 UTC leg, as the price falls through ~31,000
    assert alone.first_liquidation_ms is not None
    assert 1621429200000 <= alone.first_liquidation_ms < 1621432800000
    assert guarded.equity > 2 * alone.equity
