"""Reading spot margin accounts from ccxt balance answers.

Recorded answers (``tests/data/ccxt-recorded/margin``, see SOURCES.md there) have no loans, so
they test field reading and refusals; agreement of our level with the venue's reported one under
borrowing is tested on answers built by hand in the venues' documented shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from riskguard.errors import InputError, UnsupportedError
from riskguard.exchange.margin_account import read_margin_account
from riskguard.risk import assess, liquidation_move

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "margin"


def recorded(venue: str, index: int) -> dict[str, Any]:
    entries = json.loads((DATA / f"{venue}.json").read_text())["fetchBalance"]
    entry = entries[index]
    balance = dict(entry["parsedResponse"])
    balance["info"] = entry["httpResponse"]
    return balance


# --- Binance ---------------------------------------------------------------------------------


def binance_cross_doc_example() -> dict[str, Any]:
    """Binance's documented GET /sapi/v1/margin/account example, as ccxt returns it."""
    info = {
        "borrowEnabled": True,
        "marginLevel": "11.64405625",
        "totalAssetOfBtc": "6.82728457",
        "totalLiabilityOfBtc": "0.58633215",
        "totalNetAssetOfBtc": "6.24095242",
        "userAssets": [
            {"asset": "BTC", "borrowed": "0.00000000", "free": "0.00499500",
             "interest": "0.00000000", "locked": "0.00000000", "netAsset": "0.00499500"},
            {"asset": "BNB", "borrowed": "201.66666672", "free": "2346.50000000",
             "interest": "0.00000000", "locked": "0.00000000", "netAsset": "2144.83333328"},
            {"asset": "ETH", "borrowed": "0.00000000", "free": "0.00000000",
             "interest": "0.00000000", "locked": "0.00000000", "netAsset": "0.00000000"},
        ],
    }  # fmt: skip
    return {
        "info": info,
        "BTC": {"free": 0.004995, "used": 0.0, "total": 0.004995, "debt": 0.0},
        "BNB": {"free": 2346.5, "used": 0.0, "total": 2346.5, "debt": 201.66666672},
    }


def test_binance_cross_level_agrees_with_the_venue_on_its_documented_example() -> None:
    bnb_in_btc = 0.58633215 / 201.66666672  # implied by the example's liability total
    reading = read_margin_account(
        "binance", binance_cross_doc_example(), {"BNB": bnb_in_btc}, quote="BTC"
    )
    ours = assess(reading.account, reading.rule).level
    assert reading.venue_level == pytest.approx(11.64405625)
    assert ours == pytest.approx(reading.venue_level, rel=1e-7)  # the example's 8-decimal rounding
    assert reading.venue_level_field == "info.marginLevel"
    assert reading.sources["BNB"].startswith("info.userAssets[1]")
    assert reading.account.get("ETH") is None  # empty rows dropped


def test_binance_cross_without_raw_rows_reads_ccxt_debt() -> None:
    balance = binance_cross_doc_example()
    del balance["info"]
    reading = read_margin_account("binance", balance, {"BNB": 0.0029}, quote="BTC")
    bnb = reading.account.get("BNB")
    assert bnb is not None
    assert bnb.owed == pytest.approx(201.66666672)
    assert reading.venue_level is None
    assert any("unified total" in n for n in reading.notes)


def test_binance_cross_uses_the_account_s_own_bars_when_reported() -> None:
    balance = binance_cross_doc_example()
    balance["info"]["marginTradeCoeffVo"] = {
        "forceLiquidationBar": "1.1", "marginCallBar": "1.16", "normalBar": "1.5"
    }  # fmt: skip
    reading = read_margin_account("binance", balance, {"BNB": 0.0029}, quote="BTC")
    assert reading.rule.margin_call_level == pytest.approx(1.16)
    assert reading.rule.liquidation_level == pytest.approx(1.1)


def binance_isolated(level: str = "2.00000000") -> dict[str, Any]:
    pair = {
        "baseAsset": {"asset": "BTC", "borrowed": "0", "free": "1.5", "interest": "0",
                      "locked": "0", "netAsset": "1.5", "totalAsset": "1.5"},
        "quoteAsset": {"asset": "USDT", "borrowed": "70000", "free": "0", "interest": "5",
                       "locked": "0", "netAsset": "-70005", "totalAsset": "0"},
        "symbol": "BTCUSDT", "marginLevel": level, "marginLevelStatus": "NORMAL",
        "liquidatePrice": "49003.5",
    }  # fmt: skip
    other = {**pair, "symbol": "ETHUSDT"}
    return {"info": {"assets": [pair, other]}, "BTC": {"total": 3.0}}


