"""KuCoin Futures (ccxt ``kucoinfutures``, profile ``kucoin``) on recorded payloads.

Two in-repo sources (``tests/data/ccxt-recorded/``, see ``kucoinfutures.md`` there):

- ``kucoinfutures.json``: entries of ccxt's static test fixture. It holds **no positions, no
  balance and no tiers**: one open limit order, one reduce-only market order read back, the swap
  ticker and the funding rate.
- ``kucoinfutures.source-examples.json``: two classic-account position rows quoted in ccxt
  4.5.90's own source comments (no recorded ``parsedResponse``; the pinned ccxt parses them here).
  They are the only KuCoin rows with a liquidation price, so the profile is checked on them.

(a) the pinned ccxt replays each recorded ``httpResponse`` (its HTTP ``fetch`` replaced) and must
match the recorded parse on the fields riskguard reads, drifts pinned; (b) riskguard's normaliser
on the rows; (c) our isolated liquidation price against KuCoin's; (d) raw-field conventions.
Every number is read from the JSON at test time.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard import MarginMode, Side
from riskguard.exchange.ccxt_account import (
    open_stops_from_ccxt,
    position_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.risk import assess_isolated, get_profile
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded"
REL = 1e-3
"""Agreement asked of a recomputed liquidation price: 0.1%."""


ORDER_FIELDS = (
    "id",
    "clientOrderId",
    "symbol",
    "side",
    "amount",
    "remaining",
    "filled",
    "status",
    "reduceOnly",
    "stopLossPrice",
    "triggerPrice",
)
"""Unified order fields riskguard reads (open stops, a placed order's fate)."""

POSITION_FIELDS = (
    "symbol",
    "contracts",
    "side",
    "entryPrice",
    "markPrice",
    "liquidationPrice",
    "marginMode",
    "collateral",
    "unrealizedPnl",
    "leverage",
    "maintenanceMarginPercentage",
)


def recorded() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "kucoinfutures.json").read_text())
    return loaded


def examples() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "kucoinfutures.source-examples.json").read_text())
    return loaded


def entry(method: str, index: int = 0) -> dict[str, Any]:
    return copy.deepcopy(recorded()["methods"][method][index])


