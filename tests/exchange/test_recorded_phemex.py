"""Phemex USDT-M payloads recorded by ccxt's own tests, through ccxt and riskguard.

``tests/data/ccxt-recorded/phemex.json`` (see phemex.md beside it) holds ccxt's static-test
fixture entries riskguard needs: one fetchPositions call whose raw response carries the whole
USDT account (a cross LTC long, an isolated hedged BTC long with the venue's liquidation price,
flat rows), two fetchBalance calls, one open limit order, five createOrder answers and a funding
rate. Checked here:

(a) the pinned ccxt replays each recorded ``httpResponse`` (its HTTP ``fetch`` replaced) and its
    parse matches the recorded ``parsedResponse`` on the fields riskguard reads; differences are
    pinned (ccxt now computes a linear uPnL and a remaining amount the recording did not have);
(b) ``position_from_ccxt`` / ``snapshot_from_ccxt`` read size, side, entry, mark, margin mode and
    the isolated collateral (the raw ``positionMarginRv``, not ccxt's collateral less uPnL);
(c) the isolated BTC long's liquidation price against the venue's ``liquidationPriceRp``;
(d) the raw-field conventions riskguard relies on.

Every number comes from the JSON at test time, except Phemex's published tier-1 maintenance rate
of BTCUSDT (``BTCUSDT_TIER1_MMR``, phemex.md) and a price precision ccxt needs to send orders.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
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
from riskguard.risk import MarginBasis, assess_isolated, evaluate_account, get_profile
from tests.exchange.recorded_kit import ORDER_FIELDS, POSITION_FIELDS, recorded_entry
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "phemex.json"

REL = 1e-3
"""Agreement asked of a recomputed liquidation price: 0.1%."""

EXACT = 1e-12

BTCUSDT_TIER1_MMR = 0.005
"""Phemex's published maintenance rate of BTCUSDT's first tier (position value up to 2,000,000
USDT; phemex.md). Not in the payload: the row's ``maintMarginReqRr`` (2.75%) belongs to its risk
limit setting and does not reproduce the venue's price (pinned below)."""

PRICE_PRECISION = 0.01
"""ccxt needs a price precision to send an order; no figure of the payloads depends on it."""

TAKEN_AT = datetime(2024, 1, 26, tzinfo=UTC)


# --- recorded entries --------------------------------------------------------------------------


def entry(method: str, index: int = 0) -> dict[str, Any]:
    return recorded_entry(DATA, method, index)


def raw_rows() -> list[dict[str, Any]]:
    """The account's raw position rows in the fetchPositions answer."""
    rows: list[dict[str, Any]] = entry("fetchPositions")["httpResponse"]["data"]["positions"]
    return rows


def raw_row(symbol: str, pos_side: str) -> dict[str, Any]:
    return next(r for r in raw_rows() if r["symbol"] == symbol and r["posSide"] == pos_side)


def raw_account() -> dict[str, Any]:
    account: dict[str, Any] = entry("fetchPositions")["httpResponse"]["data"]["account"]
    return account


# --- minimal markets from the payloads ---------------------------------------------------------


def _swap(symbol: str, market_id: str, contract_size: float, taker: float) -> dict[str, Any]:
    precision = {"price": PRICE_PRECISION}
    return kit_swap(symbol, market_id, contract_size, taker=taker, precision=precision,
                    limits={}, info={})  # fmt: skip


def markets() -> list[dict[str, Any]]:
    """Each raw row's market: contract size = valueRv / size / avgEntryPrice where the row holds a
    position (1 unit), the taker fee its takerFeeRateRr; SOLUSDT (orders only): contract size from
    the recorded order (orderQtyRq = the amount asked, so 1 unit), amount precision orderQtyRq."""
    out = {}
    for r in raw_rows():
        symbol = f"{r['symbol'].removesuffix('USDT')}/USDT:USDT"
        size = float(r["size"])
        unit = round(float(r["valueRv"]) / size / float(r["avgEntryPrice"]), 9) if size else 1.0
        out[symbol] = _swap(symbol, r["symbol"], unit, float(r["takerFeeRateRr"]))
    order = entry("createOrder")
    sol = _swap(order["input"][0], order["httpResponse"]["data"]["symbol"], 1.0, 0.0)
    sol["precision"]["amount"] = float(order["httpResponse"]["data"]["orderQtyRq"])
    out[sol["symbol"]] = sol
    return list(out.values())


def client() -> Any:
    exchange = ccxt.phemex({"apiKey": "key", "secret": "secret"})
    exchange.set_markets(markets())
    return exchange


