"""Bitget on responses recorded by ccxt's own static tests (``tests/data/ccxt-recorded``).

``bitget.json`` holds each recorded call's raw ``httpResponse`` and the ``parsedResponse`` ccxt
produced when it was recorded; ``bitget.md`` says where each entry comes from. Checked here:

(a) the pinned ccxt replays every recorded ``httpResponse`` offline (its HTTP ``fetch`` is
    replaced) and must agree with the recording on the fields riskguard reads; where it does not
    the difference is pinned (UTA ``maintenanceMargin``/``marginRatio``, the UTA balance ``info``);
(b) riskguard's normaliser on the recorded unified rows;
(c) the liquidation price. Both recorded open positions are cross with Bitget's raw
    ``liquidationPrice`` "0" (none in sight) and no wallet of the same account and time, so no
    venue figure can be recomputed: what is checked is that riskguard also finds none with the
    recorded UTA wallet, and that riskguard and the pinned ccxt (which derives its own price for
    an isolated row Bitget sends as "0") agree on the same formula;
(d) the raw-field conventions: entry ``openPriceAvg`` (classic) / ``avgPrice`` (UTA), isolated
    margin ``marginSize`` / ``positionBalance`` without unrealised PnL, tiers without offsets.

Every number is read from the JSON at test time. The BTCUSDT taker fee is the one recorded on the
UTA swap trades (``fetchMyTrades``), contract sizes come from each row's notional.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard import MarginMode, Side
from riskguard.exchange.ccxt_account import (
    TOTAL_EXCLUDES_UPNL,
    open_stops_from_ccxt,
    position_from_ccxt,
    snapshot_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.risk import assess_isolated, evaluate_account, get_profile
from tests.exchange.recorded_kit import ORDER_FIELDS, POSITION_FIELDS, load_recorded, recorded_entry
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "bitget.json"

SAME_FORMULA = 1e-4
"""Agreement of riskguard and ccxt on one row with one rate: they differ by mmr x fee (about
2e-6 here), while leaving the 0.06% taker fee out would move the price by about 6e-4."""

EXACT = 1e-12

TAKEN_AT = datetime(2025, 9, 16, tzinfo=UTC)

CLASSIC_ROW = ("fetchPositions", 0)
"""LTCUSDT, classic (v2) account: cross, hedge mode, raw liquidationPrice "0"."""
UTA_ROW = ("fetchPositions", 1)
"""BTCUSDT, unified account (v3): cross, one-way, raw liquidationPrice "0", unrealised PnL 0."""
UTA_SINGLE = ("fetchPosition", 1)
"""BTCUSDT, unified account: cross, hedge mode, unrealised PnL 0.0047."""


# --- recorded entries --------------------------------------------------------------------------


def entry(method: str, index: int) -> dict[str, Any]:
    """A deep copy of one recorded call (tests may alter it)."""
    return recorded_entry(DATA, method, index)


def parsed_rows(method: str, index: int) -> list[dict[str, Any]]:
    parsed = entry(method, index)["parsedResponse"]
    return parsed if isinstance(parsed, list) else [parsed]


def raw_position(method: str, index: int) -> dict[str, Any]:
    """The only raw position of a classic (``data`` list) or UTA (``data.list``) response."""
    data = entry(method, index)["httpResponse"]["data"]
    rows: list[dict[str, Any]] = data["list"] if isinstance(data, dict) else data
    assert len(rows) == 1
    return rows[0]


def taker_fee() -> float:
    """The BTCUSDT taker rate of the recorded UTA swap trades: fee / traded value."""
    trades = entry("fetchMyTrades", 0)["httpResponse"]["data"]["list"]
    rates = {
        round(float(t["feeDetail"][0]["fee"]) / float(t["execValue"]), 6)
        for t in trades
        if t["tradeScope"] == "taker"
    }
    assert len(rates) == 1
    return rates.pop()


# --- minimal markets from the payloads ---------------------------------------------------------


def swap_market(symbol: str, market_id: str, contract_size: float, **extra: Any) -> dict[str, Any]:
    limits = {k: {"min": None, "max": None} for k in ("amount", "price", "cost", "leverage")}
    precision = {"amount": 0.0001, "price": 0.1}
    return kit_swap(symbol, market_id, contract_size, precision=precision, limits=limits, **extra)


def contract_size(method: str, index: int) -> float:
    """Base units per contract: the row's notional over size x mark (Bitget sizes are in coin)."""
    raw = raw_position(method, index)
    row = parsed_rows(method, index)[0]
    return round(row["notional"] / (float(raw["total"]) * float(raw["markPrice"])), 9)


