"""BitMEX payloads recorded by ccxt's own tests, through riskguard.

The payload (``tests/data/ccxt-recorded/bitmex.json``, sources and field notes in ``bitmex.md``
beside it) holds one open position (LTCUSDT, linear, cross, testnet, March 2024), one spot
trigger order and one filled swap market order. No balance and no risk-limit table is recorded.

(a) The pinned ccxt has no ``bitmex`` exchange class, so nothing can be replayed; that is pinned,
    so that a ccxt that brings BitMEX back fails here and asks for the replay tests.
(b) riskguard's normaliser on the recorded unified row: size, side, entry, mark, margin mode and
    (cross) collateral.
(c) BitMEX reports liquidation price 0 for this cross position (no liquidation in sight) and the
    cross wallet is not recorded, so no price can be compared. What can be: riskguard's
    maintenance margin against BitMEX's own ``posMaint`` (the profile leaves out the funding term
    BitMEX adds), and that riskguard, too, finds no liquidation price once the wallet covers what
    BitMEX's figures say it must.
(d) The raw-field conventions: money in millionths of USDT, entry ``avgEntryPrice``, size
    ``currentQty`` contracts of ``contractSize`` LTC, orders in contracts.

Every number about the recorded account is read from the JSON at test time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard import MarginMode, Side
from riskguard.exchange.ccxt_account import (
    open_stops_from_ccxt,
    position_from_ccxt,
    snapshot_from_ccxt,
    tiers_from_ccxt,
)
from riskguard.guard.cycle import _positive
from riskguard.risk import assess_account, get_profile
from tests.exchange.recorded_kit import load_recorded, recorded_entry

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "bitmex.json"

USDT_SCALE = 1e6
"""BitMEX books USDT-settled money in millionths of a USDT (settle currency ``USDt``)."""

FUNDING_TERM_RATE = 1e-4
"""What ``posMaint`` holds beyond ``maintMarginReq x posCost + posComm``, as a fraction of
``posCost``: 0.01%, the size of BitMEX's base funding (interest) rate per period. BitMEX adds the
funding to the maintenance margin; the rate is not in the payload (bitmex.md)."""

REL = 1e-3
TAKEN_AT = datetime(2024, 3, 8, 16, 45, 47, tzinfo=UTC)


def entry(method: str, index: int) -> dict[str, Any]:
    """One recorded call (a deep copy: tests may alter it)."""
    return recorded_entry(DATA, method, index)


def position_row() -> dict[str, Any]:
    rows: list[dict[str, Any]] = entry("fetchPositions", 0)["parsedResponse"]
    assert len(rows) == 1
    return rows[0]


def raw_position() -> dict[str, Any]:
    rows: list[dict[str, Any]] = entry("fetchPositions", 0)["httpResponse"]
    assert len(rows) == 1
    return rows[0]


def usdt(raw_amount: str) -> float:
    return float(raw_amount) / USDT_SCALE


# --- a minimal market from the payload ---------------------------------------------------------


def market() -> dict[str, Any]:
    """LTCUSDT: symbol and contract size from the recorded parse, the taker fee from the raw
    row's ``commission`` (what BitMEX charges to close)."""
    row = position_row()
    base, _, rest = row["symbol"].partition("/")
    quote, _, settle = rest.partition(":")
    return {
        "id": row["info"]["symbol"],
        "symbol": row["symbol"],
        "base": base,
        "quote": quote,
        "settle": settle,
        "type": "swap",
        "swap": True,
        "contract": True,
        "option": False,
        "linear": True,
        "inverse": False,
        "contractSize": float(row["contractSize"]),
        "taker": float(row["info"]["commission"]),
    }


def tiers() -> Any:
    """One tier at the row's own rate: BitMEX's rate is fixed by the risk limit the user chose
    (``maintMarginReq``), not looked up by size; no risk-limit table is recorded."""
    rate = position_row()["maintenanceMarginPercentage"]
    assert rate == float(raw_position()["maintMarginReq"])
    return tiers_from_ccxt([{"minNotional": 0, "maintenanceMarginRate": rate}])


def normalise(default: MarginMode = MarginMode.ISOLATED) -> Any:
    return position_from_ccxt(position_row(), market(), tiers(), default)


def snapshot(wallet: float) -> Any:
    """The recorded position in a cross account whose cross wallet is ``wallet`` USDT."""
    row = position_row()
    return snapshot_from_ccxt(
        account="recorded",
        venue="bitmex",
        balance={"info": {"crossWalletBalance": wallet}, "total": {}},
        positions=[row],
        markets={row["symbol"]: market()},
        tiers={row["symbol"]: tiers()},
        taken_at=TAKEN_AT,
    )


# =============================================================================================
# (a) the pinned ccxt cannot replay BitMEX
# =============================================================================================


def test_pinned_ccxt_has_no_bitmex_so_no_recorded_answer_can_be_replayed() -> None:
    """When this fails, ccxt has BitMEX again: add replay tests of fetchPositions (GET
    /position), fetchOpenOrders and fetchOrder (GET /order) like the other venues'."""
    # Act
    present = hasattr(ccxt, "bitmex") or "bitmex" in ccxt.exchanges

    # Assert
    assert not present


