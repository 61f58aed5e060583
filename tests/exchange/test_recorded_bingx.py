"""BingX on responses recorded by ccxt's own static tests (``tests/data/ccxt-recorded``).

``bingx.json`` holds each recorded call's raw ``httpResponse`` and the ``parsedResponse`` ccxt
produced when it was recorded; ``bingx.md`` says where each entry comes from. Checked here:

(a) the pinned ccxt replays every recorded ``httpResponse`` offline (its HTTP ``fetch`` is
    replaced) and must agree with the recording on the fields riskguard reads; differences are
    pinned (order ``reduceOnly``/``stopLossPrice`` zeros, the balance endpoint ccxt picks);
(b) riskguard's normaliser on the recorded unified rows (a linear and an inverse cross row);
(c) the liquidation price. The linear row has BingX's "0" (none in sight); the inverse row has a
    price, but its cross wallet and its SOL-USD maintenance rate are not recorded, so it cannot
    be recomputed: the wallet it implies is bounded instead, and fed back (a circular check of
    the inverse algebra with the fee in the threshold, not an independent one);
(d) the conventions: ``total`` of the swap balance is the wallet without unrealised PnL, tier
    maintenance amounts are the continuous ones riskguard derives, reduce-only stop orders.

Every number is read from the JSON at test time. The taker fee is the one recorded on a filled
swap market order (``fetchOrder``), contract sizes come from the recorded rows.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import pytest

from riskguard import AccountSnapshot, MarginMode, Side
from riskguard.exchange.ccxt_account import (
    TOTAL_EXCLUDES_UPNL,
    cross_wallet,
    open_stops_from_ccxt,
    position_from_ccxt,
    snapshot_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.risk import assess_account, evaluate_account, get_profile
from tests.exchange.recorded_kit import ORDER_FIELDS, POSITION_FIELDS, load_recorded, recorded_entry
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "bingx.json"

CIRCULAR = 1e-9
"""A price fed back through the wallet it implies comes back to rounding (the fee alone would
move it by 5e-4)."""

EXACT = 1e-12

TAKEN_AT = datetime(2024, 7, 16, tzinfo=UTC)

LINEAR_ROW = ("fetchPositions", 0)
"""LTC-USDT, cross (``isolated`` false), raw liquidationPrice "0"."""
INVERSE_ROW = ("fetchPositions", 1)
"""SOL-USD (10 USD contracts), cross, raw liquidationPrice 23.968..."""
FILLED_MARKET_ORDER = ("fetchOrder", 0)
"""A filled reduce-only swap market order: its commission gives the taker rate."""
STOP_ORDER = ("fetchOrder", 1)
"""A reduce-only STOP_MARKET sell (mark-price trigger), still open."""


# --- recorded entries --------------------------------------------------------------------------


def entry(method: str, index: int) -> dict[str, Any]:
    """A deep copy of one recorded call (tests may alter it)."""
    return recorded_entry(DATA, method, index)


def parsed_rows(method: str, index: int) -> list[dict[str, Any]]:
    parsed = entry(method, index)["parsedResponse"]
    return parsed if isinstance(parsed, list) else [parsed]


def raw_position(method: str, index: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = entry(method, index)["httpResponse"]["data"]
    assert len(rows) == 1
    return rows[0]


def taker_fee() -> float:
    """Commission / traded value of the recorded filled market order (a taker fill)."""
    order = entry(*FILLED_MARKET_ORDER)["httpResponse"]["data"]["order"]
    assert order["type"] == "MARKET"
    value = float(order["executedQty"]) * float(order["avgPrice"])
    return round(abs(float(order["commission"])) / value, 6)


# --- minimal markets from the payloads ---------------------------------------------------------


def swap_market(symbol: str, market_id: str, contract_size: float, **extra: Any) -> dict[str, Any]:
    limits = {k: {"min": None, "max": None} for k in ("amount", "price", "cost", "leverage")}
    base_terms = {"taker": taker_fee(), "precision": {"amount": 0.0001, "price": 0.01}}
    return kit_swap(symbol, market_id, contract_size, **base_terms, limits=limits, **extra)


def markets() -> list[dict[str, Any]]:
    """LTC-USDT: positionValue / (positionAmt x markPrice) = 1 LTC per contract; SOL-USD: the
    recorded row's 10 USD contracts; BTC-USDT and ETH-USDT (coin-sized, as their orders show)
    and BTC-USD for the other recorded calls."""
    linear = raw_position(*LINEAR_ROW)
    per_contract = float(linear["positionValue"]) / (
        float(linear["positionAmt"]) * float(linear["markPrice"])
    )
    inverse = parsed_rows(*INVERSE_ROW)[0]
    return [
        swap_market("LTC/USDT:USDT", linear["symbol"], round(per_contract, 3)),
        swap_market(inverse["symbol"], inverse["info"]["symbol"], inverse["contractSize"]),
        swap_market("BTC/USDT:USDT", "BTC-USDT", 1.0),
        swap_market("ETH/USDT:USDT", "ETH-USDT", 1.0),
        swap_market("BTC/USD:BTC", "BTC-USD", 100.0),
    ]


def client(**options: Any) -> Any:
    exchange = ccxt.bingx({"apiKey": "key", "secret": "secret"})
    exchange.options.update(copy.deepcopy(load_recorded(DATA)["options"]))
    exchange.options.update(options)
    exchange.set_markets(markets())
    return exchange


@functools.cache
def _markets_by_symbol() -> dict[str, Any]:
    return dict(client().markets)


def markets_by_symbol() -> dict[str, Any]:
    return copy.deepcopy(_markets_by_symbol())


def replay(
    method: str,
    index: int,
    path: str,
    call: Mapping[str, Any] | None = None,
    name: str | None = None,
    **options: Any,
) -> tuple[Any, list[str]]:
    """Call the recorded ccxt method (or ``name``) with its recorded input through the pinned
    ccxt; the one request must go to ``path``. Returns the result and the request URLs."""
    recorded_call = call if call is not None else entry(method, index)
    exchange = client(**options)
    sent: list[str] = []

    def fetch(url: str, verb: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent.append(url)
        assert path in url, f"{method}[{index}]: unexpected request {verb} {url}"
        return copy.deepcopy(recorded_call["httpResponse"])

    exchange.fetch = fetch
    fn = getattr(exchange, exchange.un_camel_case(name or recorded_call["method"]))
    result = fn(*copy.deepcopy(recorded_call["input"]))
    assert len(sent) == 1, sent
    return result, sent


def as_rows(result: Any) -> list[dict[str, Any]]:
    return result if isinstance(result, list) else [result]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def normalise(row: Mapping[str, Any], default_mode: MarginMode = MarginMode.CROSS) -> Any:
    market = markets_by_symbol()[row["symbol"]]
    flat = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": 0.0}])
    return position_from_ccxt(row, market, flat, default_mode)


# =============================================================================================
# (a) the pinned ccxt on the recorded httpResponse
# =============================================================================================


@pytest.mark.parametrize(
    ("row", "path"),
    [(LINEAR_ROW, "/openApi/swap/v2/user/positions"), (INVERSE_ROW, "/openApi/cswap/v1/user/")],
    ids=["linear", "inverse"],
)
def test_ccxt_position_parser_on_recorded_response_matches_recorded_parse_on_fields_riskguard_reads(
    row: tuple[str, int], path: str
) -> None:
    # Act
    rows = as_rows(replay(*row, path)[0])

    # Assert
    expected = parsed_rows(*row)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert {f: got[f] for f in POSITION_FIELDS} == {f: want[f] for f in POSITION_FIELDS}
        assert got["info"] == want["info"]


def test_ccxt_balance_without_params_asks_the_spot_endpoint_but_parses_the_swap_shape() -> None:
    """The recorded "swap fetch balance" call has no params: the pinned ccxt (default type
    spot) sends it to the spot endpoint; the recorded swap-shaped answer still parses as a
    contract balance. A guard must configure ``defaultType: swap`` for a BingX account."""
    # Act
    balance, _ = replay("fetchBalance", 0, "/openApi/spot/v1/account/balance")

    # Assert
    assert ccxt.bingx().options["defaultType"] == "spot"
    assert balance["total"] == entry("fetchBalance", 0)["parsedResponse"]["total"]


def test_ccxt_swap_balance_total_is_available_plus_used_margin_the_wallet_without_upnl() -> None:
    """With ``defaultType: swap`` the same answer comes from the swap endpoint. The recorded
    (v2-shaped) asset has no ``maxWithdrawAmount``, which the pinned ccxt reads as ``total``, so
    ccxt totals free + used = availableMargin + usedMargin: BingX's ``balance`` (the wallet, to
    its 4 decimals), not its ``equity`` (balance + unrealisedProfit)."""
    # Arrange
    asset = entry("fetchBalance", 0)["httpResponse"]["data"][0]

    # Act
    balance, _ = replay("fetchBalance", 0, "/openApi/swap/", defaultType="swap")

    # Assert
    total = balance["total"][asset["asset"]]
    assert "maxWithdrawAmount" not in asset
    assert total == pytest.approx(
        float(asset["availableMargin"]) + float(asset["usedMargin"]), rel=EXACT
    )
    assert total == pytest.approx(float(asset["balance"]), abs=2e-4)
    assert float(asset["equity"]) == pytest.approx(
        float(asset["balance"]) + float(asset["unrealizedProfit"]), rel=EXACT
    )
    assert total < float(asset["equity"]) - 1


def test_ccxt_tiers_parser_on_recorded_response_matches_recording() -> None:
    # Act
    tiers, _ = replay("fetchMarketLeverageTiers", 0, "/openApi/swap/v1/maintMarginRatio")

    # Assert
    assert tiers == parsed_rows("fetchMarketLeverageTiers", 0)


def test_ccxt_swap_ticker_has_no_mark_price_and_the_mark_comes_from_the_premium_index() -> None:
    """BingX's swap ticker carries no mark price (ccxt: None); ``fetch_mark_price`` (what the
    live adapter calls, BingX having it) reads the premium index, recorded as fetchFundingRate."""
    # Arrange
    premium = entry("fetchFundingRate", 0)

    # Act
    ticker, _ = replay("fetchTicker", 0, "/openApi/swap/v2/quote/ticker")
    mark, _ = replay(
        "fetchFundingRate", 0, "/openApi/swap/v2/quote/premiumIndex", name="fetchMarkPrice"
    )

    # Assert
    assert ticker["markPrice"] is None
    assert entry("fetchTicker", 0)["parsedResponse"]["markPrice"] is None
    assert ccxt.bingx().has["fetchMarkPrice"]
    assert mark["markPrice"] == float(premium["httpResponse"]["data"]["markPrice"])


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "/openApi/swap/v2/quote/premiumIndex"), (1, "/openApi/cswap/v1/market/premiumIndex")],
    ids=["linear", "inverse"],
)
def test_ccxt_funding_rate_parser_on_recorded_response_matches_recording(
    index: int, path: str
) -> None:
    # Act
    rate, _ = replay("fetchFundingRate", index, path)

    # Assert
    expected = parsed_rows("fetchFundingRate", index)[0]
    keys = ("fundingRate", "markPrice", "nextFundingTimestamp")
    assert {k: rate[k] for k in keys} == {k: expected[k] for k in keys}


def test_ccxt_fetch_order_stop_order_matches_recording_on_stop_fields() -> None:
    # Act
    order, _ = replay(*STOP_ORDER, "/openApi/swap/v2/trade/order")

    # Assert
    expected = parsed_rows(*STOP_ORDER)[0]
    assert {f: order[f] for f in ORDER_FIELDS} == {f: expected[f] for f in ORDER_FIELDS}


def test_ccxt_fetch_order_filled_market_order_leaves_stop_prices_empty_unlike_recording() -> None:
    """The recording has the empty stop/take-profit as 0; the pinned ccxt gives None."""
    # Act
    order, _ = replay(*FILLED_MARKET_ORDER, "/openApi/swap/v2/trade/order")

    # Assert
    expected = parsed_rows(*FILLED_MARKET_ORDER)[0]
    assert (expected["stopLossPrice"], expected["takeProfitPrice"]) == (0, 0)
    assert (order["stopLossPrice"], order["takeProfitPrice"]) == (None, None)
    same = [f for f in ORDER_FIELDS if f != "stopLossPrice"]
    assert {f: order[f] for f in same} == {f: expected[f] for f in same}


def test_ccxt_create_order_with_stop_loss_sends_a_mark_price_stop_market() -> None:
    """createOrder[0] (unified ``stopLoss`` dict): ccxt attaches a STOP_MARKET on the mark
    price; the answer is parsed as recorded."""
    # Arrange
    trigger = entry("createOrder", 0)["input"][5]["stopLoss"]["triggerPrice"]

    # Act
    order, sent = replay("createOrder", 0, "/openApi/swap/v2/trade/order")

    # Assert
    stop = json.loads(query(sent[0])["stopLoss"])
    assert (stop["type"], stop["workingType"], stop["stopPrice"]) == (
        "STOP_MARKET",
        "MARK_PRICE",
        trigger,
    )
    expected = parsed_rows("createOrder", 0)[0]
    assert {f: order[f] for f in ORDER_FIELDS} == {f: expected[f] for f in ORDER_FIELDS}


@pytest.mark.parametrize("index", [1, 2], ids=["tp-and-sl", "reduce-only-20991"])
def test_ccxt_create_order_reads_the_venue_echo_where_the_recording_had_none(index: int) -> None:
    """createOrder[1] and [2]: the pinned ccxt reads ``reduceOnly`` from BingX's echo (false)
    where the recording had None. For [2] ccxt sent ``reduceOnly=true`` and BingX echoed false
    (hedge mode, ``positionSide`` LONG): the create answer does not confirm a reduce-only order."""
    # Arrange
    raw = entry("createOrder", index)["httpResponse"]["data"]["order"]

    # Act
    order, sent = replay("createOrder", index, "/openApi/swap/v2/trade/order")

    # Assert
    expected = parsed_rows("createOrder", index)[0]
    assert expected["reduceOnly"] is None
    assert raw["reduceOnly"] is False
    assert order["reduceOnly"] is False
    same = [f for f in ORDER_FIELDS if f not in ("reduceOnly", "triggerPrice")]
    assert {f: order[f] for f in same} == {f: expected[f] for f in same}
    if entry("createOrder", index)["input"][5].get("reduceOnly"):
        assert query(sent[0])["reduceOnly"] == "true"


def test_ccxt_create_trigger_order_matches_recording() -> None:
    # Act
    order, _ = replay("createOrder", 3, "/openApi/swap/v2/trade/order")

    # Assert
    expected = parsed_rows("createOrder", 3)[0]
    assert {f: order[f] for f in ORDER_FIELDS} == {f: expected[f] for f in ORDER_FIELDS}


# =============================================================================================
# (b) riskguard's normaliser on the unified rows
# =============================================================================================


@pytest.mark.parametrize("row_key", [LINEAR_ROW, INVERSE_ROW], ids=["linear", "inverse"])
def test_position_from_ccxt_on_recorded_row_copies_side_prices_size_and_cross_mode(
    row_key: tuple[str, int],
) -> None:
    """Sizes: LTC-USDT in coin (contracts x 1); SOL-USD in USD (contracts x 10 USD), inverse."""
    # Arrange
    row = parsed_rows(*row_key)[0]
    raw = raw_position(*row_key)
    market = markets_by_symbol()[row["symbol"]]

    # Act
    position = normalise(row)

    # Assert
    assert position is not None
    assert position.size == pytest.approx(
        float(raw["positionAmt"]) * market["contractSize"], rel=EXACT
    )
    assert position.side is Side(raw["positionSide"].lower())
    assert position.entry_price == float(raw["avgPrice"])
    assert position.mark_price == float(raw["markPrice"])
    assert raw["isolated"] is False
    assert position.margin_mode is MarginMode.CROSS
    assert position.collateral is None
    assert position.leverage == float(raw["leverage"])
    assert position.inverse is market["inverse"]


def test_isolated_row_through_pinned_ccxt_gives_the_initial_margin_as_collateral() -> None:
    """An isolated version of the recorded linear row (no isolated row is recorded): the pinned
    ccxt's ``collateral`` is ``initialMargin`` + unrealised PnL (the row has no ``margin``), so
    riskguard's collateral is ``initialMargin``. No raw field is registered for BingX: whether
    an isolated row's own ``margin`` (which ccxt would take as is) includes unrealised PnL is not
    recorded."""
    # Arrange
    call = entry(*LINEAR_ROW)
    call["httpResponse"]["data"][0]["isolated"] = True
    row = as_rows(replay(*LINEAR_ROW, "/openApi/swap/v2/user/positions", call=call)[0])[0]
    raw = row["info"]

    # Act
    position = normalise(row)

    # Assert
    assert "margin" not in raw
    assert row["collateral"] == pytest.approx(
        float(raw["initialMargin"]) + float(raw["unrealizedProfit"]), rel=EXACT
    )
    assert position is not None
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.collateral == pytest.approx(float(raw["initialMargin"]), rel=1e-9)


def test_position_from_ccxt_row_without_entry_price_reads_the_raw_avg_price() -> None:
    # Arrange
    row = parsed_rows(*LINEAR_ROW)[0]
    row["entryPrice"] = None

    # Act
    position = normalise(row)

    # Assert
    assert position is not None
    assert position.entry_price == float(row["info"]["avgPrice"])


# =============================================================================================
# (c) liquidation price
# =============================================================================================


def recorded_tiers() -> tuple[Any, ...]:
    return tiers_from_ccxt(parsed_rows("fetchMarketLeverageTiers", 0))


def test_linear_zero_liquidation_price_is_none_in_ccxt_and_none_in_riskguard() -> None:
    """BingX sends "0" for the linear cross row; with the recorded swap wallet (another
    recording: none of the same time exists) riskguard finds no liquidation price either. LTC's
    tiers are not recorded: the ETH-USDT table recorded stands in (tier 1 at this size)."""
    # Arrange
    rows = parsed_rows(*LINEAR_ROW)
    balance, _ = replay("fetchBalance", 0, "/openApi/swap/", defaultType="swap")

    # Act
    snapshot = snapshot_from_ccxt(
        account="recorded",
        venue="bingx",
        balance=balance,
        positions=rows,
        markets=markets_by_symbol(),
        tiers={rows[0]["symbol"]: recorded_tiers()},
        taken_at=TAKEN_AT,
        total_includes_upnl="bingx" not in TOTAL_EXCLUDES_UPNL,
    )
    evaluation = evaluate_account(snapshot)

    # Assert
    assert raw_position(*LINEAR_ROW)["liquidationPrice"] == "0"
    assert rows[0]["liquidationPrice"] is None
    assert snapshot.wallet_balance > snapshot.positions[0].size * snapshot.positions[0].entry_price
    assert evaluation.positions[0].risk.liquidation_price is None


def test_inverse_cross_liquidation_price_implies_a_wallet_far_beyond_the_position_margin() -> None:
    """SOL-USD cross long, BingX's price 23.97 against a mark of 158.4: neither the cross wallet
    nor the SOL-USD rate is recorded, so the price cannot be recomputed. BingX's rule (equity =
    maintenance margin + fee to close, in SOL) gives the wallet it implies; with a rate of 0 (the
    least) that wallet is already > 50x the position's initial margin. Fed back into riskguard's
    bingx profile (rate 0, the recorded taker fee), the price comes back: a circular check of
    the inverse algebra with the fee in the threshold, not an independent recompute."""
    # Arrange
    row = parsed_rows(*INVERSE_ROW)[0]
    raw = raw_position(*INVERSE_ROW)
    venue_lp = row["liquidationPrice"]
    position = normalise(row)
    assert position is not None
    size, entry_price, fee = position.size, position.entry_price, taker_fee()
    implied_wallet = size * (1 + fee) / venue_lp - size / entry_price
    snapshot = AccountSnapshot(
        venue="bingx",
        wallet_balance=implied_wallet,
        positions=(position,),
        taken_at=TAKEN_AT,
        settle=position.symbol.partition(":")[2],
    )

    # Act
    lp = assess_account(snapshot, get_profile("bingx")).positions[0].liquidation_price

    # Assert
    assert implied_wallet > 50 * float(raw["initialMargin"])
    assert lp is not None
    assert lp == pytest.approx(venue_lp, rel=CIRCULAR)


# =============================================================================================
# (d) balance, tiers and stop conventions
# =============================================================================================


def test_cross_wallet_bingx_swap_total_is_the_wallet_and_not_reduced_by_upnl() -> None:
    """The swap ``total`` is the wallet without unrealised PnL, so ``bingx`` is in
    ``TOTAL_EXCLUDES_UPNL`` and a cross position's PnL is not taken off it again."""
    # Arrange
    balance, _ = replay("fetchBalance", 0, "/openApi/swap/", defaultType="swap")
    position = normalise(parsed_rows(*LINEAR_ROW)[0])
    assert position is not None
    assert position.unrealized_pnl != 0

    # Act
    wallet = cross_wallet(
        balance, [position], settle="USDT", total_includes_upnl="bingx" not in TOTAL_EXCLUDES_UPNL
    )

    # Assert
    assert wallet == balance["total"]["USDT"]