def markets() -> list[dict[str, Any]]:
    return [
        swap_market(
            "BTC/USDT:USDT",
            raw_position(*UTA_ROW)["symbol"],
            contract_size(*UTA_ROW),
            taker=taker_fee(),
        ),
        swap_market(
            "LTC/USDT:USDT", raw_position(*CLASSIC_ROW)["symbol"], contract_size(*CLASSIC_ROW)
        ),
    ]


def client() -> Any:
    exchange = ccxt.bitget({"apiKey": "key", "secret": "secret", "password": "pass"})
    exchange.options.update(copy.deepcopy(load_recorded(DATA)["options"]))
    exchange.set_markets(markets())
    return exchange


def markets_by_symbol() -> dict[str, Any]:
    return dict(client().markets)


def replay(
    method: str, index: int, path: str, recorded_call: Mapping[str, Any] | None = None
) -> tuple[Any, list[tuple[str, str, Any]]]:
    """Call the recorded ccxt method with its recorded input through the pinned ccxt; the one
    request must go to ``path``. Returns the result and the requests (method, url, body)."""
    call = recorded_call if recorded_call is not None else entry(method, index)
    exchange = client()
    sent: list[tuple[str, str, Any]] = []

    def fetch(url: str, verb: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent.append((verb, url, body))
        assert path in url, f"{method}[{index}]: unexpected request {verb} {url}"
        return copy.deepcopy(call["httpResponse"])

    exchange.fetch = fetch
    result = getattr(exchange, exchange.un_camel_case(call["method"]))(
        *copy.deepcopy(call["input"])
    )
    assert len(sent) == 1, sent
    return result, sent


def as_rows(result: Any) -> list[dict[str, Any]]:
    return result if isinstance(result, list) else [result]


def recorded_tiers() -> tuple[Any, ...]:
    return tiers_from_ccxt(parsed_rows("fetchMarketLeverageTiers", 0))


def normalise(row: Mapping[str, Any], default_mode: MarginMode = MarginMode.CROSS) -> Any:
    market = markets_by_symbol()[row["symbol"]]
    return position_from_ccxt(row, market, recorded_tiers(), default_mode)


def isolated_call(method: str, index: int) -> dict[str, Any]:
    """The recorded call with its raw row's ``marginMode`` set to "isolated" (no isolated row is
    recorded; this shows what the pinned ccxt does with one)."""
    call = entry(method, index)
    data = call["httpResponse"]["data"]
    rows = data["list"] if isinstance(data, dict) else data
    rows[0]["marginMode"] = "isolated"
    return call


# =============================================================================================
# (a) the pinned ccxt on the recorded httpResponse
# =============================================================================================

POSITION_REPLAYS = [
    pytest.param("fetchPositions", 0, "/api/v2/mix/position/all-position", id="classic-positions"),
    pytest.param("fetchPositions", 1, "/api/v3/position/current-position", id="uta-positions"),
    pytest.param("fetchPosition", 0, "/api/v2/mix/position/single-position", id="classic-empty"),
    pytest.param("fetchPosition", 1, "/api/v3/position/current-position", id="uta-position"),
]


@pytest.mark.parametrize(("method", "index", "path"), POSITION_REPLAYS)
def test_ccxt_position_parser_on_recorded_response_matches_recorded_parse_on_fields_riskguard_reads(
    method: str, index: int, path: str
) -> None:
    # Act
    rows = as_rows(replay(method, index, path)[0])

    # Assert
    expected = parsed_rows(method, index)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert {f: got[f] for f in POSITION_FIELDS} == {f: want[f] for f in POSITION_FIELDS}
        assert got["info"] == want["info"]


@pytest.mark.parametrize(("method", "index"), [UTA_ROW, UTA_SINGLE], ids=["positions", "position"])
def test_ccxt_uta_maintenance_figures_differ_from_recording(method: str, index: int) -> None:
    """The recording (another ccxt version) put the raw ``mmr`` in ``marginRatio`` and left the
    maintenance figures empty; the pinned ccxt reads ``mmr`` as the maintenance rate and adds
    the taker fee to close to the maintenance margin (neither is read by riskguard)."""
    # Arrange
    raw = raw_position(method, index)
    recorded = parsed_rows(method, index)[0]

    # Act
    row = as_rows(replay(method, index, "/api/v3/position/current-position")[0])[0]

    # Assert
    assert recorded["marginRatio"] == float(raw["mmr"])
    assert recorded["maintenanceMarginPercentage"] is None
    assert row["marginRatio"] is None
    assert row["maintenanceMarginPercentage"] == float(raw["mmr"])
    expected_mm = row["notional"] * (float(raw["mmr"]) + taker_fee())
    assert row["maintenanceMargin"] == pytest.approx(expected_mm, rel=EXACT)


def test_ccxt_uta_balance_total_is_the_asset_equity_and_info_is_the_whole_response() -> None:
    """The UTA balance (another recording date than the positions): ``total`` is each asset's
    ``equity``; the pinned ccxt keeps the whole response as ``info`` (recorded: the assets)."""
    # Arrange
    call = entry("fetchBalance", 0)
    assets = call["httpResponse"]["data"]["assets"]

    # Act
    balance, _ = replay("fetchBalance", 0, "/api/v3/account/assets")

    # Assert
    assert balance["total"] == call["parsedResponse"]["total"]
    assert balance["total"] == {a["coin"]: float(a["equity"]) for a in assets}
    assert call["parsedResponse"]["info"] == assets
    assert balance["info"] == call["httpResponse"]


def test_ccxt_tiers_parser_on_recorded_response_matches_recording() -> None:
    # Act
    tiers, _ = replay("fetchMarketLeverageTiers", 0, "/api/v3/market/position-tier")

    # Assert
    assert tiers == parsed_rows("fetchMarketLeverageTiers", 0)


def test_ccxt_swap_ticker_carries_the_mark_price() -> None:
    # Arrange
    call = entry("fetchTicker", 0)

    # Act
    ticker, _ = replay("fetchTicker", 0, "/api/v3/market/tickers")

    # Assert
    assert ticker["markPrice"] == call["parsedResponse"]["markPrice"]
    assert ticker["markPrice"] == float(call["httpResponse"]["data"][0]["markPrice"])


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "/api/v3/trade/unfilled-orders"), (1, "/api/v3/trade/unfilled-strategy-orders")],
    ids=["limit", "strategy-stop"],
)
def test_ccxt_open_orders_parser_on_recorded_response_matches_recording_on_stop_fields(
    index: int, path: str
) -> None:
    # Act
    orders, _ = replay("fetchOpenOrders", index, path)

    # Assert
    expected = parsed_rows("fetchOpenOrders", index)
    assert [{f: o[f] for f in ORDER_FIELDS} for o in orders] == [
        {f: o[f] for f in ORDER_FIELDS} for o in expected
    ]


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "/api/v3/trade/place-order"), (1, "/api/v3/trade/place-order")],
    ids=["limit-posSide", "market-attached-stop"],
)
def test_ccxt_create_order_on_recorded_response_returns_the_recorded_ids(
    index: int, path: str
) -> None:
    # Act
    order, _ = replay("createOrder", index, path)

    # Assert
    expected = parsed_rows("createOrder", index)[0]
    assert (order["id"], order["clientOrderId"]) == (expected["id"], expected["clientOrderId"])