def test_recorded_file_names_okx_as_its_exchange_a_fixture_artefact() -> None:
    """ccxt's bitmex.json says ``"exchange": "okx"`` (copied from another fixture); every
    entry in it is BitMEX's (XBT symbols, account 395724, testnet text)."""
    # Act
    named = load_recorded(DATA)["exchange"]

    # Assert
    assert named == "okx"
    assert raw_position()["symbol"] == "LTCUSDT"
    assert entry("fetchOrder", 0)["httpResponse"][0]["text"].endswith("testnet.bitmex.com")


# =============================================================================================
# (b) riskguard's normaliser on the recorded row
# =============================================================================================


def test_position_from_ccxt_reads_size_side_entry_mark_and_cross_mode() -> None:
    # Arrange
    raw = raw_position()

    # Act
    position = normalise()

    # Assert
    assert position is not None
    assert position.side is Side.LONG
    assert float(raw["currentQty"]) > 0
    assert position.size == pytest.approx(float(raw["homeNotional"]), rel=1e-12)
    assert position.entry_price == float(raw["avgEntryPrice"])
    assert position.mark_price == float(raw["markPrice"])
    assert position.margin_mode is MarginMode.CROSS  # the row's, not the ISOLATED default
    assert raw["crossMargin"] is True
    assert position.collateral is None
    assert position.leverage == float(raw["leverage"])
    assert position.taker_fee == float(raw["commission"])


def test_position_from_ccxt_unrealized_pnl_and_notional_match_bitmex_figures() -> None:
    # Arrange
    raw = raw_position()

    # Act
    position = normalise()

    # Assert
    assert position.unrealized_pnl == pytest.approx(usdt(raw["unrealisedPnl"]), rel=1e-9)
    assert position.notional == pytest.approx(-float(raw["foreignNotional"]), rel=1e-12)
    assert position.notional == pytest.approx(usdt(raw["markValue"]), rel=1e-12)


def test_isolated_row_reads_no_raw_margin_field_so_minor_units_never_become_collateral() -> None:
    """The same row as isolated: BitMEX's margin figures (posMargin 94156) are in millionths of a
    USDT; none is among the raw fields riskguard reads, so collateral stays unknown (None) rather
    than a million times too large."""
    # Arrange
    row = {**position_row(), "marginMode": "isolated"}

    # Act
    position = position_from_ccxt(row, market(), tiers(), MarginMode.CROSS)

    # Assert
    assert position is not None
    assert position.margin_mode is MarginMode.ISOLATED
    assert position.collateral is None
    assert float(row["info"]["posMargin"]) > 1000 * position.notional


# =============================================================================================
# (c) liquidation: BitMEX says none in sight; its maintenance margin against ours
# =============================================================================================


def test_recorded_liquidation_price_zero_means_no_figure_for_the_guard_cross_check() -> None:
    """Raw ``liquidationPrice`` "0" (and ``bankruptPrice`` "0"), parsed 0: the guard's
    cross-check takes only a positive price as the venue's figure."""
    # Arrange
    row = position_row()

    # Act
    reported = _positive(row["liquidationPrice"])

    # Assert
    assert raw_position()["liquidationPrice"] == raw_position()["bankruptPrice"] == "0"
    assert row["liquidationPrice"] == 0
    assert reported is None


def test_maintenance_margin_is_bitmex_rate_on_position_cost_not_on_mark_value() -> None:
    """riskguard's maintenance margin (bitmex profile: on the entry value) is
    ``maintMarginReq x posCost``, BitMEX's own base term of ``posMaint``."""
    # Arrange
    raw = raw_position()
    account = snapshot(wallet=usdt(raw["posCost"]))

    # Act
    risk = assess_account(account).positions[0]

    # Assert
    assert risk.maintenance_margin == pytest.approx(
        float(raw["maintMarginReq"]) * usdt(raw["posCost"]), rel=1e-12
    )
    assert risk.maintenance_margin != pytest.approx(
        float(raw["maintMarginReq"]) * usdt(raw["markValue"]), rel=1e-4
    )


def test_requirement_falls_short_of_pos_maint_by_the_funding_term_and_fee_basis() -> None:
    """Our threshold at the mark (MM + taker fee on the mark value) against BitMEX's posMaint:
    lower by BitMEX's funding term (0.01% of the cost) and by the fee BitMEX reserves on a larger
    value (posComm), about 1% of the threshold here. The profile is labelled approximate."""
    # Arrange
    raw = raw_position()
    account = snapshot(wallet=usdt(raw["posCost"]))

    # Act
    risk = assess_account(account).positions[0]

    # Assert
    pos_maint = usdt(raw["posMaint"])
    funding_term = FUNDING_TERM_RATE * usdt(raw["posCost"])
    fee_gap = usdt(raw["posComm"]) - risk.requirement + risk.maintenance_margin
    assert get_profile("bitmex").approximate
    assert risk.requirement < pos_maint
    assert pos_maint - risk.requirement == pytest.approx(funding_term + fee_gap, rel=1e-3)
    assert (pos_maint - risk.requirement) / pos_maint < 0.02


