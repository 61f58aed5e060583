"""Kraken Futures payloads recorded by ccxt's own tests, through ccxt and riskguard.

The payload (``tests/data/ccxt-recorded/krakenfutures.json``, sources and field notes in
``krakenfutures.md`` beside it) holds one open position (PF_LTCUSD, multi-collateral linear,
cross), two open limit orders and one ``/tickers`` answer (recorded for fetchFundingRates). There is
no balance, no leverage tier (instrument margin levels) and no liquidation price, and Kraken's
open-position row carries no mark price, no margin and no unrealised PnL at all. So:

(a) the pinned ccxt replays each recorded ``httpResponse`` (its HTTP ``fetch`` replaced) and must
    agree with the recorded parse on the fields riskguard reads; the one difference (the recorded
    parse, from an older ccxt, says ``marginType``, the pinned one ``marginMode``) is pinned;
(b) riskguard's normaliser refuses the row as recorded (no mark) and reads it once the mark is
    filled the way ``Guard.cycle`` fills it (from the venue's mark-price call);
(c) no liquidation price can be checked against the venue (none is recorded); the profile's
    margin basis is checked instead against the worked example Kraken publishes (not a payload);
(d) the raw-field conventions are pinned.

Every number about the recorded account is read from the JSON at test time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard import MarginMode, Position, Side
from riskguard.errors import InputError
from riskguard.exchange.ccxt_account import (
    open_stops_from_ccxt,
    position_from_ccxt,
    snapshot_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.risk import assess_isolated, get_profile
from tests.exchange.recorded_kit import ORDER_FIELDS, load_recorded, recorded_entry
from tests.exchange.recorded_kit import POSITION_FIELDS as KIT_POSITION_FIELDS
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "krakenfutures.json"


POSITION_FIELDS = tuple(f for f in KIT_POSITION_FIELDS if f != "marginMode")
"""The unified position fields riskguard reads, but ``marginMode``, which is compared on its own."""

TAKEN_AT = datetime(2024, 2, 6, 22, 25, tzinfo=UTC)


def entry(method: str, index: int) -> dict[str, Any]:
    """One recorded call (a deep copy: tests may alter it)."""
    return recorded_entry(DATA, method, index)


def position_row() -> dict[str, Any]:
    """The recorded unified position (fetchPositions[0] holds exactly one)."""
    rows: list[dict[str, Any]] = entry("fetchPositions", 0)["parsedResponse"]
    assert len(rows) == 1
    return rows[0]


def raw_position() -> dict[str, Any]:
    rows: list[dict[str, Any]] = entry("fetchPositions", 0)["httpResponse"]["openPositions"]
    assert len(rows) == 1
    return rows[0]


# --- minimal markets from the payload ----------------------------------------------------------


def swap_market(symbol: str, market_id: str, contract_size: float) -> dict[str, Any]:
    """A multi-collateral (flexible) perpetual in ccxt's market shape: linear, settled in USD."""
    return kit_swap(symbol, market_id, contract_size)


def markets() -> dict[str, dict[str, Any]]:
    """PF_LTCUSD (symbol and contract size as the recorded parse has them) and PF_DOGEUSD (the
    recorded ticker; contract size 1 like every PF_ market: sizes are in base units)."""
    row = position_row()
    ticker = entry("fetchFundingRates", 0)["httpResponse"]["tickers"][0]
    doge = next(iter(entry("fetchFundingRates", 0)["parsedResponse"]))
    found = [
        swap_market(row["symbol"], row["info"]["symbol"], float(row["contractSize"])),
        swap_market(doge, ticker["symbol"], float(row["contractSize"])),
    ]
    return {m["symbol"]: m for m in found}


# --- replaying a recorded call through the pinned ccxt -----------------------------------------


def client() -> Any:
    """A sync ccxt krakenfutures client on the minimal markets, dummy keys (nothing is sent)."""
    exchange = ccxt.krakenfutures({"apiKey": "key", "secret": "c2VjcmV0"})
    exchange.set_markets(list(markets().values()))
    return exchange


def replay(method: str, index: int, path: str, call: tuple[str, list[Any]] | None = None) -> Any:
    """ccxt's own method on the recorded answer; its one request must go to ``path``. ``call``
    (method name, arguments) replays the answer through another method of the same endpoint."""
    exchange = client()
    recorded_call = entry(method, index)
    urls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        return copy.deepcopy(recorded_call["httpResponse"])

    exchange.fetch = fetch
    name, args = call or (recorded_call["method"], recorded_call["input"])
    result = getattr(exchange, exchange.un_camel_case(name))(*args)
    assert len(urls) == 1
    assert urls[0].endswith(path), urls[0]
    return result