def raw_position(index: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = examples()["methods"]["fetchPositions"][index]["httpResponse"][
        "data"
    ]
    assert len(rows) == 1
    return copy.deepcopy(rows[0])


# --- minimal markets from facts in the payloads -------------------------------------------------


def _swap(symbol: str, market_id: str, base_id: str, contract_size: float | None) -> dict[str, Any]:
    return kit_swap(symbol, market_id, contract_size, baseId=base_id)


def ltc_multiplier() -> float:
    """LTCUSDTM: the open order's value / (size x price) = 0.1 LTC per contract."""
    raw = entry("fetchOpenOrders")["httpResponse"]["data"]["items"][0]
    return float(raw["value"]) / (float(raw["size"]) * float(raw["price"]))


def eth_multiplier(index: int) -> float:
    """ETHUSDTM: posCost / (currentQty x avgEntryPrice) = 0.01 ETH per contract."""
    raw = raw_position(index)
    return round(raw["posCost"] / (raw["currentQty"] * raw["avgEntryPrice"]), 12)


def markets() -> list[dict[str, Any]]:
    # XBTUSDTM's multiplier is in none of the extracted payloads; ticker and funding ignore it.
    return [
        _swap("LTC/USDT:USDT", "LTCUSDTM", "LTC", ltc_multiplier()),
        _swap("BTC/USDT:USDT", "XBTUSDTM", "XBT", None),
        _swap("ETH/USDT:USDT", "ETHUSDTM", "ETH", eth_multiplier(0)),
    ]


def taker_fee(raw: dict[str, Any]) -> float:
    """KuCoin's posComm (the fee reserve) = taker x (posCost + posInit): the taker rate."""
    return round(raw["posComm"] / (raw["posCost"] + raw["posInit"]), 6)


def client() -> Any:
    """The pinned sync client on a classic futures account (``uta`` False: as recorded, so
    ccxt does not first ask /api/ua/v1/account/mode)."""
    exchange = ccxt.kucoinfutures({"apiKey": "key", "secret": "secret", "password": "pass"})
    exchange.options["uta"] = False
    exchange.set_markets(markets())
    return exchange


def replay(method: str, args: list[Any], response: Any, path: str) -> Any:
    exchange = client()
    urls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        assert path in url, url
        return copy.deepcopy(response)

    exchange.fetch = fetch
    result = getattr(exchange, exchange.un_camel_case(method))(*copy.deepcopy(args))
    assert len(urls) == 1, urls
    return result


def replay_entry(method: str, path: str) -> Any:
    e = entry(method)
    return replay(e["method"], e["input"], e["httpResponse"], path)


def parsed_position(index: int) -> dict[str, Any]:
    """A source-example row through the pinned ccxt's fetch_positions."""
    response = examples()["methods"]["fetchPositions"][index]["httpResponse"]
    rows = replay("fetchPositions", [], response, "/api/v1/positions")
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


# =============================================================================================
# (a) the pinned ccxt on the recorded httpResponse
# =============================================================================================


@pytest.mark.parametrize(
    ("method", "path", "drifted"),
    [
        # reduceOnly: the pinned ccxt reads the raw false; the recording has None
        ("fetchOpenOrders", "/api/v1/orders", ("reduceOnly",)),
        ("fetchOrder", "/api/v1/orders/", ()),
    ],
)
def test_ccxt_order_parse_matches_recording_on_fields_riskguard_reads(
    method: str, path: str, drifted: tuple[str, ...]
) -> None:
    # Act
    got = replay_entry(method, path)

    # Assert
    rows = got if isinstance(got, list) else [got]
    want = entry(method)["parsedResponse"]
    want = want if isinstance(want, list) else [want]
    assert len(rows) == len(want)
    for g, w in zip(rows, want, strict=True):
        for field in ORDER_FIELDS:
            if field not in drifted:
                assert g.get(field) == w.get(field), field


def test_ccxt_open_order_reduce_only_is_the_raw_flag_unlike_recording() -> None:
    """fetchOpenOrders[0]: raw reduceOnly false; recorded parse None, the pinned ccxt False."""
    got = replay_entry("fetchOpenOrders", "/api/v1/orders")[0]
    raw = entry("fetchOpenOrders")["httpResponse"]["data"]["items"][0]

    assert entry("fetchOpenOrders")["parsedResponse"][0]["reduceOnly"] is None
    assert got["reduceOnly"] is raw["reduceOnly"] is False


def test_ccxt_swap_ticker_has_no_mark_price() -> None:
    """fetchTicker[0] (XBTUSDTM): the recorded and the pinned parse carry no markPrice, so a
    mark for riskguard must come from the position row or fetch_mark_price, not the ticker."""
    got = replay_entry("fetchTicker", "/api/v1/ticker")
    want = entry("fetchTicker")["parsedResponse"]

    assert (got["symbol"], got["last"], got["bid"], got["ask"]) == (
        want["symbol"],
        want["last"],
        want["bid"],
        want["ask"],
    )
    assert got.get("markPrice") is None
    assert "markPrice" not in want


def test_ccxt_funding_rate_time_moved_to_previous_unlike_recording() -> None:
    """fetchFundingRate[0]: the rate agrees; the pinned ccxt files the raw timePoint as the
    previous funding time and drops predictedValue (recorded: fundingTimestamp, nextFundingRate).
    riskguard reads neither."""
    got = replay_entry("fetchFundingRate", "/funding-rate/")
    want = entry("fetchFundingRate")["parsedResponse"]
    raw = entry("fetchFundingRate")["httpResponse"]["data"]

    assert got["fundingRate"] == want["fundingRate"] == raw["value"]
    assert want["fundingTimestamp"] == raw["timePoint"]
    assert got["fundingTimestamp"] is None
    assert got["previousFundingTimestamp"] == raw["timePoint"]
    assert want["nextFundingRate"] == raw["predictedValue"]
    assert got["nextFundingRate"] is None


@pytest.mark.parametrize("index", [0, 1])
def test_ccxt_position_parse_of_source_example(index: int) -> None:
    """The pinned ccxt on a classic isolated row: entry avgEntryPrice, crossMode false ->
    isolated, realLeverage, liquidationPrice copied, collateral maintMargin (= posMargin + uPnL)."""
    raw = raw_position(index)

    row = parsed_position(index)

    assert {f: row[f] for f in POSITION_FIELDS} == {
        "symbol": "ETH/USDT:USDT",
        "contracts": raw["currentQty"],
        "side": "long",
        "entryPrice": raw["avgEntryPrice"],
        "markPrice": raw["markPrice"],
        "liquidationPrice": raw["liquidationPrice"],
        "marginMode": "isolated",
        "collateral": raw["maintMargin"],
        "unrealizedPnl": raw["unrealisedPnl"],
        "leverage": raw["realLeverage"],
        "maintenanceMarginPercentage": raw["maintMarginReq"],
    }


# =============================================================================================
# (b) riskguard's normaliser
# =============================================================================================


def _normalised(index: int) -> Any:
    row = parsed_position(index)
    market = {**client().markets[row["symbol"]], "taker": taker_fee(raw_position(index))}
    tiers = tiers_from_ccxt(
        [{"minNotional": 0, "maintenanceMarginRate": row["maintenanceMarginPercentage"]}]
    )
    position = position_from_ccxt(row, market, tiers, MarginMode.CROSS)
    assert position is not None
    return position


@pytest.mark.parametrize("index", [0, 1])
def test_position_from_ccxt_reads_kucoin_isolated_row(index: int) -> None:
    raw = raw_position(index)

    position = _normalised(index)

    assert position.side is Side.LONG
    assert position.size == pytest.approx(raw["currentQty"] * eth_multiplier(index), rel=1e-12)
    assert position.entry_price == raw["avgEntryPrice"]
    assert position.mark_price == raw["markPrice"]
    assert position.margin_mode is MarginMode.ISOLATED
    # The raw posMargin (initial margin + fee reserve posComm + added margin posCross), no uPnL.
    assert position.collateral == raw["posMargin"]
    assert raw["posMargin"] == pytest.approx(
        raw["posInit"] + raw["posComm"] + raw["posCross"], rel=1e-8
    )


def test_open_stops_from_ccxt_kucoin_orders_are_not_stops() -> None:
    """fetchOpenOrders[0] is a plain limit buy; fetchOrder[0] a reduce-only market sell that
    has filled: neither has a trigger price, so neither is a stop."""
    orders = [
        *replay_entry("fetchOpenOrders", "/api/v1/orders"),
        replay_entry("fetchOrder", "/api/v1/orders/"),
    ]

    stops = open_stops_from_ccxt(orders, client().markets, lambda cid: True)

    assert [o["reduceOnly"] for o in orders] == [False, True]
    assert stops == ()


def test_open_stops_from_ccxt_kucoin_trigger_copy_is_a_stop_in_base_units() -> None:
    """fetchOrder[0] as a live reduce-only stop (stopPrice given, nothing filled): its size is
    the contracts x the 0.1 LTC multiplier."""
    order = replay_entry("fetchOrder", "/api/v1/orders/")
    order.update(triggerPrice=order["average"], remaining=order["amount"])

    stops = open_stops_from_ccxt([order], client().markets, lambda cid: False)

    assert len(stops) == 1
    assert stops[0].protects is Side.LONG
    assert stops[0].size == pytest.approx(order["amount"] * ltc_multiplier(), rel=1e-12)


# =============================================================================================
# (c) liquidation price against KuCoin's own, (d) conventions
# =============================================================================================


@pytest.mark.parametrize("index", [0, 1])
def test_kucoin_isolated_liquidation_within_a_tenth_of_a_percent(index: int) -> None:
    """Profile kucoin (MM on the entry value, taker fee in the threshold), tier rate
    maintMarginReq, collateral posMargin, taker from posComm: KuCoin's liquidationPrice within
    0.1% (about 0.05% nearer the mark, as KuCoin's posMaint exceeds value x rate)."""
    raw = raw_position(index)

    lp = assess_isolated(_normalised(index), get_profile("kucoinfutures")).liquidation_price

    assert lp is not None
    assert lp == pytest.approx(raw["liquidationPrice"], rel=REL)
    assert lp < raw["liquidationPrice"]


@pytest.mark.parametrize("index", [0, 1])
def test_kucoin_isolated_without_fee_term_misses_by_more(index: int) -> None:
    """The same without the fee term (KuCoin's published isolated formula, MM = value x rate)
    lands more than 0.1% from KuCoin's own figure: why the profile keeps the fee."""
    raw = raw_position(index)
    no_fee = dataclasses.replace(get_profile("kucoin"), fee_in_threshold=False)

    lp = assess_isolated(_normalised(index), no_fee).liquidation_price

    assert lp is not None
    assert abs(lp / raw["liquidationPrice"] - 1) > REL


@pytest.mark.parametrize("index", [0, 1])
def test_kucoin_liquidation_price_is_entry_less_margin_over_maintenance(index: int) -> None:
    """KuCoin's row: LP = E - (posMargin - posMaint) / q (its isolated formula with its own
    maintenance figure), and bankruptPrice = E - posInit / q: the entry value, not the mark."""
    raw = raw_position(index)
    q = raw["currentQty"] * eth_multiplier(index)
    entry_price = raw["avgEntryPrice"]

    assert entry_price - (raw["posMargin"] - raw["posMaint"]) / q == pytest.approx(
        raw["liquidationPrice"], rel=1e-5
    )
    assert entry_price - raw["posInit"] / q == pytest.approx(raw["bankruptPrice"], rel=1e-5)
    assert raw["posMaint"] > raw["posCost"] * raw["maintMarginReq"]


def test_kucoin_published_isolated_example() -> None:
    """KuCoin's worked example (support 4408061803033): short 5 contracts x 0.001 BTC at 28,000,
    100x, MMR 0.4%, no fee -> 28,168."""
    contracts, multiplier, entry_price, leverage, rate = 5, 0.001, 28_000.0, 100.0, 0.004
    q = contracts * multiplier
    row = {
        "symbol": "BTC/USDT:USDT",
        "contracts": contracts,
        "contractSize": multiplier,
        "side": "short",
        "entryPrice": entry_price,
        "markPrice": entry_price,
        "marginMode": "isolated",
        "collateral": q * entry_price / leverage,
        "info": {},
    }
    tiers = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])
    # The example leaves fees out (ccxt's default market taker would be 0.1%).
    market = {**client().markets["BTC/USDT:USDT"], "taker": 0.0}
    position = position_from_ccxt(row, market, tiers, MarginMode.CROSS)
    assert position is not None

    lp = assess_isolated(position, get_profile("kucoin")).liquidation_price

    assert lp == pytest.approx(28_168.0, rel=1e-12)