@pytest.mark.parametrize(("cover", "liquidates"), [(1.0, False), (0.9, True)])
def test_cross_wallet_covering_cost_and_maintenance_has_no_liquidation_price_like_bitmex(
    cover: float, liquidates: bool
) -> None:
    """The cross wallet is not recorded. A long charged on its cost has no liquidation price once
    the wallet covers the cost and the maintenance margin (BitMEX's 0): with ``posCost +
    posMaint`` riskguard also finds none; with 90% of it, one (and below the mark)."""
    # Arrange
    raw = raw_position()
    wallet = cover * (usdt(raw["posCost"]) + usdt(raw["posMaint"]))

    # Act
    risk = assess_account(snapshot(wallet)).positions[0]

    # Assert
    if liquidates:
        assert risk.liquidation_price is not None
        assert 0 < risk.liquidation_price < float(raw["markPrice"])
    else:
        assert risk.liquidation_price is None


# =============================================================================================
# (d) raw-field conventions
# =============================================================================================


def test_raw_money_fields_are_millionths_of_usdt_and_parse_keeps_them_as_strings() -> None:
    """``currency`` "USDt": posMaint, unrealisedPnl, posCost... are in 1e-6 USDT. The recorded
    parse divides them but leaves ``maintenanceMargin`` and ``unrealizedPnl`` as strings."""
    # Arrange
    row = position_row()
    raw = raw_position()

    # Act
    maintenance, upnl = row["maintenanceMargin"], row["unrealizedPnl"]

    # Assert
    assert raw["currency"] == "USDt"
    assert isinstance(maintenance, str)
    assert isinstance(upnl, str)
    assert float(maintenance) == pytest.approx(usdt(raw["posMaint"]), rel=1e-12)
    assert float(upnl) == pytest.approx(usdt(raw["unrealisedPnl"]), rel=1e-12)
    assert row["notional"] == pytest.approx(usdt(raw["markValue"]), rel=1e-12)


def test_raw_size_entry_and_leverage_conventions() -> None:
    """``currentQty`` contracts of ``contractSize`` LTC = ``homeNotional``; the entry is
    ``avgEntryPrice`` (= ``avgCostPrice``) and ``posCost`` its value; leverage 50 is
    1 / ``initMarginReq``."""
    # Arrange
    row = position_row()
    raw = raw_position()

    # Act
    size = row["contracts"] * row["contractSize"]

    # Assert
    assert row["info"] == raw
    assert row["contracts"] == float(raw["currentQty"])
    assert size == pytest.approx(float(raw["homeNotional"]), rel=1e-12)
    assert row["entryPrice"] == float(raw["avgEntryPrice"]) == float(raw["avgCostPrice"])
    assert usdt(raw["posCost"]) == pytest.approx(size * row["entryPrice"], rel=1e-12)
    assert row["leverage"] == pytest.approx(1 / float(raw["initMarginReq"]), rel=1e-12)
    assert row["maintenanceMarginPercentage"] == float(raw["maintMarginReq"])


def test_pos_maint_is_rate_on_cost_plus_closing_commission_plus_funding_term() -> None:
    """posMaint = maintMarginReq x posCost + posComm + 0.01% x posCost (to the unit); on the mark
    value the remainder is no round rate: BitMEX charges maintenance on the position's cost."""
    # Arrange
    raw = raw_position()
    cost, comm, rate = float(raw["posCost"]), float(raw["posComm"]), float(raw["maintMarginReq"])

    # Act
    remainder = float(raw["posMaint"]) - rate * cost - comm
    on_mark = float(raw["posMaint"]) - rate * float(raw["markValue"]) - comm

    # Assert
    assert remainder == pytest.approx(FUNDING_TERM_RATE * cost, abs=1.0)
    assert on_mark != pytest.approx(FUNDING_TERM_RATE * float(raw["markValue"]), abs=10.0)
    assert raw["posMaint"] == raw["maintMargin"] == raw["posMargin"]


def test_orders_are_in_contracts_and_the_recorded_ones_are_not_stops() -> None:
    """fetchOrder[0] (swap market buy, XBTUSDT): ``amount`` 1000 is ``orderQty`` contracts and
    ``cost`` 20.933 USDT implies 1e-6 BTC per contract. fetchOpenOrders[0] is a spot trigger
    buy whose ``reduceOnly`` is None: neither is a stop protecting a position."""
    # Arrange
    order = entry("fetchOrder", 0)["parsedResponse"]
    raw_order = entry("fetchOrder", 0)["httpResponse"][0]
    trigger = entry("fetchOpenOrders", 0)["parsedResponse"]

    # Act
    per_contract = order["cost"] / (order["amount"] * order["average"])
    stops = open_stops_from_ccxt([order, *trigger], {}, lambda cid: False)

    # Assert
    assert order["amount"] == float(raw_order["orderQty"]) == float(raw_order["cumQty"])
    assert per_contract == pytest.approx(1e-6, rel=1e-9)
    assert trigger[0]["triggerPrice"] == float(trigger[0]["info"]["stopPx"])
    assert trigger[0]["reduceOnly"] is None
    assert stops == ()