def with_mark(row: Mapping[str, Any], mark: float) -> dict[str, Any]:
    """The row as ``Guard.cycle._with_marks`` hands it on when its mark came from the venue's
    mark-price call (``fetch_ticker`` on krakenfutures, which has no ``fetchMarkPrice``)."""
    return {**row, "markPrice": mark, "markSource": "fetch_mark_price"}


def rate_tiers(rate: float) -> Any:
    """One tier at ``rate``: Kraken's margin levels are not in the payload."""
    return tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])


# =============================================================================================
# (a) the pinned ccxt on the recorded answers
# =============================================================================================


def test_ccxt_position_replay_matches_recorded_parse_on_fields_riskguard_reads() -> None:
    """fetchPositions[0] (GET /openpositions) through the pinned ccxt."""
    # Act
    rows = replay("fetchPositions", 0, "/openpositions")

    # Assert
    (got,) = rows
    want = position_row()
    assert {f: got[f] for f in POSITION_FIELDS} == {f: want[f] for f in POSITION_FIELDS}
    assert got["info"] == want["info"]


def test_ccxt_margin_mode_is_named_margin_mode_now_margin_type_in_the_recording() -> None:
    """Pinned difference: the recording (an older ccxt) has ``marginType: cross`` and no
    ``marginMode``; the pinned ccxt says ``marginMode: cross`` (cross because the raw row has no
    ``maxFixedLeverage``)."""
    # Act
    (got,) = replay("fetchPositions", 0, "/openpositions")

    # Assert
    recorded = position_row()
    assert "marginMode" not in recorded
    assert got["marginMode"] == recorded["marginType"] == "cross"
    assert "maxFixedLeverage" not in raw_position()


def test_ccxt_position_answer_without_open_positions_list_is_an_error_not_a_flat_account() -> None:
    """The recorded call is ccxt's regression test for #29710: an answer that lost its
    ``openPositions`` list must fail (retryable), not read as an account without positions."""
    # Arrange
    exchange = client()
    answer = entry("fetchPositions", 0)["httpResponse"]
    del answer["openPositions"]
    exchange.fetch = lambda *args, **kwargs: copy.deepcopy(answer)

    # Act / Assert
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_positions()
    assert issubclass(ccxt.ExchangeNotAvailable, ccxt.OperationFailed)


@pytest.mark.parametrize("index", [0, 1])
def test_ccxt_open_orders_replay_matches_recorded_parse_on_stop_fields(index: int) -> None:
    """fetchOpenOrders[0] (one symbol) and [1] (all) through the pinned ccxt."""
    # Act
    orders = replay("fetchOpenOrders", index, "/openorders")

    # Assert
    expected = entry("fetchOpenOrders", index)["parsedResponse"]
    assert len(orders) == len(expected)
    for got, want in zip(orders, expected, strict=True):
        assert {f: got[f] for f in ORDER_FIELDS} == {f: want[f] for f in ORDER_FIELDS}


def test_ccxt_funding_rates_replay_matches_recorded_mark_and_index() -> None:
    """fetchFundingRates[0] (GET /tickers) through the pinned ccxt."""
    # Act
    rates = replay("fetchFundingRates", 0, "/tickers")

    # Assert
    expected = entry("fetchFundingRates", 0)["parsedResponse"]
    assert rates.keys() == expected.keys()
    for symbol, want in expected.items():
        assert rates[symbol]["markPrice"] == want["markPrice"]
        assert rates[symbol]["indexPrice"] == want["indexPrice"]
        assert rates[symbol]["info"] == want["info"]


def test_ccxt_ticker_of_the_recorded_tickers_answer_carries_the_raw_mark_price() -> None:
    """The same /tickers answer through ``fetch_tickers``: the ticker's ``markPrice`` is the raw
    ``markPrice``, which the guard takes when a Kraken position row has none. (The guard calls
    ``fetch_ticker``, GET /tickers/{symbol}, which is not recorded; ccxt parses its single
    ``ticker`` object with the same ``parse_ticker``.)"""
    # Arrange
    raw = entry("fetchFundingRates", 0)["httpResponse"]["tickers"][0]
    symbol = next(iter(entry("fetchFundingRates", 0)["parsedResponse"]))

    # Act
    tickers = replay("fetchFundingRates", 0, "/tickers", ("fetchTickers", [[symbol]]))

    # Assert
    assert client().has.get("fetchMarkPrice") is not True
    assert tickers[symbol]["markPrice"] == float(raw["markPrice"])
    assert tickers[symbol]["last"] == float(raw["last"])
    assert tickers[symbol]["markPrice"] != tickers[symbol]["last"]


# =============================================================================================
# (b) riskguard's normaliser on the recorded row
# =============================================================================================