def replay(recorded: dict[str, Any], call: tuple[str, list[Any]] | None = None) -> Any:
    """Run a recorded call (or ``call``, another method on the same endpoint) through the pinned
    ccxt with the recorded ``httpResponse`` as the only answer."""
    exchange = client()
    urls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        return copy.deepcopy(recorded["httpResponse"])

    exchange.fetch = fetch
    name, args = call or (recorded["method"], recorded["input"])
    result = getattr(exchange, exchange.un_camel_case(name))(*copy.deepcopy(args))
    assert len(urls) == 1, urls
    return result


@functools.cache
def _all_positions() -> tuple[dict[str, Any], ...]:
    """Every row of the fetchPositions answer as the pinned ccxt parses it (no symbol filter)."""
    return tuple(replay(entry("fetchPositions"), ("fetchPositions", [])))


def parsed_position(symbol: str, side: str) -> dict[str, Any]:
    rows = [p for p in _all_positions() if p["symbol"] == symbol and p["contracts"]]
    return copy.deepcopy(next(p for p in rows if p["side"] == side))


def btc_isolated() -> dict[str, Any]:
    return parsed_position("BTC/USDT:USDT", "long")


def market_of(symbol: str) -> dict[str, Any]:
    return next(m for m in markets() if m["symbol"] == symbol)


def one_tier(rate: float) -> Any:
    return tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])


# =============================================================================================
# (a) the pinned ccxt on the recorded answers
# =============================================================================================


def test_ccxt_fetch_positions_replay_matches_recorded_parse_except_linear_upnl() -> None:
    # Arrange
    recorded = entry("fetchPositions")
    (want,) = recorded["parsedResponse"]
    raw = raw_row("LTCUSDT", "Merged")
    size, entry_px, mark = (
        float(raw["size"]),
        float(raw["avgEntryPrice"]),
        float(raw["markPriceRp"]),
    )

    # Act
    (got,) = replay(recorded)

    # Assert
    for field in POSITION_FIELDS:
        if field != "unrealizedPnl":
            assert got[field] == want[field], field
    assert got["info"] == want["info"] == raw
    # Drift: the recording computed a linear row's uPnL with the inverse formula (coin PnL);
    # the pinned ccxt computes size x (mark - entry), in USDT.
    assert want["unrealizedPnl"] == pytest.approx(size * (1 / entry_px - 1 / mark), rel=1e-9)
    assert got["unrealizedPnl"] == pytest.approx(size * (mark - entry_px), rel=1e-9)


def test_ccxt_parses_the_unfiltered_answer_into_isolated_hedged_btc_long_and_flat_rows() -> None:
    # Arrange
    raw = raw_row("BTCUSDT", "Long")

    # Act
    rows = _all_positions()
    btc = btc_isolated()

    # Assert
    assert len(rows) == len(raw_rows())
    assert [p["contracts"] for p in rows] == [float(r["size"]) for r in raw_rows()]
    assert (btc["marginMode"], btc["hedged"]) == ("isolated", True)
    assert btc["contracts"] == float(raw["size"])
    assert btc["entryPrice"] == float(raw["avgEntryPriceRp"])
    assert btc["markPrice"] == float(raw["markPriceRp"])
    assert btc["liquidationPrice"] == float(raw["liquidationPriceRp"])
    assert btc["collateral"] == float(raw["positionMarginRv"])
    assert btc["leverage"] == abs(float(raw["leverageRr"]))


@pytest.mark.parametrize("index", [0, 1])
def test_ccxt_fetch_balance_replay_matches_recorded_totals(index: int) -> None:
    # Arrange
    recorded = entry("fetchBalance", index)

    # Act
    got = replay(recorded)

    # Assert
    for key in ("free", "used", "total"):
        assert got[key] == recorded["parsedResponse"][key]


def test_ccxt_open_orders_replay_matches_recorded_parse() -> None:
    # Arrange
    recorded = entry("fetchOpenOrders")

    # Act
    got = replay(recorded)

    # Assert
    assert len(got) == len(recorded["parsedResponse"]) == 1
    for field in ORDER_FIELDS:
        assert got[0][field] == recorded["parsedResponse"][0][field], field


