"""Position rows ccxt leaves half-empty: the entry price is read from the venue's raw row, the
mark from the mark-price call, the source is said, and a row that stays unreadable is named with
its figures (issue 16, part 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from riskguard.errors import InputError
from riskguard.exchange.ccxt_account import raw_entry_price, snapshot_from_ccxt

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SYMBOL = "BTC/USDC:USDC"
MARKET = {
    "symbol": SYMBOL,
    "settle": "USDC",
    "swap": True,
    "contract": True,
    "contractSize": 1.0,
    "maintenanceMarginPercentage": 0.01,
}


def _row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "symbol": SYMBOL,
        "side": "long",
        "contracts": 0.5,
        "contractSize": 1.0,
        "entryPrice": None,
        "markPrice": 100_000.0,
        "marginMode": "cross",
        "info": {},
    }
    row.update(fields)
    return row


def _snapshot(*rows: dict[str, Any]) -> Any:
    return snapshot_from_ccxt(
        account="a",
        venue="hyperliquid",
        balance={"total": {"USDC": 10_000.0}},
        positions=iter(rows),  # any iterable, read once
        markets={SYMBOL: MARKET},
        tiers={},
        taken_at=NOW,
    )


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {"position": {"coin": "BTC", "entryPx": "98000.5", "szi": "0.5"}},
            98_000.5,
        ),  # Hyperliquid
        ({"avgPrice": "97000", "size": "0.5"}, 97_000.0),  # Bybit v5
        ({"avgPx": "96000", "pos": "0.5"}, 96_000.0),  # OKX
        ({"entryPrice": "95000.0"}, 95_000.0),  # Binance
        ({"avgPrice": "0"}, None),
        ({}, None),
        ("not a mapping", None),
    ],
    ids=["hyperliquid", "bybit", "okx", "binance", "zero", "empty", "junk"],
)
def test_the_entry_price_is_found_in_the_venues_raw_row(info: Any, expected: float | None) -> None:
    assert raw_entry_price(info) == expected


def test_a_row_without_entry_reads_from_its_raw_row_and_says_so() -> None:
    snapshot = _snapshot(_row(info={"position": {"entryPx": "98000"}}))

    (position,) = snapshot.positions
    assert position.entry_price == 98_000.0
    assert snapshot.notes == (f"{SYMBOL}: entry price from the venue's raw row",)


def test_a_mark_filled_by_the_mark_price_call_is_said() -> None:
    snapshot = _snapshot(_row(entryPrice=99_000.0, markSource="fetch_mark_price"))

    assert snapshot.notes == (f"{SYMBOL}: mark price from fetch_mark_price",)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [({}, "no entry price"), ({"entryPrice": 1.0, "markPrice": None}, "no mark price")],
)
def test_a_row_that_stays_unreadable_is_named_with_its_figures(
    fields: dict[str, Any], missing: str
) -> None:
    with pytest.raises(InputError, match=rf"{SYMBOL} long 0.5 contracts: unreadable, {missing}"):
        _snapshot(_row(**fields))


def test_an_options_position_is_refused_with_a_clear_message() -> None:
    option = "BTC/USD:BTC-261225-100000-C"
    market = {"symbol": option, "settle": "BTC", "option": True, "type": "option", "contract": True}

    with pytest.raises(InputError, match=r"options are not covered"):
        snapshot_from_ccxt(
            account="a",
            venue="deribit",
            balance={"total": {"BTC": 1.0}},
            positions=[_row(symbol=option, entryPrice=0.05, markPrice=0.06)],
            markets={option: market},
            tiers={option: ()},
            taken_at=NOW,
        )
