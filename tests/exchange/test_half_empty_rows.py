"""Position rows ccxt leaves half-empty: the entry price is read from the venue's raw row, the
mark from the mark-price call, the source is said, and a row that stays unreadable is named with
its figures (issue 16, part 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from riskguard.domain import MarginMode
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
    assert (f"{SYMBOL} entry price", "venue raw row") in snapshot.sources


def test_a_mark_filled_by_the_mark_price_call_is_said() -> None:
    snapshot = _snapshot(_row(entryPrice=99_000.0, markSource="fetch_mark_price"))

    assert (f"{SYMBOL} mark price", "fetch_mark_price") in snapshot.sources


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


@pytest.mark.parametrize(
    ("info", "side", "source"),
    [
        ({"positionAmt": "-0.5", "positionSide": "BOTH"}, "short", "venue raw positionAmt"),
        ({"size": "0.5", "side": "Buy"}, "long", "venue raw size"),
        ({"pos": "-0.5", "posSide": "net"}, "short", "venue raw pos"),
        ({"position": {"szi": "0.5", "entryPx": "99000"}}, "long", "venue raw position.szi"),
    ],
)
def test_a_row_ccxt_reads_as_flat_is_read_from_its_raw_size_never_dropped(
    info: dict[str, Any], side: str, source: str
) -> None:
    row = _row(contracts=None, side=None, entryPrice=99_000.0, info=info)

    snapshot = _snapshot(row)

    (position,) = snapshot.positions
    assert (position.size, position.side.value) == (0.5, side)
    assert (f"{SYMBOL} contracts", source) in snapshot.sources


def test_a_row_flat_in_ccxt_and_in_its_raw_row_is_no_position() -> None:
    snapshot = _snapshot(_row(contracts=0, side=None, entryPrice=1.0, info={"positionAmt": "0"}))

    assert snapshot.positions == ()


@pytest.mark.parametrize(
    ("info", "mode", "source"),
    [
        ({"marginType": "isolated", "isolatedWallet": "900"}, "isolated", "venue raw marginType"),
        ({"mgnMode": "cross"}, "cross", "venue raw mgnMode"),
        ({"tradeMode": 1, "positionBalance": "900"}, "isolated", "venue raw tradeMode"),
        ({"position": {"leverage": {"type": "isolated", "value": 5}}}, "isolated", None),
        ({"isolated": True, "isolatedWallet": "900"}, "isolated", "venue raw isolated"),
    ],
)
def test_margin_mode_and_leverage_missing_in_ccxt_are_read_from_the_raw_row(
    info: dict[str, Any], mode: str, source: str | None
) -> None:
    row = _row(marginMode=None, leverage=None, entryPrice=99_000.0, info=info)

    snapshot = _snapshot(row)

    (position,) = snapshot.positions
    assert position.margin_mode.value == mode
    expected = source or "venue raw position.leverage.type"
    assert (f"{SYMBOL} margin mode", expected) in snapshot.sources
    if "position" in info:
        assert position.leverage == 5
        assert (f"{SYMBOL} leverage", "venue raw position.leverage.value") in snapshot.sources


def test_a_margin_mode_found_nowhere_is_the_configured_default_and_said() -> None:
    snapshot = _snapshot(_row(marginMode=None, entryPrice=99_000.0))

    assert snapshot.positions[0].margin_mode.value == "cross"
    assert (f"{SYMBOL} margin mode", "config default (cross)") in snapshot.sources


def test_isolated_margin_without_any_figure_is_said_to_be_an_estimate() -> None:
    snapshot = _snapshot(_row(marginMode="isolated", leverage=10, entryPrice=99_000.0))

    assert (f"{SYMBOL} isolated margin", "notional at entry / leverage (estimate)") in (
        snapshot.sources
    )


def test_bybits_trade_mode_0_is_no_answer_and_the_default_holds() -> None:
    # Bybit unified accounts say tradeMode 0 whatever the position's mode (Bybit v5 docs), so
    # 0 must not be read as cross: an isolated default stays isolated.
    row = _row(marginMode=None, entryPrice=99_000.0, info={"tradeMode": 0})

    snapshot = snapshot_from_ccxt(
        account="a",
        venue="bybit",
        balance={"total": {"USDC": 10_000.0}},
        positions=[row],
        markets={SYMBOL: MARKET},
        tiers={},
        taken_at=NOW,
        default_mode=MarginMode.ISOLATED,
    )

    assert snapshot.positions[0].margin_mode is MarginMode.ISOLATED
    assert (f"{SYMBOL} margin mode", "config default (isolated)") in snapshot.sources