def test_tiers_from_ccxt_derives_the_recorded_maintenance_amounts() -> None:
    """ccxt leaves BingX's ``maintAmount`` in ``info`` (riskguard reads only ``cum`` there) and
    no max leverage; riskguard derives continuous amounts, and they are BingX's own."""
    # Arrange
    rows = parsed_rows("fetchMarketLeverageTiers", 0)

    # Act
    tiers = recorded_tiers()

    # Assert
    assert all(r["maxLeverage"] is None for r in rows)
    assert [(t.min_bound, t.maintenance_margin_rate) for t in tiers] == [
        (r["minNotional"], r["maintenanceMarginRate"]) for r in rows
    ]
    for tier, r in zip(tiers, rows, strict=True):
        assert tier.maintenance_amount == pytest.approx(float(r["info"]["maintAmount"]), abs=1e-6)
    for lower, upper in itertools.pairwise(tiers):
        assert lower.max_bound == upper.min_bound


def test_recorded_reduce_only_stop_market_is_a_stop_protecting_the_long() -> None:
    # Arrange
    order = parsed_rows(*STOP_ORDER)[0]
    raw = order["info"]

    # Act
    stops = open_stops_from_ccxt([order], markets_by_symbol(), lambda cid: False)

    # Assert
    assert (raw["type"], raw["workingType"], raw["reduceOnly"]) == (
        "STOP_MARKET",
        "MARK_PRICE",
        True,
    )
    assert len(stops) == 1
    assert stops[0].protects is Side.LONG
    assert stops[0].stop_price == float(raw["stopPrice"])
    assert stops[0].size == pytest.approx(float(raw["origQty"]), rel=EXACT)
    assert stops[0].order_id == raw["orderId"]


def test_recorded_filled_reduce_only_market_order_is_not_a_stop() -> None:
    """Its empty stop price is recorded as 0 (the pinned ccxt: None): no trigger, no stop."""
    # Arrange
    order = parsed_rows(*FILLED_MARKET_ORDER)[0]

    # Act
    stops = open_stops_from_ccxt([order], markets_by_symbol(), lambda cid: False)

    # Assert
    assert order["reduceOnly"] is True
    assert order["stopLossPrice"] == 0
    assert stops == ()
