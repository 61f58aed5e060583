"""Recorded ccxt exchange payloads checked against the risk core.

The payloads are ccxt's own static-test fixtures (real exchange responses plus ccxt's parsed
output), extracted to ``../shared/data/ccxt-recorded`` with a SOURCES.md that says which entries
carry an exchange-reported liquidation price that can be recomputed:

- binance fetchPositions[0] and [1]: linear cross; the wallet comes from fetchPositions[2]
  (the account endpoint of the same account at the same update time). Recomputed.
- okx fetchPosition[2]: inverse isolated (size in USD, collateral = raw ``margin`` in BTC, taker
  fee from SOURCES.md). Recomputed.
- binance fetchPositions[3]: inverse cross, no coin wallet recorded. ccxt's collateral is
  back-computed from the liquidation price, so reproducing the price on it is a consistency check
  of riskguard's inverse algebra, not an independent recompute.
- okx fetchPosition[1]: inverse cross, cross equity not recorded: only the regime is compared.
- bybit fetchPositions[0], okx fetchPositions[0] and fetchPosition[0]: no exchange figure at all.

Every number is read from the JSON at test time. The only inputs not in the payloads are the OKX
taker fee (SOURCES.md) and which entry holds the Binance wallet.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskguard import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.risk import (
    assess_account,
    assess_isolated,
    get_profile,
    liquidation_distances,
    with_cumulative_amounts,
)

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ccxt-recorded"

if not DATA_DIR.is_dir():
    pytest.skip(
        f"recorded ccxt payloads not found at {DATA_DIR}: shared data is absent",
        allow_module_level=True,
    )

pytestmark = pytest.mark.shared_data

REL = 1e-3
"""Agreement asked of a recomputed liquidation price: 0.1%."""

BINANCE_WALLET_ENTRY = 2
"""binance fetchPositions[2] is the account endpoint of the same account (SOURCES.md)."""

OKX_INVERSE_TAKER_FEE = 0.0005
"""OKX BTC-USD-SWAP taker fee in the liquidation threshold; not in the payload (SOURCES.md)."""

RECOMPUTED = {
    ("binance", "fetchPositions", 0),
    ("binance", "fetchPositions", 1),
    ("okx", "fetchPosition", 2),
}
NOT_RECOMPUTABLE = {
    ("binance", "fetchPositions", 3),  # inverse cross, no coin wallet recorded (circular only)
    ("okx", "fetchPosition", 1),  # inverse cross, cross equity not recorded
}


# --- loading -----------------------------------------------------------------------------------


@functools.cache
def recorded(exchange: str) -> dict[str, Any]:
    """The whole recorded file of one exchange."""
    with (DATA_DIR / f"{exchange}.json").open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def entry(exchange: str, method: str, index: int) -> dict[str, Any]:
    """One recorded call: description, input, httpResponse, parsedResponse."""
    calls: list[dict[str, Any]] = recorded(exchange)["methods"][method]
    return calls[index]


def parsed_positions(exchange: str, method: str, index: int) -> list[dict[str, Any]]:
    """ccxt's unified position(s) of one call (fetchPosition returns one, fetchPositions a list)."""
    parsed = entry(exchange, method, index)["parsedResponse"]
    return parsed if isinstance(parsed, list) else [parsed]


def single_parsed(exchange: str, method: str, index: int) -> dict[str, Any]:
    """The only unified position of one call."""
    positions = parsed_positions(exchange, method, index)
    assert len(positions) == 1, f"{exchange} {method}[{index}] has {len(positions)} positions"
    return positions[0]


def raw_rows(exchange: str, method: str, index: int) -> list[dict[str, Any]]:
    """The exchange's own position rows in httpResponse."""
    http = entry(exchange, method, index)["httpResponse"]
    if exchange == "bybit":
        return list(http["result"]["list"])
    if exchange == "okx":
        return list(http["data"])
    return list(http)