def test_binance_isolated_reads_one_pair_and_takes_the_tier_level_from_the_caller() -> None:
    reading = read_margin_account(
        "binance", binance_isolated(), {"BTC": 93_342.0}, symbol="BTC/USDT", liquidation_level=1.05
    )
    assert reading.account.label == "BTCUSDT"
    assert reading.account.quote == "USDT"
    ours = assess(reading.account, reading.rule).level
    assert ours == pytest.approx(1.5 * 93_342.0 / 70_005.0)
    assert reading.venue_level == pytest.approx(2.0)
    assert ours == pytest.approx(reading.venue_level, rel=1e-4)
    move = liquidation_move(reading.account, reading.rule, "BTC")
    assert move.price == pytest.approx(1.05 * 70_005.0 / 1.5)


def test_binance_isolated_needs_the_pair_and_says_when_the_level_is_missing() -> None:
    with pytest.raises(InputError, match="symbol"):
        read_margin_account("binance", binance_isolated(), {"BTC": 1.0})
    reading = read_margin_account("binance", binance_isolated(), {"BTC": 1.0}, symbol="BTCUSDT")
    assert any("liquidationRiskRatio" in n for n in reading.notes)


def test_binance_portfolio_margin_answer_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="portfolio"):
        read_margin_account("binance", recorded("binance", 0), {})


def test_unreadable_fields_are_named() -> None:
    balance = binance_cross_doc_example()
    balance["info"]["userAssets"][1]["borrowed"] = "lots"
    with pytest.raises(InputError, match=r"info\.userAssets\[1\]\.borrowed: not a number"):
        read_margin_account("binance", balance, {"BNB": 0.0029}, quote="BTC")
    with pytest.raises(InputError, match=r"prices\[BNB\]"):
        read_margin_account("binance", binance_cross_doc_example(), {}, quote="BTC")
    with pytest.raises(InputError, match="venue"):
        read_margin_account("kraken", {}, {})


# --- Bybit -----------------------------------------------------------------------------------


def test_bybit_recorded_unified_answer_reads_equity_and_owes_nothing() -> None:
    balance = recorded("bybit", 0)
    prices = {"USDC": 1.0, "BTC": 96_597.0, "ETH": 3_205.0, "ADA": 0.98, "XRP": 2.47, "LTC": 100.3}
    reading = read_margin_account("bybit", balance, prices)
    btc = reading.account.get("BTC")
    assert btc is not None
    assert btc.held == pytest.approx(0.85581394)
    assert btc.owed == 0.0
    assert reading.venue_level is None  # nothing owed: Bybit's "0" is not compared
    assert any("derivatives positions" in n for n in reading.notes)
    assert assess(reading.account, reading.rule).level == 0.0


def bybit_with_loan() -> dict[str, Any]:
    # Spot margin long after Bybit's manual-borrow update: 6 ETH bought with 5,000 borrowed USDT.
    coins = [
        {"coin": "ETH", "equity": "6", "walletBalance": "6", "borrowAmount": "0",
         "accruedInterest": "0", "totalPositionMM": "0", "totalOrderIM": "0"},
        {"coin": "USDT", "equity": "-5000.5", "walletBalance": "0", "spotBorrow": "5000",
         "borrowAmount": "5000", "accruedInterest": "0.5", "totalPositionMM": "0",
         "totalOrderIM": "0"},
    ]  # fmt: skip
    account = {"accountType": "UNIFIED", "accountMMRate": "0.5", "totalMaintenanceMargin": "500.05",
               "totalMarginBalance": "1000.1", "coin": coins}  # fmt: skip
    return {"info": {"retCode": 0, "result": {"list": [account]}}}


def test_bybit_mm_rate_agrees_with_the_venue_when_the_rate_is_derived_from_its_mm() -> None:
    reading = read_margin_account("bybit", bybit_with_loan(), {"ETH": 1_000.1})
    usdt = reading.account.get("USDT")
    assert usdt is not None
    assert usdt.owed == pytest.approx(5000.5)
    assert usdt.held == pytest.approx(0.0)
    assert any("derived" in n for n in reading.notes)
    ours = assess(reading.account, reading.rule).level
    assert reading.venue_level == pytest.approx(0.5)
    assert ours == pytest.approx(reading.venue_level, rel=1e-3)


