"""An isolated position's own margin comes from the venue's raw field, not ccxt's convention.

ccxt's unified ``collateral`` includes unrealised PnL in some versions and not in others, so
riskguard reads Binance ``isolatedWallet``, Bybit ``positionBalance`` and OKX ``margin``
(isolated rows) first, and falls back to ``collateral - unrealizedPnl`` only without them.
"""

from __future__ import annotations

from typing import Any

import pytest

from riskguard.domain import MarginMode, Tier
from riskguard.exchange.ccxt_account import position_from_ccxt

SYMBOL = "BTC/USDT:USDT"
MARKET = {"symbol": SYMBOL, "contractSize": 1, "taker": 0.0005, "linear": True}
TIERS = (Tier(0.0, float("inf"), 0.004),)


def _row(info: dict[str, Any], *, collateral: float | None = 1_150.0, upnl: float = 150.0) -> Any:
    return {
        "symbol": SYMBOL,
        "contracts": 0.2,
        "side": "long",
        "entryPrice": 50_000.0,
        "markPrice": 50_750.0,
        "marginMode": "isolated",
        "collateral": collateral,
        "unrealizedPnl": upnl,
        "info": info,
    }


def _collateral(row: Any) -> float | None:
    position = position_from_ccxt(row, MARKET, TIERS, MarginMode.ISOLATED)
    assert position is not None
    return position.collateral


@pytest.mark.parametrize(
    "info",
    [
        {"isolatedWallet": "1000", "isolatedMargin": "1150"},
        {"positionBalance": "1000"},
        {"mgnMode": "isolated", "margin": "1000", "upl": "150"},
    ],
    ids=["binance", "bybit", "okx"],
)
def test_the_raw_field_wins_whatever_ccxt_put_in_collateral(info: dict[str, Any]) -> None:
    # ccxt's collateral here is the margin alone (an older convention): 1000, not 1000 + 150.
    assert _collateral(_row(info, collateral=1_000.0)) == 1_000.0
    # ... and margin + uPnL (4.5.90's convention): still 1000.
    assert _collateral(_row(info, collateral=1_150.0)) == 1_000.0


def test_okx_margin_of_a_cross_row_is_not_taken_for_isolated_margin() -> None:
    row = _row({"mgnMode": "cross", "margin": "777"})

    assert _collateral(row) == 1_000.0  # ccxt's collateral 1150 less uPnL 150


@pytest.mark.parametrize(
    "info",
    [{}, {"positionBalance": ""}, {"isolatedWallet": "0"}, {"positionBalance": None}, "not a dict"],
    ids=["no-fields", "bybit-uta-empty", "binance-zero", "none", "not-a-mapping"],
)
def test_without_a_usable_raw_field_ccxt_collateral_less_upnl_is_used(info: Any) -> None:
    assert _collateral(_row(info)) == 1_000.0


def test_without_either_the_collateral_stays_unknown() -> None:
    assert _collateral(_row({}, collateral=None)) is None