def test_ccxt_reduce_only_stop_loss_price_goes_out_as_a_mark_triggered_strategy_order() -> None:
    """createOrder[2] (UTA, ``stopLossPrice`` + ``reduceOnly``): ccxt sends it to the strategy
    endpoint as a position stop-loss triggered by the mark price, at the recorded prices."""
    # Arrange
    params = entry("createOrder", 2)["input"][5]

    # Act
    order, sent = replay("createOrder", 2, "/api/v3/trade/place-strategy-order")

    # Assert
    body = json.loads(sent[0][2])
    assert body["slTriggerBy"] == "mark"
    assert float(body["stopLoss"]) == params["stopLossPrice"]
    assert order["id"] == parsed_rows("createOrder", 2)[0]["id"]


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (0, "/api/v2/mix/market/current-fund-rate"),
        (1, "/api/v2/mix/market/funding-time"),
        (2, "/api/v3/market/current-fund-rate"),
    ],
    ids=["classic", "funding-time", "uta"],
)
def test_ccxt_funding_rate_parser_on_recorded_response_matches_recording(
    index: int, path: str
) -> None:
    # Act
    rate, _ = replay("fetchFundingRate", index, path)

    # Assert
    expected = parsed_rows("fetchFundingRate", index)[0]
    assert {k: rate[k] for k in ("fundingRate", "fundingTimestamp", "interval")} == {
        k: expected[k] for k in ("fundingRate", "fundingTimestamp", "interval")
    }