def position_entries() -> list[tuple[str, str, int]]:
    """Every recorded fetchPositions/fetchPosition call of every exchange."""
    out = []
    for exchange in ("binance", "bybit", "okx"):
        for method in ("fetchPositions", "fetchPosition"):
            calls = recorded(exchange)["methods"].get(method, [])
            out += [(exchange, method, i) for i in range(len(calls))]
    return out


def binance_tiers(symbol: str) -> tuple[Tier, ...]:
    """Binance brackets from the recorded ``options.leverageBrackets`` ([floor, mmr] strings)."""
    rows = recorded("binance")["options"]["leverageBrackets"][symbol]
    floors = [float(floor) for floor, _rate in rows]
    tiers = [
        Tier(floor, floors[i + 1] if i + 1 < len(floors) else math.inf, float(rate))
        for i, (floor, (_f, rate)) in enumerate(zip(floors, rows, strict=True))
    ]
    return with_cumulative_amounts(tiers)


def binance_wallet() -> float:
    """The cross wallet of the Binance account: totalWalletBalance of the account endpoint."""
    account = entry("binance", "fetchPositions", BINANCE_WALLET_ENTRY)["httpResponse"]
    return float(account["totalWalletBalance"])


def gap(mark: float, liquidation: float) -> float:
    """Price distance from the mark to a liquidation price.

    Compared with the same 0.1% as the price itself, it is far more sensitive to a wrong input
    (a 1% wallet error moves the Binance price by 0.04% but its gap by 1%).
    """
    return abs(mark - liquidation)


