"""One episode's world: a crash window replayed at wall speed, accounts in danger, their config.

The window is cut from a one-minute crash file around its fastest three-minute move, and shifted
so that its first bar starts at the current wall-clock minute: the venue's clock runs at speed 1,
so the daemon's own notion of time (data age, horizons, volatility per second, the learned tail
from one-minute klines) is the venue's. Two hours before the window are history (served by
klines, not played). The positions stand on the side the move hurts.
"""

from __future__ import annotations

import csv
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import yaml

from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config
from tests.fakes.binance_usdm import point_client_at

HISTORY_BARS = 120
LEAD_BARS = 1
"""Bars played before the fastest move starts."""
MOVE_BARS = 3
LEVERAGES = (10.0, 20.0, 25.0, 40.0)
BALANCE = 10_000.0
PREFIX = "rg"


@dataclass(frozen=True, slots=True)
class Window:
    """A cut of a crash file: rows (time, open, high, low, close), the first played row, the
    side the move hurts."""

    source: str
    rows: tuple[tuple[int, float, float, float, float], ...]
    first: int
    side: str
    move_pct: float


def read_rows(path: Path) -> list[tuple[int, float, float, float, float]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [
            (int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in reader if r
        ]


def fastest_window(path: Path, minutes: int) -> Window:
    """The window whose first ``MOVE_BARS`` after the lead move the price the most."""
    rows = read_rows(path)
    best, best_move = HISTORY_BARS + LEAD_BARS, 0.0
    last_start = len(rows) - max(minutes, MOVE_BARS) - 1
    for i in range(HISTORY_BARS + LEAD_BARS, last_start):
        start = rows[i][1]
        extremes = [r[3] for r in rows[i : i + MOVE_BARS]] + [r[2] for r in rows[i : i + MOVE_BARS]]
        move = max((abs(x / start - 1.0) for x in extremes), default=0.0)
        if move > best_move:
            best, best_move = i, move
    first = best - LEAD_BARS
    lows = min(r[3] for r in rows[best : best + MOVE_BARS])
    highs = max(r[2] for r in rows[best : best + MOVE_BARS])
    start = rows[best][1]
    side = "long" if start - lows > highs - start else "short"
    cut = rows[first - HISTORY_BARS : first + minutes + 1]
    return Window(path.name, tuple(cut), HISTORY_BARS, side, 100.0 * best_move)


def _step(price: float) -> float:
    """An amount step worth about 1 to 10 USDT at ``price``."""
    return float(10 ** math.floor(math.log10(10.0 / price)))


def _tick(price: float) -> float:
    return float(10 ** math.floor(math.log10(price / 20_000.0)))


@dataclass(slots=True)
class World:
    """The built venue, where its clock and the wall clock agree, and the accounts."""

    setup: PaperSetup
    symbol: str
    accounts: tuple[str, ...]
    window: Window
    wall0_ms: int
    """Wall time (ms) at which the venue's clock showed ``venue0_ms``."""
    venue0_ms: int

    def wall_of(self, venue_ms: int) -> int:
        return self.wall0_ms + (venue_ms - self.venue0_ms)


def build_world(folder: Path, window: Window, rng: random.Random, accounts: int) -> World:
    """Write the shifted feed, build the paper venue on a paced clock and open the positions."""
    now_minute = int(time.time() // 60 * 60 * 1000)
    shift = now_minute - window.rows[window.first][0]
    feed = folder / "feed.csv"
    with feed.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp_ms", "open", "high", "low", "close", "volume"])
        for t, o, h, lo, c in window.rows:
            out.writerow([t + shift, o, h, lo, c, 1000])
    price = window.rows[window.first][1]
    symbol = "COIN/USDT:USDT"
    step = _step(price)
    ids = tuple(f"acct{i + 1}" for i in range(accounts))
    positions = []
    for i in range(accounts):
        leverage = LEVERAGES[i % len(LEVERAGES)] * (0.8 + 0.4 * rng.random())
        positions.append(
            {
                "id": ids[i],
                "balance": BALANCE,
                "positions": [
                    {
                        "symbol": symbol,
                        "side": window.side,
                        "leverage": round(leverage, 1),
                        "margin_mode": "isolated" if i % 2 else "cross",
                        "notional": round(BALANCE * leverage * 0.6, 2),
                    }
                ],
            }
        )
    config = parse_paper_config(
        {
            "venue": "binance",
            "intrabar": "adverse",
            "start": datetime.fromtimestamp(now_minute / 1000, UTC).isoformat(),
            "clock": {"mode": "paced", "speed": 1},
            "markets": [
                {
                    "symbol": symbol,
                    "maintenance_margin_rate": 0.01,
                    "amount_step": step,
                    "min_amount": step,
                    "price_tick": _tick(price),
                    "max_leverage": 50,
                    "feed": {"csv": str(feed)},
                }
            ],
            "accounts": positions,
        }
    )
    setup = build_paper(config)
    wall0 = time.time_ns() // 1_000_000
    return World(setup, symbol, ids, window, wall0, setup.clock.now_ms())


def daemon_config(folder: Path, bases: dict[str, str], *, poll_s: float, timeout_ms: int) -> Path:
    """The daemon's config: one binanceusdm account per fake server, keys from the environment,
    a webhook sink (URL from ``RG_CHAOS_HOOK``) that takes every alert."""
    accounts: list[dict[str, Any]] = []
    for account, base in bases.items():
        probe = ccxt.binanceusdm()
        point_client_at(probe, base)
        accounts.append(
            {
                "id": account,
                "exchange": "binanceusdm",
                "api_key_env": f"RG_CHAOS_KEY_{account.upper()}",
                "secret_env": f"RG_CHAOS_SECRET_{account.upper()}",
                "ccxt_config": {
                    "urls": {"api": dict(probe.urls["api"])},
                    "options": {"fetchCurrencies": False},
                    "timeout": timeout_ms,
                },
            }
        )
    document = {
        "accounts": accounts,
        "guard": {"poll_interval_s": poll_s, "client_id_prefix": PREFIX},
        # A snapshot entry per good cycle: the audit reads from them when the guard saw fresh data.
        "journal": {"path": str(folder / "journal.sqlite3"), "snapshot_every_s": 0},
        "metrics": {"enabled": False},
        "logging": {"level": "info", "json_lines": True},
        "alerts": [
            {
                "type": "webhook",
                "url_env": "RG_CHAOS_HOOK",
                "min_severity": "info",
                "rate_per_minute": 6000,
                "burst": 1000,
                "digest_after": 1000,
                "timeout_s": 2,
            }
        ],
        "alerting": {"gather_s": 0, "flush_on_stop_s": 5},
    }
    path = folder / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def keys(account: str) -> tuple[str, str]:
    """Made-up API key and secret of a fake account (long enough to look real)."""
    tag = account.upper()
    return f"rgChaosKey{tag}7Qx2Vb9Lm4Np8Rt1Zc6Hd3Jk5W", f"rgChaosSecret{tag}3Mv8Kq1Bz6Wd4H"