def test_ccxt_bitget_default_market_type_is_spot() -> None:
    """ccxt's bitget defaults to spot: a derivatives account must say swap (or UTA) in its
    ccxt options, or ``fetch_balance()`` reads the spot wallet."""
    assert ccxt.bitget().options["defaultType"] == "spot"


# =============================================================================================
# (b) riskguard's normaliser on the unified rows
# =============================================================================================


@pytest.mark.parametrize(
    ("method", "index"), [CLASSIC_ROW, UTA_ROW, UTA_SINGLE], ids=["classic", "uta", "uta-single"]
)
def test_position_from_ccxt_on_recorded_row_copies_side_prices_size_and_cross_mode(
    method: str, index: int
) -> None:
    # Arrange
    row = parsed_rows(method, index)[0]
    raw = raw_position(method, index)

    # Act
    position = normalise(row)

    # Assert
    assert position is not None
    assert position.size == pytest.approx(float(raw["total"]), rel=EXACT)
    assert position.side is Side(raw.get("holdSide") or raw["posSide"])
    assert position.entry_price == float(raw.get("openPriceAvg") or raw["avgPrice"])
    assert position.mark_price == float(raw["markPrice"])
    assert raw["marginMode"] == "crossed"
    assert position.margin_mode is MarginMode.CROSS
    assert position.collateral is None
    assert position.leverage == float(raw["leverage"])
    assert not position.inverse


def test_position_from_ccxt_empty_recorded_position_is_dropped() -> None:
    """fetchPosition[0]: Bitget answered an empty list; ccxt still returns a row, without size."""
    # Arrange
    row = parsed_rows("fetchPosition", 0)[0]

    # Act
    position = position_from_ccxt(row, {}, (), MarginMode.CROSS)

    # Assert
    assert entry("fetchPosition", 0)["httpResponse"]["data"] == []
    assert row["contracts"] is None
    assert position is None