def taken_at(parsed: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(parsed["timestamp"] / 1000, tz=UTC)


# --- ccxt unified position -> riskguard Position -------------------------------------------------

_BYBIT_TRADE_MODES = {"0": MarginMode.CROSS, "1": MarginMode.ISOLATED}


def ccxt_margin_mode(parsed: dict[str, Any]) -> MarginMode:
    """ccxt's marginMode, or Bybit's raw ``tradeMode`` where ccxt leaves it None."""
    mode = parsed.get("marginMode")
    if mode is not None:
        return MarginMode(mode)
    trade_mode = parsed["info"].get("tradeMode")
    if trade_mode not in _BYBIT_TRADE_MODES:
        raise ValueError(f"{parsed['symbol']}: no margin mode in parsed or raw position")
    return _BYBIT_TRADE_MODES[trade_mode]


def ccxt_is_inverse(symbol: str) -> bool:
    """A unified symbol ``BASE/QUOTE:SETTLE`` is inverse when it settles in its base coin."""
    base, _, rest = symbol.partition("/")
    return rest.partition(":")[2] == base


def ccxt_position_to_riskguard(
    parsed: dict[str, Any],
    *,
    tiers: tuple[Tier, ...] = (),
    maintenance_margin_rate: float | None = None,
    collateral: float | None = None,
    taker_fee: float = 0.0,
    contract_size: float | None = None,
) -> Position | None:
    """A riskguard Position from one ccxt unified position; None for a flat or history row.

    size = contracts x contractSize (OKX counts contracts); leverage may be None (Binance v3);
    marginMode may be None (Bybit, see :func:`ccxt_margin_mode`). ``contract_size`` overrides a
    parsed contractSize known to be wrong (a fixture-market artefact).
    """
    contracts = parsed.get("contracts")
    if not contracts or parsed.get("side") is None:
        return None
    size_per_contract = contract_size if contract_size is not None else parsed["contractSize"]
    return Position(
        symbol=parsed["symbol"],
        side=Side(parsed["side"]),
        size=contracts * size_per_contract,
        entry_price=parsed["entryPrice"],
        mark_price=parsed["markPrice"],
        margin_mode=ccxt_margin_mode(parsed),
        leverage=parsed.get("leverage"),
        collateral=collateral,
        contract_size=size_per_contract,
        tiers=tiers,
        maintenance_margin_rate=maintenance_margin_rate,
        taker_fee=taker_fee,
        inverse=ccxt_is_inverse(parsed["symbol"]),
    )


def built(parsed: dict[str, Any], **kwargs: Any) -> Position:
    position = ccxt_position_to_riskguard(parsed, **kwargs)
    assert position is not None, f"{parsed['symbol']}: no position built"
    return position


def binance_cross_snapshot(index: int) -> tuple[AccountSnapshot, dict[str, Any]]:
    parsed = single_parsed("binance", "fetchPositions", index)
    position = built(parsed, tiers=binance_tiers(parsed["symbol"]))
    snapshot = AccountSnapshot("binanceusdm", binance_wallet(), (position,), taken_at(parsed))
    return snapshot, parsed


def okx_inverse_isolated() -> tuple[Position, dict[str, Any]]:
    """okx fetchPosition[2] per SOURCES.md: size in USD, collateral = raw margin in BTC."""
    parsed = single_parsed("okx", "fetchPosition", 2)
    position = built(
        parsed,
        maintenance_margin_rate=parsed["maintenanceMarginPercentage"],
        collateral=float(parsed["info"]["margin"]),
        taker_fee=OKX_INVERSE_TAKER_FEE,
    )
    return position, parsed


# --- inventory ---------------------------------------------------------------------------------


def test_inventory_entries_with_reported_liquidation_price_are_all_accounted_for() -> None:
    # Arrange
    accounted = RECOMPUTED | NOT_RECOMPUTABLE

    # Act
    reported = {
        key
        for key in position_entries()
        if any((p.get("liquidationPrice") or 0) > 0 for p in parsed_positions(*key))
    }

    # Assert
    assert reported == accounted


@pytest.mark.parametrize(
    "key",
    [
        ("binance", "fetchPositions", 0),
        ("binance", "fetchPositions", 1),
        ("binance", "fetchPositions", 3),
        ("bybit", "fetchPositions", 0),
        ("bybit", "fetchPosition", 0),
        ("okx", "fetchPositions", 0),
        ("okx", "fetchPosition", 0),
        ("okx", "fetchPosition", 1),
        ("okx", "fetchPosition", 2),
    ],
    ids=lambda key: f"{key[0]}-{key[1]}-{key[2]}",
)
def test_parsed_info_is_verbatim_raw_row_so_raw_fields_can_be_read_from_it(
    key: tuple[str, str, int],
) -> None:
    # Act
    infos = [p["info"] for p in parsed_positions(*key)]

    # Assert
    assert all(info in raw_rows(*key) for info in infos)


# --- binance linear cross: recomputed ----------------------------------------------------------


def test_binance_account_entry_wallet_is_its_asset_wallets_at_the_positions_update_time() -> None:
    # Arrange
    account = entry("binance", "fetchPositions", BINANCE_WALLET_ENTRY)["httpResponse"]
    update_times = {raw_rows("binance", "fetchPositions", i)[0]["updateTime"] for i in (0, 1)} | {
        row["updateTime"] for row in account["positions"]
    }

    # Act
    asset_sum = sum(float(asset["walletBalance"]) for asset in account["assets"])

    # Assert: multi-asset mode values USDC at its USD price, so the total is close, not equal
    assert binance_wallet() == pytest.approx(asset_sum, rel=REL)
    assert float(account["totalCrossWalletBalance"]) == binance_wallet()
    assert len(update_times) == 1


@pytest.mark.parametrize("index", [0, 1])
def test_binance_linear_cross_liquidation_price_matches_recorded_within_0_1_pct(
    index: int,
) -> None:
    # Arrange
    snapshot, parsed = binance_cross_snapshot(index)
    recorded_lp = float(parsed["info"]["liquidationPrice"])

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert
    assert risk.liquidation_price is not None
    assert risk.liquidation_price == pytest.approx(recorded_lp, rel=REL)
    assert gap(parsed["markPrice"], risk.liquidation_price) == pytest.approx(
        gap(parsed["markPrice"], recorded_lp), rel=REL
    )
    assert parsed["liquidationPrice"] == pytest.approx(recorded_lp, rel=1e-12)


@pytest.mark.parametrize("index", [0, 1])
def test_binance_linear_cross_maintenance_margin_matches_recorded_maint_margin(
    index: int,
) -> None:
    # Arrange
    snapshot, parsed = binance_cross_snapshot(index)

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert
    assert risk.maintenance_margin == pytest.approx(float(parsed["info"]["maintMargin"]), rel=REL)
    assert risk.unrealized_pnl == pytest.approx(float(parsed["info"]["unRealizedProfit"]), rel=REL)


@pytest.mark.parametrize("index", [0, 1])
def test_binance_v3_parsed_leverage_none_builds_cross_position_without_leverage(
    index: int,
) -> None:
    # Arrange
    parsed = single_parsed("binance", "fetchPositions", index)

    # Act
    position = built(parsed, tiers=binance_tiers(parsed["symbol"]))

    # Assert
    assert parsed["leverage"] is None
    assert position.leverage is None
    assert position.margin_mode is MarginMode.CROSS
    assert position.size == pytest.approx(abs(float(parsed["info"]["positionAmt"])))
    assert not position.inverse


@pytest.mark.parametrize("index", [0, 1])
def test_binance_ccxt_collateral_is_back_computed_from_liquidation_price_so_not_an_input(
    index: int,
) -> None:
    # Arrange
    parsed = single_parsed("binance", "fetchPositions", index)
    liq, mmr = parsed["liquidationPrice"], parsed["maintenanceMarginPercentage"]

    # Act
    circular = (liq * (mmr - 1) + parsed["entryPrice"]) * parsed["contracts"]

    # Assert
    assert parsed["collateral"] == pytest.approx(circular, rel=1e-6)


# --- binance inverse cross: reported, no coin wallet recorded (consistency only) ---------------


def binance_inverse_cross_snapshot() -> tuple[AccountSnapshot, dict[str, Any]]:
    """binance fetchPositions[3] with ccxt's ``collateral`` standing in for the coin wallet.

    No coin wallet is recorded, and ccxt back-computes ``collateral`` from the liquidation price
    with Binance's formula: a recompute on it checks riskguard's inverse cross algebra against
    that formula, not against an independent input.
    """
    parsed = single_parsed("binance", "fetchPositions", 3)
    position = built(parsed, tiers=binance_tiers(parsed["symbol"]))
    snapshot = AccountSnapshot("binance", parsed["collateral"], (position,), taken_at(parsed))
    return snapshot, parsed


def test_binance_inverse_cross_ccxt_collateral_is_derived_from_liquidation_price() -> None:
    # Arrange
    parsed = single_parsed("binance", "fetchPositions", 3)
    usd = parsed["contracts"] * parsed["contractSize"]
    mmr, liq = parsed["maintenanceMarginPercentage"], parsed["liquidationPrice"]

    # Act: ccxt's formula for a short inverse position
    circular = usd * (1 / parsed["entryPrice"] - (1 - mmr) / liq)

    # Assert
    assert parsed["side"] == "short"
    assert parsed["collateral"] == pytest.approx(circular, rel=REL)


def test_binance_inverse_cross_on_back_computed_wallet_reproduces_recorded_price() -> None:
    # Arrange
    snapshot, parsed = binance_inverse_cross_snapshot()

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert
    assert snapshot.positions[0].inverse
    assert risk.side == "short"
    recorded_lp = float(parsed["info"]["liquidationPrice"])
    assert risk.liquidation_price is not None
    assert risk.liquidation_price == pytest.approx(recorded_lp, rel=REL)
    assert gap(parsed["markPrice"], risk.liquidation_price) == pytest.approx(
        gap(parsed["markPrice"], recorded_lp), rel=REL
    )


def test_binance_inverse_cross_coin_figures_match_recorded_margin_pnl_and_notional() -> None:
    # Arrange
    snapshot, parsed = binance_inverse_cross_snapshot()

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert: money figures of an inverse position are in BTC
    assert risk.maintenance_margin == pytest.approx(parsed["maintenanceMargin"], rel=REL)
    assert risk.unrealized_pnl == pytest.approx(float(parsed["info"]["unRealizedProfit"]), rel=REL)
    assert risk.notional == pytest.approx(abs(float(parsed["info"]["notionalValue"])), rel=REL)


def test_binance_flat_inverse_row_is_dropped_by_ccxt_parser() -> None:
    # Arrange
    rows = raw_rows("binance", "fetchPositions", 3)

    # Act
    parsed_symbols = [p["info"]["symbol"] for p in parsed_positions("binance", "fetchPositions", 3)]

    # Assert
    flat = [r["symbol"] for r in rows if float(r["positionAmt"]) == 0]
    assert flat
    assert not set(flat) & set(parsed_symbols)


# --- okx inverse isolated: recomputed ----------------------------------------------------------


def test_okx_inverse_isolated_recorded_price_fits_sources_formula_with_taker_fee() -> None:
    # Arrange: checks the inputs of the recompute below independently of riskguard
    position, parsed = okx_inverse_isolated()
    usd, margin = position.size, float(parsed["info"]["margin"])
    mmr = parsed["maintenanceMarginPercentage"]

    # Act
    with_fee = usd * (1 + mmr + OKX_INVERSE_TAKER_FEE) / (margin + usd / position.entry_price)
    without_fee = usd * (1 + mmr) / (margin + usd / position.entry_price)

    # Assert
    recorded_lp = float(parsed["info"]["liqPx"])
    assert with_fee == pytest.approx(recorded_lp, rel=1e-5)
    assert without_fee != pytest.approx(recorded_lp, rel=1e-4)


def test_okx_inverse_isolated_contracts_times_contract_size_is_usd_notional() -> None:
    # Arrange
    parsed = single_parsed("okx", "fetchPosition", 2)

    # Act
    position, _ = okx_inverse_isolated()

    # Assert
    assert position.inverse
    assert position.size == pytest.approx(float(parsed["info"]["notionalUsd"]))
    assert position.contracts == pytest.approx(float(parsed["info"]["pos"]))
    assert position.margin_mode is MarginMode.ISOLATED


def test_okx_inverse_isolated_liquidation_price_matches_recorded_within_0_1_pct() -> None:
    # Arrange
    position, parsed = okx_inverse_isolated()

    # Act
    risk = assess_isolated(position, get_profile("okx"))

    # Assert
    recorded_lp = float(parsed["info"]["liqPx"])
    assert risk.liquidation_price is not None
    assert risk.liquidation_price == pytest.approx(recorded_lp, rel=REL)
    assert gap(position.mark_price, risk.liquidation_price) == pytest.approx(
        gap(position.mark_price, recorded_lp), rel=REL
    )
    assert parsed["liquidationPrice"] == pytest.approx(recorded_lp, rel=1e-12)


def test_okx_inverse_isolated_batch_agrees_with_assess_isolated_on_recorded_position() -> None:
    # Arrange
    position, _parsed = okx_inverse_isolated()
    profile = get_profile("okx")

    # Act
    [(batch_lp, batch_distance)] = liquidation_distances([position], profile)
    risk = assess_isolated(position, profile)

    # Assert
    assert batch_lp == pytest.approx(risk.liquidation_price, rel=1e-12)
    assert batch_distance == pytest.approx(risk.distance, rel=1e-12)
    assert batch_distance is not None
    assert batch_distance > 0


@pytest.mark.parametrize(
    "cross", [True, False], ids=["cross-fetchPosition-1", "isolated-fetchPosition-2"]
)
def test_okx_inverse_maintenance_margin_and_pnl_in_btc_match_raw_mmr_and_upl(cross: bool) -> None:
    # Arrange
    if cross:
        snapshot, parsed = okx_inverse_cross_snapshot()
    else:
        position, parsed = okx_inverse_isolated()
        snapshot = AccountSnapshot("okx", 0.0, (position,), taken_at(parsed))

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert
    assert risk.maintenance_margin == pytest.approx(float(parsed["info"]["mmr"]), rel=REL)
    assert risk.unrealized_pnl == pytest.approx(float(parsed["info"]["upl"]), rel=REL)


# --- okx inverse cross: reported, cross equity not recorded ------------------------------------


def okx_inverse_cross_snapshot() -> tuple[AccountSnapshot, dict[str, Any]]:
    """okx fetchPosition[1] on a cross wallet estimated from OKX's margin ratio.

    OKX's ``mgnRatio`` is roughly equity / maintenance margin, so equity ~ mgnRatio x mmr (an
    estimate: the account's equity itself is not recorded). The wallet excludes the PnL.
    """
    parsed = single_parsed("okx", "fetchPosition", 1)
    position = built(
        parsed,
        maintenance_margin_rate=parsed["maintenanceMarginPercentage"],
        taker_fee=OKX_INVERSE_TAKER_FEE,
    )
    equity = float(parsed["info"]["mgnRatio"]) * float(parsed["info"]["mmr"])
    wallet = equity - float(parsed["info"]["upl"])
    return AccountSnapshot("okx", wallet, (position,), taken_at(parsed)), parsed


def test_okx_inverse_cross_on_estimated_equity_puts_liquidation_below_1pct_of_mark_like_okx() -> (
    None
):
    # Arrange
    snapshot, parsed = okx_inverse_cross_snapshot()
    mark = parsed["markPrice"]

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert: same regime as the exchange's figure, not the same number (equity is estimated)
    assert 0 < float(parsed["info"]["liqPx"]) < 0.01 * mark
    assert risk.liquidation_price is not None
    assert 0 < risk.liquidation_price < 0.01 * mark
    assert risk.distance is not None
    assert risk.distance > 0.99


# --- okx linear cross: no exchange figure ------------------------------------------------------

OKX_LINEAR_CROSS = [
    pytest.param("fetchPositions", 0, None, id="fetchPositions-0"),
    # Parsed contractSize is 1 here, a fixture-market artefact; notionalUsd implies 0.001.
    pytest.param("fetchPosition", 0, 0.001, id="fetchPosition-0"),
]


@pytest.mark.parametrize(("method", "index"), [("fetchPositions", 0), ("fetchPosition", 0)])
def test_okx_linear_cross_payload_carries_no_liquidation_price(method: str, index: int) -> None:
    # Act
    parsed = single_parsed("okx", method, index)

    # Assert
    assert parsed["info"]["liqPx"] == ""
    assert parsed["liquidationPrice"] is None
    assert parsed["marginMode"] == "cross"


def test_okx_linear_size_is_contracts_times_contract_size_not_contracts() -> None:
    # Arrange
    parsed = single_parsed("okx", "fetchPositions", 0)

    # Act
    position = built(parsed, maintenance_margin_rate=parsed["maintenanceMarginPercentage"])

    # Assert
    assert position.size == pytest.approx(parsed["contracts"] * parsed["contractSize"])
    assert position.size != pytest.approx(parsed["contracts"])
    assert position.notional == pytest.approx(float(parsed["info"]["notionalUsd"]), rel=REL)


def test_okx_fetch_position_parsed_contract_size_disagrees_with_usd_notional() -> None:
    # Arrange
    parsed = single_parsed("okx", "fetchPosition", 0)

    # Act
    implied = float(parsed["info"]["notionalUsd"]) / (parsed["contracts"] * parsed["markPrice"])

    # Assert
    assert parsed["contractSize"] == 1
    assert implied == pytest.approx(0.001, rel=1e-2)


@pytest.mark.parametrize(("method", "index", "contract_size"), OKX_LINEAR_CROSS)
def test_okx_linear_cross_with_equity_implied_by_mgn_ratio_has_no_liquidation_price_either(
    method: str, index: int, contract_size: float | None
) -> None:
    # Arrange: OKX mgnRatio ~ equity / maintenance margin, so equity ~ mgnRatio x mmr (an estimate;
    # the account's equity itself is not recorded). The wallet excludes the unrealised PnL.
    parsed = single_parsed("okx", method, index)
    position = built(
        parsed,
        maintenance_margin_rate=parsed["maintenanceMarginPercentage"],
        contract_size=contract_size,
    )
    equity = float(parsed["info"]["mgnRatio"]) * float(parsed["info"]["mmr"])
    wallet = equity - position.unrealized_pnl
    snapshot = AccountSnapshot("okx", wallet, (position,), taken_at(parsed))

    # Act
    risk = assess_account(snapshot).positions[0]

    # Assert
    assert equity > 100 * position.notional
    assert risk.liquidation_price is None
    assert risk.distance is None
    assert risk.safe


def test_okx_position_history_row_builds_no_position() -> None:
    # Arrange
    parsed = single_parsed("okx", "fetchPositions", 1)

    # Act
    position = ccxt_position_to_riskguard(parsed)

    # Assert
    assert parsed["contracts"] is None
    assert position is None


# --- bybit unified account: no exchange figure -------------------------------------------------


def test_bybit_uta_payload_carries_no_liquidation_or_bankruptcy_price() -> None:
    # Act
    parsed = single_parsed("bybit", "fetchPositions", 0)

    # Assert
    assert parsed["info"]["liqPrice"] == ""
    assert parsed["info"]["bustPrice"] == ""
    assert parsed["liquidationPrice"] is None


def test_bybit_parsed_margin_mode_none_is_read_from_raw_trade_mode_as_cross() -> None:
    # Arrange
    parsed = single_parsed("bybit", "fetchPositions", 0)

    # Act
    position = built(parsed, maintenance_margin_rate=parsed["maintenanceMarginPercentage"])

    # Assert
    assert parsed["marginMode"] is None
    assert position.margin_mode is MarginMode.CROSS
    assert position.leverage == float(parsed["info"]["leverage"])
    assert position.size == float(parsed["info"]["size"])


def test_bybit_uta_position_on_its_own_position_balance_gets_finite_liquidation_below_mark() -> (
    None
):
    # Arrange: the account's cross equity is not recorded (fetchBalance is from another date), so
    # stand the position on its own positionBalance with Bybit's isolated rules.
    parsed = single_parsed("bybit", "fetchPositions", 0)
    balance = float(parsed["info"]["positionBalance"])
    position = built(
        parsed,
        maintenance_margin_rate=parsed["maintenanceMarginPercentage"],
        collateral=balance,
    )
    isolated = dataclasses.replace(position, margin_mode=MarginMode.ISOLATED)

    # Act
    risk = assess_isolated(isolated, get_profile("bybit"))

    # Assert
    lp = risk.liquidation_price
    assert lp is not None
    assert math.isfinite(lp)
    assert 0 < lp < isolated.mark_price
    assert risk.bankruptcy_price is not None
    assert risk.bankruptcy_price < lp < isolated.entry_price
    assert risk.maintenance_margin == pytest.approx(float(parsed["info"]["positionMM"]), rel=REL)


def test_bybit_flat_fetch_position_builds_no_position() -> None:
    # Arrange
    parsed = single_parsed("bybit", "fetchPosition", 0)

    # Act
    position = ccxt_position_to_riskguard(parsed)

    # Assert
    assert parsed["info"]["size"] == "0"
    assert parsed["side"] is None
    assert position is None