@pytest.mark.parametrize("index", range(5))
def test_ccxt_create_order_replay_matches_recorded_parse_except_remaining(index: int) -> None:
    # Arrange
    recorded = entry("createOrder", index)
    want = recorded["parsedResponse"]

    # Act
    got = replay(recorded)

    # Assert
    for field in ORDER_FIELDS:
        if field != "remaining":
            assert got[field] == want[field], field
    # Drift: for the untriggered conditional orders (leavesQtyRq "0") the recording has remaining
    # 0; the pinned ccxt gives amount - filled. The attached-SL/TP limit order agrees.
    assert got["remaining"] == got["amount"] - got["filled"]


def test_ccxt_funding_rate_replay_matches_recorded_mark_and_rate() -> None:
    # Arrange
    recorded = entry("fetchFundingRate")

    # Act
    got = replay(recorded)

    # Assert
    for field in ("symbol", "markPrice", "indexPrice", "fundingRate", "nextFundingRate"):
        assert got[field] == recorded["parsedResponse"][field], field


# =============================================================================================
# (b) riskguard's normaliser
# =============================================================================================


def test_position_from_ccxt_reads_recorded_cross_ltc_row() -> None:
    # Arrange
    (row,) = entry("fetchPositions")["parsedResponse"]
    raw = row["info"]

    # Act
    position = position_from_ccxt(row, market_of(row["symbol"]), one_tier(0.01), MarginMode.CROSS)

    # Assert
    assert position is not None
    assert position.size == float(raw["size"])
    assert position.side is Side.LONG
    assert position.entry_price == float(raw["avgEntryPriceRp"])
    assert position.mark_price == float(raw["markPriceRp"])
    assert position.margin_mode is MarginMode.CROSS
    assert position.collateral is None
    assert position.leverage == abs(float(raw["leverageRr"]))


def test_isolated_collateral_is_raw_position_margin_not_ccxt_collateral_less_upnl() -> None:
    """ccxt's collateral (positionMarginRv) holds no uPnL; subtracting the pinned ccxt's uPnL
    (+139.8 USDT) would leave nothing (max(0, 52 - 140) = 0), so the raw field is read."""
    # Arrange
    row = btc_isolated()
    raw = row["info"]

    # Act
    position = position_from_ccxt(
        row, market_of(row["symbol"]), one_tier(BTCUSDT_TIER1_MMR), MarginMode.CROSS
    )

    # Assert
    assert position is not None
    assert row["collateral"] - row["unrealizedPnl"] < 0
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.collateral == pytest.approx(float(raw["positionMarginRv"]), rel=EXACT)
    assert position.size == float(raw["size"])
    assert position.entry_price == float(raw["avgEntryPriceRp"])
    assert position.taker_fee == float(raw["takerFeeRateRr"])


def _snapshot(tiers: dict[str, Any]) -> Any:
    """The account as Guard.cycle builds it: positions and balance from the same answer (ccxt's
    fetch_balance(type=swap) reads the endpoint fetchPositions was recorded on)."""
    balance = replay(entry("fetchPositions"), ("fetchBalance", [{"type": "swap"}]))
    return snapshot_from_ccxt(
        account="recorded",
        venue="phemex",
        balance=balance,
        positions=_all_positions(),
        markets={m["symbol"]: m for m in markets()},
        tiers=tiers,
        taken_at=TAKEN_AT,
        total_includes_upnl="phemex" not in TOTAL_EXCLUDES_UPNL,
    )


def _tiers() -> dict[str, Any]:
    """One tier per market (snapshot_from_ccxt asks for the tiers of flat rows too): the rows'
    own maintMarginReqRr, and BTCUSDT's published first tier."""
    tiers = {
        f"{r['symbol'].removesuffix('USDT')}/USDT:USDT": one_tier(float(r["maintMarginReqRr"]))
        for r in raw_rows()
    }
    return {**tiers, "BTC/USDT:USDT": one_tier(BTCUSDT_TIER1_MMR)}


def test_snapshot_keeps_open_rows_and_cross_wallet_is_balance_less_isolated_margin() -> None:
    # Arrange
    btc = raw_row("BTCUSDT", "Long")

    # Act
    snapshot = _snapshot(_tiers())

    # Assert
    assert [(p.symbol, p.side, p.margin_mode) for p in snapshot.positions] == [
        ("LTC/USDT:USDT", Side.LONG, MarginMode.CROSS),
        ("BTC/USDT:USDT", Side.LONG, MarginMode.ISOLATED),
    ]
    assert snapshot.settle == raw_account()["currency"]
    expected = float(raw_account()["accountBalanceRv"]) - float(btc["positionMarginRv"])
    assert snapshot.wallet_balance == pytest.approx(expected, rel=EXACT)