@pytest.mark.parametrize(
    ("method", "index", "raw_field"),
    [(*CLASSIC_ROW, "marginSize"), (*UTA_SINGLE, "positionBalance")],
    ids=["classic-marginSize", "uta-positionBalance"],
)
def test_isolated_row_collateral_is_the_raw_margin_whatever_ccxt_adds(
    method: str, index: int, raw_field: str
) -> None:
    """An isolated version of a recorded row: the pinned ccxt's ``collateral`` is the raw margin
    plus unrealised PnL; riskguard's collateral is the raw margin alone, also when a ccxt gives
    the margin alone as ``collateral`` (as ccxt does for OKX and Bybit in other versions)."""
    # Arrange
    call = isolated_call(method, index)
    row = as_rows(replay(method, index, "/position/", call)[0])[0]
    raw = row["info"]
    margin = float(raw[raw_field])
    upnl = float(raw.get("unrealizedPL") or raw["unrealisedPnl"])
    margin_alone = copy.deepcopy(row)
    margin_alone["collateral"] = margin

    # Act
    from_pinned = normalise(row)
    from_margin_alone = normalise(margin_alone)

    # Assert
    assert upnl != 0
    assert row["marginMode"] == "isolated"
    assert row["collateral"] == pytest.approx(margin + upnl, rel=EXACT)
    assert from_pinned is not None
    assert from_margin_alone is not None
    assert from_pinned.collateral == pytest.approx(margin, rel=EXACT)
    assert from_margin_alone.collateral == pytest.approx(margin, rel=EXACT)


@pytest.mark.parametrize(
    ("method", "index", "raw_field"),
    [(*CLASSIC_ROW, "openPriceAvg"), (*UTA_ROW, "avgPrice")],
    ids=["classic-openPriceAvg", "uta-avgPrice"],
)
def test_position_from_ccxt_row_without_entry_price_reads_the_raw_entry(
    method: str, index: int, raw_field: str
) -> None:
    # Arrange
    row = parsed_rows(method, index)[0]
    row["entryPrice"] = None

    # Act
    position = normalise(row)

    # Assert
    assert position is not None
    assert position.entry_price == float(row["info"][raw_field])


# =============================================================================================
# (c) liquidation price
# =============================================================================================


def test_recorded_zero_liquidation_price_is_none_in_ccxt_and_none_in_riskguard() -> None:
    """Bitget sends "0" for both open cross rows (nothing in sight); ccxt gives None. riskguard,
    with the recorded UTA wallet (another date: no wallet of the same time is recorded) and the
    recorded BTCUSDT tiers, finds no liquidation price either: the wallet covers the position."""
    # Arrange
    rows = parsed_rows(*UTA_ROW)
    balance = entry("fetchBalance", 0)["parsedResponse"]

    # Act
    snapshot = snapshot_from_ccxt(
        account="recorded",
        venue="bitget",
        balance=balance,
        positions=rows,
        markets=markets_by_symbol(),
        tiers={rows[0]["symbol"]: recorded_tiers()},
        taken_at=TAKEN_AT,
        total_includes_upnl="bitget" not in TOTAL_EXCLUDES_UPNL,
    )
    evaluation = evaluate_account(snapshot)

    # Assert
    assert raw_position(*UTA_ROW)["liquidationPrice"] == "0"
    assert rows[0]["liquidationPrice"] is None
    assert snapshot.wallet_balance == balance["total"]["USDT"]
    assert snapshot.wallet_balance > snapshot.positions[0].size * snapshot.positions[0].entry_price
    assert evaluation.positions[0].risk.liquidation_price is None