def test_position_from_ccxt_recorded_row_without_mark_is_refused_naming_the_mark() -> None:
    """Kraken's open-position row has no mark price; riskguard must not guess one."""
    # Arrange
    row = position_row()
    market = markets()[row["symbol"]]

    # Act / Assert
    assert row["markPrice"] is None
    with pytest.raises(InputError, match="no mark price"):
        position_from_ccxt(row, market, rate_tiers(0.01), MarginMode.CROSS)


def test_position_from_ccxt_reads_size_side_entry_once_the_mark_is_filled() -> None:
    """The recorded row with a mark from the venue's mark-price call (the payload has no mark for
    LTC: the entry price stands in for it; only the mark itself comes from outside the row)."""
    # Arrange
    row = position_row()
    raw = raw_position()
    market = markets()[row["symbol"]]
    mark = row["entryPrice"]

    # Act
    position = position_from_ccxt(with_mark(row, mark), market, rate_tiers(0.01), MarginMode.CROSS)

    # Assert
    assert position is not None
    assert position.side is Side(raw["side"])
    assert position.size == pytest.approx(float(raw["size"]), rel=1e-12)
    assert position.entry_price == float(raw["price"])
    assert position.mark_price == mark
    assert position.margin_mode is MarginMode.CROSS
    assert position.collateral is None
    assert position.leverage is None
    assert not position.inverse


@pytest.mark.parametrize("default", list(MarginMode))
def test_recorded_parse_margin_mode_falls_back_to_the_accounts_default(
    default: MarginMode,
) -> None:
    """The recorded parse says ``marginType``, which riskguard does not read: the account's
    configured default decides. (The pinned ccxt says ``marginMode: cross``: see below.)"""
    # Arrange
    row = with_mark(position_row(), position_row()["entryPrice"])

    # Act
    position = position_from_ccxt(row, markets()[row["symbol"]], rate_tiers(0.01), default)

    # Assert
    assert position is not None
    assert position.margin_mode is default


def test_pinned_ccxt_row_reads_cross_whatever_the_default() -> None:
    # Arrange
    (row,) = replay("fetchPositions", 0, "/openpositions")

    # Act
    position = position_from_ccxt(
        with_mark(row, row["entryPrice"]),
        markets()[row["symbol"]],
        rate_tiers(0.01),
        MarginMode.ISOLATED,
    )

    # Assert
    assert position is not None
    assert position.margin_mode is MarginMode.CROSS


def test_snapshot_from_ccxt_says_the_mark_came_from_the_mark_price_call_and_reads_usd() -> None:
    """No balance is recorded: an empty one. The snapshot is read in USD (the symbol's settle
    currency) and its sources say where the mark came from."""
    # Arrange
    row = with_mark(position_row(), position_row()["entryPrice"])

    # Act
    snapshot = snapshot_from_ccxt(
        account="recorded",
        venue="krakenfutures",
        balance={"total": {}},
        positions=[row],
        markets=markets(),
        tiers={row["symbol"]: rate_tiers(0.01)},
        taken_at=TAKEN_AT,
    )

    # Assert
    assert snapshot.settle == row["symbol"].partition(":")[2] == "USD"
    sources = dict(snapshot.sources)
    assert sources[f"{row['symbol']} mark price"] == "fetch_mark_price"
    assert f"{row['symbol']} entry price" not in sources
    assert get_profile(snapshot.venue).name == "krakenfutures"


# =============================================================================================
# (c) liquidation price: nothing recorded to compare with
# =============================================================================================


def test_recorded_position_carries_no_liquidation_margin_or_pnl_figure() -> None:
    """Why no liquidation price is checked against Kraken's: neither the raw row nor ccxt's
    parse holds one, nor any margin, PnL or mark figure, and no balance is recorded."""
    # Arrange
    row = position_row()
    figures = (
        "liquidationPrice",
        "markPrice",
        "collateral",
        "initialMargin",
        "maintenanceMargin",
        "maintenanceMarginPercentage",
        "unrealizedPnl",
        "leverage",
    )

    # Act
    present = {f: row[f] for f in figures if row[f] is not None}

    # Assert
    assert present == {}
    assert set(raw_position()) == {
        "side",
        "symbol",
        "price",
        "fillTime",
        "size",
        "unrealizedFunding",
    }
    assert "fetchBalance" not in load_recorded(DATA)["methods"]
    assert "fetchLeverageTiers" not in load_recorded(DATA)["methods"]


# Kraken's own worked example (Equity Protection Process,
# https://support.kraken.com/hc/en-us/articles/360022835671-Equity-Protection-Process): long
# 1,000 Bitcoin-Dollar (inverse) contracts at 8,000, 0.01 BTC of margin, maintenance margin 1%:
# liquidation at a mark of 7,481, the bankruptcy price (IOC limit) 7,407. Not a payload.
EPP_CONTRACTS_USD, EPP_ENTRY, EPP_MARGIN_BTC, EPP_MMR = 1_000.0, 8_000.0, 0.01, 0.01
EPP_LIQUIDATION, EPP_BANKRUPTCY = 7_481.0, 7_407.0


