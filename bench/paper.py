"""How fast the paper venue replays: 10 accounts x 5 positions over a 24-hour 1-minute crash.

Prints simulated minutes per wall-clock second (target: the whole day in under 5 s). Uses the
real 2021-05-19 BTCUSDT crash from ../shared/data/crashes for all five markets (scaled), or a
seeded synthetic jump-diffusion crash when the shared data is absent.

Run: .venv/bin/python bench/paper.py
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

from riskguard.clock import VirtualClock
from riskguard.domain import MarginMode, Side, Tier
from riskguard.paper.engine import PaperVenue
from riskguard.paper.feeds import Bars, jump_diffusion_bars, read_price_csv
from riskguard.paper.market import PaperMarket
from riskguard.risk import get_profile, with_cumulative_amounts

CRASH = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "crashes"
    / "btcusdt-perp-2021-05-19.csv"
)
SYMBOLS = ("BTC", "ETH", "SOL", "XRP", "DOGE")
SCALES = (1.0, 0.07, 0.003, 0.00003, 0.00001)
TIERS = with_cumulative_amounts(
    [
        Tier(0, 50_000, 0.004, max_leverage=125),
        Tier(50_000, 600_000, 0.005, max_leverage=100),
        Tier(600_000, 3_000_000, 0.0065, max_leverage=75),
        Tier(3_000_000, 12_000_000, 0.01, max_leverage=50),
    ]
)


def _feeds() -> tuple[dict[str, Bars], str]:
    if CRASH.exists():
        base = read_price_csv(CRASH, "BTC/USDT:USDT")
        source = f"real crash {CRASH.name}"
    else:
        base = jump_diffusion_bars(
            "BTC/USDT:USDT",
            start_price=40_000,
            daily_volatility=0.05,
            start_ms=1_621_382_400_000,
            bars=1440,
            seed=7,
            crash_at_bar=600,
            crash_size=-0.3,
            crash_bars=120,
        )
        source = "synthetic jump-diffusion crash (shared data absent)"
    feeds = {}
    for name, scale in zip(SYMBOLS, SCALES, strict=True):
        symbol = f"{name}/USDT:USDT"
        feeds[symbol] = replace(
            base,
            symbol=symbol,
            opens=tuple(p * scale for p in base.opens),
            highs=tuple(p * scale for p in base.highs),
            lows=tuple(p * scale for p in base.lows),
            closes=tuple(p * scale for p in base.closes),
        )
    return feeds, source


def build() -> tuple[PaperVenue, VirtualClock, str]:
    feeds, source = _feeds()
    markets = [PaperMarket(symbol, TIERS, amount_step=1e-6, min_amount=1e-6) for symbol in feeds]
    venue = PaperVenue(get_profile("binance"), markets, feeds)
    leverages = (3, 5, 10, 20, 50)
    for a in range(10):
        account = f"acct{a}"
        venue.add_account(account, 50_000.0)
        mode = MarginMode.ISOLATED if a % 2 == 0 else MarginMode.CROSS
        for p, symbol in enumerate(feeds):
            side = Side.LONG if (a + p) % 3 else Side.SHORT
            if mode is MarginMode.ISOLATED:
                venue.set_margin_mode(account, symbol, mode)
            venue.set_leverage(account, symbol, leverages[(a + p) % 5])
            price = venue.last_price(symbol)
            venue.create_order(
                account,
                symbol,
                "market",
                "buy" if side is Side.LONG else "sell",
                4_000.0 / price,
                None,
            )
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return venue, clock, source


def main() -> None:
    print(f"Python {sys.version.split()[0]} on {platform.platform()}")
    runs = []
    for _ in range(3):
        venue, clock, source = build()
        start = venue.now_ms
        t0 = time.perf_counter()
        clock.advance_to(venue.end_ms)
        elapsed = time.perf_counter() - t0
        runs.append((elapsed, venue, start))
    elapsed, venue, start = min(runs, key=lambda r: r[0])
    minutes = (venue.now_ms - start) / 60_000
    shortfall = sum(r.shortfall for r in venue.liquidations)
    print(f"feed: {source}; 10 accounts x 5 positions, binance profile, 4 ticks per bar")
    print(f"simulated {minutes:,.0f} minutes in {elapsed:.3f} s (best of 3)")
    print(f"{minutes / elapsed:,.0f} simulated minutes per wall second")
    print(f"liquidations: {len(venue.liquidations)}, shortfall recorded: {shortfall:,.2f}")
    verdict = "PASS" if elapsed < 5.0 else "MISS"
    print(f"{verdict}: whole day in {elapsed:.2f} s (target < 5 s)")


if __name__ == "__main__":
    main()