@pytest.mark.parametrize(
    ("method", "index"), [CLASSIC_ROW, UTA_SINGLE], ids=["classic-LTC", "uta-BTC"]
)
def test_ccxt_derived_isolated_liquidation_price_agrees_with_the_bitget_profile(
    method: str, index: int
) -> None:
    """For an isolated row Bitget sends as "0", the pinned ccxt derives its own price from the
    row's rate and the taker fee; the guard's cross-check would read that as the exchange's.
    riskguard's bitget profile (Bitget's published formula, MM + fee on the mark value) agrees
    within 0.01% (ccxt multiplies (1 - mmr)(1 - fee) where Bitget subtracts mmr + fee). The fee
    is the recorded BTCUSDT taker rate for both rows (LTCUSDT's is not recorded; ccxt falls back
    to the same 0.06%)."""
    # Arrange
    call = isolated_call(method, index)
    row = as_rows(replay(method, index, "/position/", call)[0])[0]
    rate = float(row["info"].get("keepMarginRate") or row["info"]["mmr"])
    market = dict(markets_by_symbol()[row["symbol"]], taker=taker_fee())
    flat = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])
    position = position_from_ccxt(row, market, flat, MarginMode.CROSS)
    assert position is not None

    # Act
    risk = assess_isolated(position, get_profile("bitget"))

    # Assert
    assert row["liquidationPrice"] is not None
    assert risk.liquidation_price is not None
    assert risk.liquidation_price == pytest.approx(row["liquidationPrice"], rel=SAME_FORMULA)


# =============================================================================================
# (d) tiers, stops and the other conventions
# =============================================================================================


def test_tiers_from_ccxt_recorded_tiers_keep_bounds_and_rates_and_derive_continuous_offsets() -> (
    None
):
    """Bitget's tiers carry no offset; its liquidation formula subtracts a "pre-calculated
    offset", which riskguard derives so the maintenance margin is continuous across tiers."""
    # Arrange
    rows = parsed_rows("fetchMarketLeverageTiers", 0)

    # Act
    tiers = recorded_tiers()

    # Assert
    assert [(t.min_bound, t.maintenance_margin_rate) for t in tiers] == [
        (r["minNotional"], r["maintenanceMarginRate"]) for r in rows
    ]
    assert tiers[0].maintenance_amount == 0
    for lower, upper in itertools.pairwise(tiers):
        left = upper.min_bound * lower.maintenance_margin_rate - lower.maintenance_amount
        right = upper.min_bound * upper.maintenance_margin_rate - upper.maintenance_amount
        assert left == pytest.approx(right, rel=1e-9)


def test_uta_position_rate_is_the_recorded_tier_rate_for_its_notional() -> None:
    # Arrange
    raw = raw_position(*UTA_ROW)
    notional = float(raw["total"]) * float(raw["markPrice"])

    # Act
    tier = next(t for t in recorded_tiers() if t.min_bound <= notional < t.max_bound)

    # Assert
    assert tier.maintenance_margin_rate == float(raw["mmr"])


def test_recorded_uta_position_stop_is_not_counted_as_a_stop() -> None:
    """fetchOpenOrders[1]: a position stop-loss (strategy order, ``slTriggerBy`` mark). ccxt
    leaves its ``side`` and ``reduceOnly`` empty, so ``open_stops_from_ccxt`` (which counts
    reduce-only trigger orders) does not see it: riskguard misses this stop today."""
    # Arrange
    orders = parsed_rows("fetchOpenOrders", 1)

    # Act
    stops = open_stops_from_ccxt(orders, markets_by_symbol(), lambda cid: False)

    # Assert
    assert orders[0]["stopLossPrice"] == float(orders[0]["info"]["stopLoss"])
    assert orders[0]["info"]["slTriggerBy"] == "mark"
    assert (orders[0]["side"], orders[0]["reduceOnly"]) == (None, None)
    assert stops == ()


def test_recorded_plain_limit_order_is_not_a_stop() -> None:
    # Arrange
    orders = parsed_rows("fetchOpenOrders", 0)

    # Act
    stops = open_stops_from_ccxt(orders, markets_by_symbol(), lambda cid: False)

    # Assert
    assert orders[0]["type"] == "limit"
    assert stops == ()