# =============================================================================================
# (c) liquidation price against the venue's
# =============================================================================================


def test_isolated_btc_long_liquidates_at_recorded_price_with_tier1_rate_on_entry_value() -> None:
    # Arrange
    row = btc_isolated()
    raw = row["info"]
    position = position_from_ccxt(
        row, market_of(row["symbol"]), one_tier(BTCUSDT_TIER1_MMR), MarginMode.CROSS
    )
    assert position is not None

    # Act
    risk = assess_isolated(position, get_profile("phemex"))

    # Assert: 20,921.7 vs 20,921.8 (Phemex rounds to its 0.1 tick), bankruptcy 20,791.76 vs .8
    assert risk.liquidation_price == pytest.approx(float(raw["liquidationPriceRp"]), rel=REL)
    assert risk.liquidation_price == pytest.approx(float(raw["liquidationPriceRp"]), abs=0.1)
    assert risk.bankruptcy_price == pytest.approx(float(raw["bankruptPriceRp"]), abs=0.1)


def test_isolated_btc_long_on_mark_basis_misses_recorded_price_by_more_than_0_1_pct() -> None:
    """Pins the entry basis: MM on the mark value at liquidation gives (E - C/q)/(1 - mmr)."""
    # Arrange
    row = btc_isolated()
    position = position_from_ccxt(
        row, market_of(row["symbol"]), one_tier(BTCUSDT_TIER1_MMR), MarginMode.CROSS
    )
    assert position is not None
    on_mark = dataclasses.replace(get_profile("phemex"), isolated_basis=MarginBasis.MARK)

    # Act
    lp = assess_isolated(position, on_mark).liquidation_price

    # Assert
    assert lp is not None
    assert abs(lp / float(row["info"]["liquidationPriceRp"]) - 1) > REL


def test_isolated_btc_long_with_row_risk_limit_rate_is_far_above_recorded_price() -> None:
    """The row's maintMarginReqRr (2.75%, its 20M risk limit) is not the rate the venue used:
    with it the liquidation price lands ~2.8% above the venue's (conservative, not exact)."""
    # Arrange
    row = btc_isolated()
    rate = float(row["info"]["maintMarginReqRr"])
    position = position_from_ccxt(row, market_of(row["symbol"]), one_tier(rate), MarginMode.CROSS)
    assert position is not None

    # Act
    lp = assess_isolated(position, get_profile("phemex")).liquidation_price

    # Assert
    assert row["maintenanceMarginPercentage"] == rate
    assert lp is not None
    assert lp / float(row["info"]["liquidationPriceRp"]) - 1 > 0.02


def test_end_to_end_snapshot_btc_at_recorded_price_and_cross_ltc_without_liquidation() -> None:
    """The cross LTC long (0.2 LTC against a ~172 USDT wallet) has no liquidation price; Phemex
    reports its floor 0.01 (= its bankruptPriceRp) for that."""
    # Arrange
    snapshot = _snapshot(_tiers())
    ltc, btc = raw_row("LTCUSDT", "Merged"), raw_row("BTCUSDT", "Long")

    # Act
    ltc_risk, btc_risk = (p.risk for p in evaluate_account(snapshot).positions)

    # Assert
    assert btc_risk.liquidation_price == pytest.approx(float(btc["liquidationPriceRp"]), rel=REL)
    assert ltc_risk.liquidation_price is None
    assert float(ltc["liquidationPriceRp"]) == float(ltc["bankruptPriceRp"]) == 0.01


# =============================================================================================
# (d) raw-field conventions
# =============================================================================================


def test_isolated_row_margin_is_open_value_over_leverage_and_cost_adds_bankruptcy_fee() -> None:
    # Arrange
    raw = raw_row("BTCUSDT", "Long")
    size, value = float(raw["size"]), float(raw["valueRv"])

    # Act
    margin = float(raw["positionMarginRv"])

    # Assert
    assert value == pytest.approx(size * float(raw["avgEntryPrice"]), rel=EXACT)
    assert margin == pytest.approx(value / float(raw["leverageRr"]), rel=EXACT)
    bankruptcy = float(raw["avgEntryPrice"]) - margin / size  # before rounding to the 0.1 tick
    assert float(raw["bankruptPriceRp"]) == pytest.approx(bankruptcy, abs=0.1)
    fee = size * bankruptcy * float(raw["takerFeeRateRr"])
    assert float(raw["bankruptCommRv"]) == pytest.approx(fee, rel=1e-9)
    assert float(raw["posCostRv"]) == pytest.approx(margin + float(raw["bankruptCommRv"]), EXACT)
    assert raw["assignedPosBalanceRv"] == raw["posCostRv"] == raw["usedBalanceRv"]


