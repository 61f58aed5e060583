"""A borrowed position through a crash on the paper spot margin venue, with and without the
guard (issue 16, part 4): alone, the venue liquidates it; guarded, it is never liquidated and its
equity (assets less liabilities) never goes below zero at any tick.

Once on a synthetic crash (always runs), then on real one-minute windows from
``../shared/data/crashes`` (skipped when that data is absent): a 2.95x borrowed BTC long through
2021-05-19, and a borrowed NEAR short through the squeeze of 2025-11-06.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from riskguard.paper.spot_margin.config import parse_spot_margin_config
from riskguard.replay.spot_margin import MarginReplayOutcome, replay_spot_margin

CRASHES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crashes"
SYNTHETIC = {
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


def _replay(
    feed: dict[str, Any], symbol: str, side: str, quote_value: float, poll_s: float
) -> tuple[MarginReplayOutcome, MarginReplayOutcome]:
    base = symbol.partition("/")[0]
    opening = {"symbol": symbol, "side": side, "quote_value": quote_value}
    config = parse_spot_margin_config(
        {
            "markets": [{"symbol": symbol, "feed": feed, "amount_step": 0.00001}],
            "rules": {"interest_per_hour_pct": {"USDT": 0.001, base: 0.001}},
            "accounts": [
                {"id": name, "holdings": {"USDT": 1_000.0}, "open": [opening]}
                for name in ("guarded", "alone")
            ],
        }
    )
    guarded, alone = replay_spot_margin(config, guarded={"guarded"}, poll_s=poll_s)
    return guarded, alone


def _assert_saved(guarded: MarginReplayOutcome, alone: MarginReplayOutcome) -> None:
    assert alone.liquidations >= 1
    assert guarded.liquidations == 0
    assert guarded.orders >= 1
    assert not guarded.went_negative
    assert guarded.min_level > 1.1
    assert guarded.equity > alone.equity


def test_a_borrowed_long_through_a_synthetic_crash_is_saved_by_the_guard() -> None:
    guarded, alone = _replay(SYNTHETIC, "BTC/USDT", "buy", 2_950.0, poll_s=60.0)

    _assert_saved(guarded, alone)
    assert guarded.stale_cycles == 0


def _crash(name: str) -> dict[str, Any]:
    path = CRASHES / name
    if not path.exists():
        pytest.skip(f"shared crash data not found at {path}: ../shared/data is absent")
    return {"csv": str(path)}


@pytest.mark.shared_data
def test_a_borrowed_btc_long_through_2021_05_19_is_never_liquidated_with_the_guard() -> None:
    guarded, alone = _replay(
        _crash("btcusdt-perp-2021-05-19.csv"), "BTC/USDT", "buy", 2_950.0, poll_s=30.0
    )

    _assert_saved(guarded, alone)
    assert guarded.equity > 2 * alone.equity


@pytest.mark.shared_data
def test_a_borrowed_near_short_through_the_2025_11_06_squeeze_is_never_liquidated() -> None:
    guarded, alone = _replay(
        _crash("nearusdt-perp-2025-11-06.csv"), "NEAR/USDT", "sell", 1_950.0, poll_s=30.0
    )

    _assert_saved(guarded, alone)
