"""MEXC (ccxt ``mexc``, profile ``mexc``) on recorded payloads.

ccxt's static test fixture for mexc (``tests/data/ccxt-recorded/mexc.json``, see ``mexc.md``)
records **spot calls only**: no position, balance, tier, swap ticker, contract order or funding
rate, so nothing of it is extracted. What is checked instead comes from
``mexc.source-examples.json``: an isolated position row and a contract-detail row quoted in
ccxt 4.5.90's own source comments (no recorded ``parsedResponse``: the pinned ccxt parses them).

(a) the pinned ccxt on those rows; (b) riskguard's normaliser; (c) our isolated liquidation price
against MEXC's ``liquidatePrice`` (the tier rate is not in the row: see the test); (d) the
conventions: ccxt gives no mark, the margin ``im`` holds the fee to close, tiers are in contracts.
Every number is read from the JSON at test time.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard import MarginMode, Side
from riskguard.errors import InputError
from riskguard.exchange.ccxt_account import position_from_ccxt, tiers_from_ccxt
from riskguard.exchange.live import TIER_BOUNDS_IN_CONTRACTS, contract_tiers_as_size
from riskguard.risk import assess_isolated, get_profile
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded"
REL = 1e-3
"""Agreement asked of a recomputed liquidation price: 0.1%."""


def examples() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "mexc.source-examples.json").read_text())
    return loaded


def raw_position() -> dict[str, Any]:
    rows: list[dict[str, Any]] = examples()["methods"]["fetchPositions"][0]["httpResponse"]["data"]
    assert len(rows) == 1
    return copy.deepcopy(rows[0])


def raw_detail() -> dict[str, Any]:
    rows = examples()["methods"]["fetchLeverageTiers"][0]["httpResponse"]["data"]
    assert len(rows) == 1
    detail: dict[str, Any] = copy.deepcopy(rows[0])
    return detail


def taker() -> float:
    """The contract's takerFeeRate (BTC_USDT's detail; MEXC quotes one rate for its USDT-M)."""
    return float(raw_detail()["takerFeeRate"])


def eth_contract_size() -> float:
    """ETH_USDT's contract size is not in the row: im = holdVol x size x E x (1/lev + taker)
    (MEXC's margin holds the fee to close) gives 0.01 ETH."""
    raw = raw_position()
    per_contract = raw["im"] / (
        raw["holdVol"] * raw["holdAvgPrice"] * (1 / raw["leverage"] + taker())
    )
    return round(per_contract, 10)


def _swap(symbol: str, market_id: str, contract_size: float) -> dict[str, Any]:
    return kit_swap(symbol, market_id, contract_size, taker=taker())


def client() -> Any:
    exchange = ccxt.mexc({"apiKey": "key", "secret": "secret"})
    detail = raw_detail()
    exchange.set_markets(
        [
            _swap("ETH/USDT:USDT", raw_position()["symbol"], eth_contract_size()),
            _swap("BTC/USDT:USDT", detail["symbol"], float(detail["contractSize"])),
        ]
    )
    return exchange


def replay(method: str, args: list[Any], response: Any, path: str) -> Any:
    exchange = client()
    urls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        assert path in url, url
        return copy.deepcopy(response)

    exchange.fetch = fetch
    result = getattr(exchange, exchange.un_camel_case(method))(*args)
    assert len(urls) == 1, urls
    return result


def parsed_position() -> dict[str, Any]:
    response = examples()["methods"]["fetchPositions"][0]["httpResponse"]
    rows = replay("fetchPositions", [], response, "/position/open_positions")
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def test_ccxt_fixture_for_mexc_records_no_contract_call() -> None:
    """The extract is empty: ccxt's mexc fixture (commit in mexc.md) has spot calls only."""
    recorded = json.loads((DATA / "mexc.json").read_text())

    assert recorded["exchange"] == "mexc"
    assert recorded["methods"] == {}


# =============================================================================================
# (a) the pinned ccxt, (d) its conventions
# =============================================================================================


def test_ccxt_position_parse_of_source_example() -> None:
    """openType 1 -> isolated, positionType 1 -> long; entry is openAvgPrice; collateral is im
    (no unRealizedPnl in the row to add); no mark price at all."""
    raw = raw_position()

    row = parsed_position()

    assert (row["symbol"], row["side"], row["marginMode"]) == ("ETH/USDT:USDT", "long", "isolated")
    assert row["contracts"] == raw["holdVol"]
    assert row["entryPrice"] == raw["openAvgPrice"]
    assert row["liquidationPrice"] == raw["liquidatePrice"]
    assert row["leverage"] == raw["leverage"]
    assert row["collateral"] == row["initialMargin"] == raw["im"]
    assert row["markPrice"] is None
    assert row["unrealizedPnl"] is None


def test_mexc_margin_im_holds_the_fee_to_close() -> None:
    """im = value / leverage + value x taker, and the open fee (realised) is the same amount."""
    raw = raw_position()
    value = raw["holdVol"] * eth_contract_size() * raw["holdAvgPrice"]

    assert raw["im"] == pytest.approx(value / raw["leverage"] + value * taker(), rel=1e-9)
    assert -raw["realised"] == pytest.approx(value * taker(), abs=5e-5)


def test_ccxt_mexc_tiers_are_bounded_in_contracts_from_zero() -> None:
    """fetch_leverage_tiers on the contract detail: bounds are volumes (contracts), steps of
    riskIncrVol from 0 (riskBaseVol is not used), rate + riskIncrMmr per step."""
    detail = raw_detail()
    response = examples()["methods"]["fetchLeverageTiers"][0]["httpResponse"]

    tiers = replay("fetchLeverageTiers", [], response, "/detail")["BTC/USDT:USDT"]

    step = float(detail["riskIncrVol"])
    assert len(tiers) == round(float(detail["maxVol"]) / step)
    assert (tiers[0]["minNotional"], tiers[0]["maxNotional"]) == (0, step)
    assert tiers[0]["maintenanceMarginRate"] == float(detail["maintenanceMarginRate"])
    assert tiers[1]["maintenanceMarginRate"] == pytest.approx(
        float(detail["maintenanceMarginRate"]) + float(detail["riskIncrMmr"]), rel=1e-12
    )
    assert float(detail["riskBaseVol"]) not in {t["maxNotional"] for t in tiers}


def test_live_adapter_reads_mexc_tiers_as_size_in_base_units() -> None:
    detail = raw_detail()
    response = examples()["methods"]["fetchLeverageTiers"][0]["httpResponse"]
    rows = replay("fetchLeverageTiers", [], response, "/detail")["BTC/USDT:USDT"]

    converted = contract_tiers_as_size(rows, client().markets["BTC/USDT:USDT"])
    tiers = tiers_from_ccxt(converted)

    assert "mexc" in TIER_BOUNDS_IN_CONTRACTS
    assert tiers[0].max_bound == pytest.approx(
        float(detail["riskIncrVol"]) * float(detail["contractSize"]), rel=1e-12
    )


# =============================================================================================
# (b) riskguard's normaliser, (c) the liquidation price
# =============================================================================================


def _filled_row() -> dict[str, Any]:
    """The row as Guard.cycle passes it on: ccxt gives no mark, so the cycle fills one from
    fetch_mark_price. No mark is recorded; the holding price stands in (it moves nothing in an
    isolated liquidation price charged on the entry value)."""
    row = parsed_position()
    return {**row, "markPrice": row["info"]["holdAvgPrice"], "markSource": "fetch_mark_price"}


def implied_rate() -> float:
    """ETH_USDT's maintenance rate is not in the row. MEXC's BTC_USDT detail sets it at half the
    initial rate (maintenanceMarginRate / initialMarginRate); at the row's 100x that is 0.5%."""
    detail = raw_detail()
    ratio = float(detail["maintenanceMarginRate"]) / float(detail["initialMarginRate"])
    return ratio / raw_position()["leverage"]


def _normalised() -> Any:
    row = _filled_row()
    tiers = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": implied_rate()}])
    position = position_from_ccxt(row, client().markets[row["symbol"]], tiers, MarginMode.CROSS)
    assert position is not None
    return position


def test_position_from_ccxt_refuses_mexc_row_without_mark() -> None:
    row = parsed_position()
    tiers = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": implied_rate()}])

    with pytest.raises(InputError, match="no mark price"):
        position_from_ccxt(row, client().markets[row["symbol"]], tiers, MarginMode.CROSS)


def test_position_from_ccxt_reads_mexc_isolated_row() -> None:
    raw = raw_position()

    position = _normalised()

    assert position.side is Side.LONG
    assert position.size == pytest.approx(raw["holdVol"] * eth_contract_size(), rel=1e-12)
    assert position.entry_price == raw["openAvgPrice"]
    assert position.mark_price == raw["holdAvgPrice"]
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.collateral == raw["im"]
    assert position.taker_fee == taker()


def test_mexc_isolated_liquidation_within_a_tenth_of_a_percent() -> None:
    """Profile mexc (MM on the open value plus the fee to close) on im: MEXC's liquidatePrice
    (1211.2, a 0.1 tick) within 0.1%; it is E x (1 - 1/leverage + rate) once the fee held in im
    and the fee in the threshold cancel."""
    raw = raw_position()

    lp = assess_isolated(_normalised(), get_profile("mexc")).liquidation_price

    assert lp is not None
    assert lp == pytest.approx(raw["liquidatePrice"], rel=REL)
    closed_form = raw["holdAvgPrice"] * (1 - 1 / raw["leverage"] + implied_rate())
    assert lp == pytest.approx(closed_form, rel=1e-5)


def test_mexc_published_isolated_example() -> None:
    """MEXC's worked example (blog.mexc.fm/liquidation-in-futures-2, commission excluded): long
    0.1 BTC at 50,000, 25x, MMR 0.4% -> 48,200."""
    size, entry_price, leverage, rate = 0.1, 50_000.0, 25.0, 0.004
    row = {
        "symbol": "BTC/USDT:USDT",
        "contracts": size,
        "contractSize": 1.0,
        "side": "long",
        "entryPrice": entry_price,
        "markPrice": entry_price,
        "marginMode": "isolated",
        "collateral": size * entry_price / leverage,
        "info": {},
    }
    tiers = tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])
    market = {**client().markets["BTC/USDT:USDT"], "taker": 0.0}
    position = position_from_ccxt(row, market, tiers, MarginMode.CROSS)
    assert position is not None

    lp = assess_isolated(position, get_profile("mexc")).liquidation_price

    assert lp == pytest.approx(48_200.0, rel=1e-12)