def test_cross_row_margin_is_available_balance_plus_own_assigned_less_bankruptcy_fee() -> None:
    """ccxt's collateral of a cross row (positionMarginRv) is the account's, not the row's."""
    # Arrange
    raw, account = raw_row("LTCUSDT", "Merged"), raw_account()
    available = float(account["accountBalanceRv"]) - float(account["totalUsedBalanceRv"])

    # Act
    margin = float(raw["positionMarginRv"])

    # Assert
    expected = available + float(raw["assignedPosBalanceRv"]) - float(raw["bankruptCommRv"])
    assert margin == pytest.approx(expected, rel=1e-12)
    assert float(account["totalUsedBalanceRv"]) == pytest.approx(
        sum(float(r["usedBalanceRv"]) for r in raw_rows()), rel=1e-12
    )


def test_account_balance_moves_with_realised_pnl_only_so_total_excludes_upnl() -> None:
    """Between fetchBalance[1] and fetchPositions (same account, ~9 days apart) the marks moved
    but accountBalanceRv changed by exactly the realised PnL (funding) of the rows."""
    # Arrange
    before = entry("fetchBalance", 1)["httpResponse"]["data"]
    after = entry("fetchPositions")["httpResponse"]["data"]
    marks = [
        (a["markPriceRp"], b["markPriceRp"])
        for a, b in zip(before["positions"], after["positions"], strict=True)
    ]

    # Act
    balance_change = float(after["account"]["accountBalanceRv"]) - float(
        before["account"]["accountBalanceRv"]
    )
    realised_change = sum(
        float(b["curTermRealisedPnlRv"]) - float(a["curTermRealisedPnlRv"])
        for a, b in zip(before["positions"], after["positions"], strict=True)
    )

    # Assert
    assert all(old != new for old, new in marks)
    assert balance_change == pytest.approx(realised_change, abs=1e-9)
    assert "phemex" in TOTAL_EXCLUDES_UPNL


def test_recorded_entry_is_avg_entry_price_rp_and_mark_is_mark_price_rp() -> None:
    # Act
    (row,) = entry("fetchPositions")["parsedResponse"]

    # Assert
    assert row["entryPrice"] == float(row["info"]["avgEntryPriceRp"])
    assert row["info"]["avgEntryPriceRp"] == row["info"]["avgEntryPrice"]
    assert row["markPrice"] == float(row["info"]["markPriceRp"])
    assert row["collateral"] == float(row["info"]["positionMarginRv"])


def test_reduce_only_trigger_orders_come_back_without_reduce_only_so_are_not_stops() -> None:
    """createOrder[0..3] asked reduceOnly and a mark-price trigger; Phemex answers execInst
    "None" and no reduceOnly field, so ccxt's reduceOnly is None and riskguard sees no stop."""
    # Arrange
    recorded = [entry("createOrder", i) for i in range(4)]
    orders = [r["parsedResponse"] for r in recorded]
    by_symbol = {m["symbol"]: m for m in markets()}

    # Act
    stops = open_stops_from_ccxt(orders, by_symbol, lambda cid: True)

    # Assert
    assert all(r["input"][5]["reduceOnly"] is True for r in recorded)
    assert all(r["httpResponse"]["data"]["execInst"] == "None" for r in recorded)
    assert all(r["httpResponse"]["data"]["trigger"] == "ByMarkPrice" for r in recorded)
    assert all(o["reduceOnly"] is None for o in orders)
    assert stops == ()


def test_trigger_order_marked_reduce_only_is_a_stop_at_its_trigger_price() -> None:
    """createOrder[3] (buy, trigger 200 falling) as a reduce-only order: stopLossPrice is 0, so
    the stop price is the triggerPrice (stopPxRp); a buy stop protects a short."""
    # Arrange
    order = entry("createOrder", 3)["parsedResponse"]
    order["reduceOnly"] = True
    by_symbol = {m["symbol"]: m for m in markets()}

    # Act
    (stop,) = open_stops_from_ccxt([order], by_symbol, lambda cid: False)

    # Assert
    assert order["stopLossPrice"] == 0
    assert stop.stop_price == float(order["info"]["stopPxRp"])
    assert stop.protects is Side.SHORT
    assert stop.size == float(order["info"]["orderQtyRq"])
    assert math.isclose(stop.size, order["amount"])