def test_bybit_needs_rates_when_positions_share_the_maintenance_margin() -> None:
    balance = bybit_with_loan()
    balance["info"]["result"]["list"][0]["coin"][0]["totalPositionMM"] = "12"
    with pytest.raises(InputError, match=r"maintenance_rates\[USDT\]"):
        read_margin_account("bybit", balance, {"ETH": 1_000.0})
    reading = read_margin_account(
        "bybit", balance, {"ETH": 1_000.0}, maintenance_rates={"USDT": 0.1}
    )
    assert reading.account.get("USDT") is not None


def test_bybit_classic_account_is_refused() -> None:
    balance = bybit_with_loan()
    balance["info"]["result"]["list"][0]["accountType"] = "SPOT"
    with pytest.raises(UnsupportedError, match="unified"):
        read_margin_account("bybit", balance, {"ETH": 1.0})


# --- OKX -------------------------------------------------------------------------------------


def test_okx_recorded_answer_reads_haircuts_from_discounted_equity() -> None:
    balance = recorded("okx", 1)
    prices = {"BTC": 117_870.0, "ETH": 2_993.05, "OKB": 49.816, "UNI": 8.883, "LTC": 96.73,
              "ADA": 0.74768, "TRX": 0.297, "USDC": 0.9999, "TUSD": 1.0, "JFI": 1.0,
              "PAX": 1.0, "USDK": 1.0}  # fmt: skip
    reading = read_margin_account("okx", balance, prices)
    btc = reading.account.get("BTC")
    assert btc is not None
    assert btc.held == pytest.approx(1.06126645222)
    assert btc.haircut == pytest.approx(122681.0668034351 / 125184.76204432153)
    tusd = reading.account.get("TUSD")
    assert tusd is not None
    assert tusd.haircut == 0.0  # collateralEnabled false
    assert reading.venue_level is None  # no loan: OKX's 15986% comes from orders, not compared


def okx_with_loan() -> dict[str, Any]:
    # A long: 6 ETH held, 5,000 USDT owed (liab includes 0.5 interest); OKX mmr = 10% of loans.
    details = [
        {"ccy": "ETH", "eq": "6", "liab": "0", "interest": "0", "eqUsd": "6000",
         "disEq": "6000", "collateralEnabled": True},
        {"ccy": "USDT", "eq": "-5000", "liab": "5000", "interest": "0.5", "eqUsd": "-5000",
         "disEq": "-5000", "collateralEnabled": True},
    ]  # fmt: skip
    account = {"adjEq": "1000", "mmr": "500", "mgnRatio": "1.998001998", "details": details,
               "notionalUsdForSwap": "0", "notionalUsdForFutures": "0",
               "notionalUsdForOption": "0"}  # fmt: skip
    return {"info": {"code": "0", "data": [account]}}


def test_okx_margin_ratio_agrees_with_the_venue_with_its_fee_in_the_requirement() -> None:
    reading = read_margin_account("okx", okx_with_loan(), {"ETH": 1_000.0}, closing_fee_rate=0.001)
    usdt = reading.account.get("USDT")
    assert usdt is not None
    assert usdt.borrowed == pytest.approx(4999.5)
    assert usdt.interest == pytest.approx(0.5)
    assert usdt.held == pytest.approx(0.0)
    ours = assess(reading.account, reading.rule).level
    # adjEq / (mmr + fee on closing the loan): 1000 / (500 + 5000 x 1.1 x 0.001) = 1.978
    assert ours == pytest.approx(1000.0 / (500.0 + 5.5))
    assert reading.venue_level is not None
    assert ours == pytest.approx(reading.venue_level, rel=0.02)


def test_okx_funding_answer_is_named_as_unreadable() -> None:
    with pytest.raises(InputError, match="details"):
        read_margin_account("okx", {"info": {"data": [{"ccy": "USDT", "bal": "1"}]}}, {})


def test_bybit_held_is_equity_plus_what_is_owed() -> None:
    # 5,000 USDT borrowed, 1,000 of it still in the account: equity -4,000.5 with interest 0.5.
    balance = bybit_with_loan()
    balance["info"]["result"]["list"][0]["coin"][1]["equity"] = "-4000.5"
    reading = read_margin_account("bybit", balance, {"ETH": 1_000.0})
    usdt = reading.account.get("USDT")
    assert usdt is not None
    assert usdt.held == pytest.approx(1_000.0)
    assert usdt.net == pytest.approx(-4_000.5)