def _epp_position() -> Position:
    return Position(
        symbol="BTC/USD:BTC",
        side=Side.LONG,
        size=EPP_CONTRACTS_USD,
        entry_price=EPP_ENTRY,
        mark_price=EPP_ENTRY,
        margin_mode=MarginMode.ISOLATED,
        collateral=EPP_MARGIN_BTC,
        maintenance_margin_rate=EPP_MMR,
        inverse=True,
    )


def test_profile_reproduces_krakens_published_liquidation_example_with_margin_on_the_mark() -> None:
    """Charging 1% on the value at the mark gives 7,481.48 and puts liquidation 74.1 above
    bankruptcy as Kraken's 7,481 - 7,407 does; on the entry value (0.00125 BTC fixed) it would be
    7,476.6, only 69 above. The gap tells the two apart, the price alone barely does."""
    # Act
    risk = assess_isolated(_epp_position(), get_profile("krakenfutures"))

    # Assert
    assert risk.liquidation_price is not None
    assert risk.bankruptcy_price is not None
    assert risk.liquidation_price == pytest.approx(EPP_LIQUIDATION, rel=1e-4)
    assert risk.bankruptcy_price == pytest.approx(EPP_BANKRUPTCY, rel=1e-4)
    assert risk.liquidation_price - risk.bankruptcy_price == pytest.approx(
        EPP_LIQUIDATION - EPP_BANKRUPTCY, rel=0.01
    )
    entry_basis_price = EPP_CONTRACTS_USD / (
        EPP_MARGIN_BTC + EPP_CONTRACTS_USD / EPP_ENTRY - EPP_MMR * EPP_CONTRACTS_USD / EPP_ENTRY
    )
    assert entry_basis_price - risk.bankruptcy_price != pytest.approx(
        EPP_LIQUIDATION - EPP_BANKRUPTCY, rel=0.05
    )


# =============================================================================================
# (d) raw-field conventions
# =============================================================================================


def test_raw_price_is_the_entry_and_raw_size_is_base_units_for_multi_collateral_contracts() -> None:
    """PF_ contracts: ``price`` is the average entry price, ``size`` the position in base units
    (contract size 1: 0.1 LTC), ``side`` long/short; ``fillTime`` is ccxt's timestamp."""
    # Arrange
    row = position_row()
    raw = raw_position()

    # Act
    size = row["contracts"] * row["contractSize"]

    # Assert
    assert row["info"] == raw
    assert row["entryPrice"] == float(raw["price"])
    assert size == pytest.approx(float(raw["size"]), rel=1e-12)
    assert row["contractSize"] == 1
    assert raw["symbol"].startswith("PF_")
    assert row["side"] == raw["side"]
    assert row["datetime"] == raw["fillTime"]


def test_raw_unrealized_funding_is_not_unrealized_pnl() -> None:
    """The row's only money figure is ``unrealizedFunding``; ccxt leaves ``unrealizedPnl`` None
    and riskguard computes the PnL from entry and mark."""
    # Arrange
    row = position_row()

    # Act
    position = position_from_ccxt(
        with_mark(row, row["entryPrice"] * 1.1), markets()[row["symbol"]], (), MarginMode.CROSS
    )

    # Assert
    assert row["unrealizedPnl"] is None
    assert position is not None
    assert position.unrealized_pnl == pytest.approx(
        position.size * (position.mark_price - position.entry_price), rel=1e-12
    )
    assert position.unrealized_pnl != pytest.approx(float(row["info"]["unrealizedFunding"]))


@pytest.mark.parametrize("index", [0, 1])
def test_recorded_open_limit_orders_are_not_stops_even_if_reduce_only(index: int) -> None:
    """fetchOpenOrders[0]/[1]: plain limit buys (``lmt``, ``unfilledSize`` -> remaining) with no
    trigger price; even marked reduce-only they protect nothing."""
    # Arrange
    orders = entry("fetchOpenOrders", index)["parsedResponse"]
    raws = entry("fetchOpenOrders", index)["httpResponse"]["openOrders"]
    reduce_only = [{**o, "reduceOnly": True} for o in orders]

    # Act
    stops = open_stops_from_ccxt(orders, markets(), lambda cid: False)
    still_none = open_stops_from_ccxt(reduce_only, markets(), lambda cid: False)

    # Assert
    assert [o["remaining"] for o in orders] == [float(r["unfilledSize"]) for r in raws]
    assert all(r["orderType"] == "lmt" and r["reduceOnly"] is False for r in raws)
    assert all(o["triggerPrice"] is None and o["stopLossPrice"] is None for o in orders)
    assert stops == ()
    assert still_none == ()
