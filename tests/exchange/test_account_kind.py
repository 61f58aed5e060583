"""Account kinds and unified accounts read as their venue defines their equity (issue 16, part 1).

A unified (multi-collateral) account is margined in USD with every collateral asset after the
venue's haircuts; reading it in one currency's balance (as riskguard did) sees a fraction of it,
or nothing. The recorded answers are ccxt's own fixtures (``../shared/data/ccxt-recorded``): a
Bybit unified trading account and an OKX multi-currency margin account; hand-built answers cover
the rest, so the module runs without the shared data too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from riskguard.errors import InputError
from riskguard.exchange.account_kind import account_kind, free_collateral, portfolio_margin
from riskguard.exchange.ccxt_account import snapshot_from_ccxt

NOW = datetime(2026, 12, 7, tzinfo=UTC)
LINEAR = {
    "symbol": "BTC/USDT:USDT",
    "settle": "USDT",
    "swap": True,
    "contract": True,
    "contractSize": 1.0,
    "maintenanceMarginPercentage": 0.005,
}


def _bybit_answer(margin: str, perp_upl: str, coins: list[dict[str, Any]]) -> dict[str, Any]:
    account = {
        "accountType": "UNIFIED",
        "totalMarginBalance": margin,
        "totalPerpUPL": perp_upl,
        "totalAvailableBalance": "4000",
        "coin": coins,
    }
    return {"info": {"result": {"list": [account]}}, "total": {"USDT": 10.0}, "free": {}}


def _snapshot(balance: dict[str, Any], rows: list[dict[str, Any]] | None = None) -> Any:
    return snapshot_from_ccxt(
        account="a",
        venue="bybit",
        balance=balance,
        positions=rows or [],
        markets={"BTC/USDT:USDT": LINEAR},
        tiers={},
        taken_at=NOW,
        total_includes_upnl=False,
    )


def test_a_bybit_unified_account_is_read_in_usd_from_its_margin_balance() -> None:
    coins = [{"coin": "USDC", "usdValue": "5000"}, {"coin": "USDT", "usdValue": "10"}]
    balance = _bybit_answer("5020", "10", coins)

    snapshot = _snapshot(balance)

    assert snapshot.wallet_balance == pytest.approx(5010.0)
    assert snapshot.settle == "USD"
    assert snapshot.account_type is not None
    assert "unified" in snapshot.account_type
    assert snapshot.sources[0][0] == "wallet"
    assert "totalMarginBalance" in snapshot.sources[0][1]


def test_volatile_collateral_in_a_unified_account_is_said() -> None:
    coins = [{"coin": "BTC", "usdValue": "7500"}, {"coin": "USDT", "usdValue": "2500"}]

    snapshot = _snapshot(_bybit_answer("9800", "0", coins))

    assert any("75% of the collateral is in BTC" in n for n in snapshot.notes)


def test_a_unified_account_with_isolated_positions_leaves_their_margin_out_of_the_wallet() -> None:
    row = {
        "symbol": "BTC/USDT:USDT",
        "side": "long",
        "contracts": 0.1,
        "entryPrice": 100_000.0,
        "markPrice": 100_000.0,
        "marginMode": "isolated",
        "info": {"positionBalance": "1000"},
    }

    snapshot = _snapshot(_bybit_answer("6000", "0", []), [row])

    assert snapshot.wallet_balance == pytest.approx(5000.0)
    assert snapshot.positions[0].collateral == 1000.0


def test_a_configured_settle_currency_reads_the_account_in_that_currency() -> None:
    balance = _bybit_answer("5020", "10", [])

    snapshot = snapshot_from_ccxt(
        account="a",
        venue="bybit",
        balance=balance,
        positions=[],
        markets={"BTC/USDT:USDT": LINEAR},
        tiers={},
        taken_at=NOW,
        total_includes_upnl=False,
        settle="USDT",
    )

    assert (snapshot.settle, snapshot.wallet_balance) == ("USDT", 10.0)


def test_a_plain_account_is_named_by_its_settle_currency() -> None:
    kind = account_kind({"total": {"USDC": 5.0}}, "USDC")

    assert (kind.label, kind.unified) == ("USDC-settled account", False)


@pytest.mark.parametrize(
    ("info", "label"),
    [
        ({"totalCrossWalletBalance": "1", "multiAssetsMargin": True}, "Binance multi-assets mode"),
        ({"totalCrossWalletBalance": "1", "multiAssetsMargin": False}, "Binance single-asset"),
        ({"data": [{"details": [], "totalEq": "1", "adjEq": ""}]}, "OKX single-currency"),
        ({"result": {"list": [{"accountType": "CONTRACT"}]}}, "Bybit contract account"),
    ],
)
def test_the_account_type_is_read_from_the_shape_of_the_venues_answer(
    info: dict[str, Any], label: str
) -> None:
    assert account_kind({"info": info}, "USDT").label.startswith(label)


def test_free_collateral_of_a_unified_account_is_the_venues_available_balance() -> None:
    balance = _bybit_answer("5020", "10", [])
    balance["free"] = {"USDT": 3.0}

    assert free_collateral(balance, account_kind(balance, "USDT"), "USDT") == 4000.0
    plain = {"free": {"USDT": 3.0}}
    assert free_collateral(plain, account_kind(plain, "USDT"), "USDT") == 3.0


# --- on recorded answers -------------------------------------------------------------------------


@pytest.mark.shared_data
def test_recorded_bybit_unified_account_reads_its_usd_margin_balance_not_one_coin() -> None:
    from tests.risk.test_recorded_payloads import entry

    recorded = entry("bybit", "fetchBalance", 0)
    account = recorded["httpResponse"]["result"]["list"][0]
    balance = {**recorded["parsedResponse"], "info": recorded["httpResponse"]}

    snapshot = _snapshot(balance)

    expected = float(account["totalMarginBalance"]) - float(account["totalPerpUPL"])
    assert snapshot.wallet_balance == pytest.approx(expected, rel=1e-12)
    # the USDT coin alone, which the account used to be read as, is a small part of it
    assert balance["total"]["USDT"] < 0.05 * snapshot.wallet_balance


@pytest.mark.shared_data
def test_recorded_okx_multi_currency_account_reads_its_adjusted_equity() -> None:
    from tests.risk.test_recorded_payloads import entry

    recorded = entry("okx", "fetchBalance", 3)
    raw = recorded["httpResponse"]["data"][0]
    balance = {**recorded["parsedResponse"], "info": recorded["httpResponse"]}

    snapshot = _snapshot(balance)

    assert snapshot.wallet_balance == pytest.approx(float(raw["adjEq"]) - float(raw["upl"]))
    assert snapshot.account_type == "OKX multi-currency margin account (USD)"
    assert any("of the collateral is in BTC" in n for n in snapshot.notes)


def _deribit_summary(model: str, enabled: bool) -> dict[str, Any]:
    summary = {"currency": "USDC", "margin_model": model, "portfolio_margining_enabled": enabled}
    return {"info": {"summaries": [summary]}, "total": {"USDC": 100.0}}


@pytest.mark.parametrize(
    ("balance", "refused"),
    [
        (_deribit_summary("cross_pm", True), "Deribit portfolio margin"),
        (_deribit_summary("segregated_pm", False), "Deribit portfolio margin"),
        ({"info": [{"asset": "USDT", "umWalletBalance": "1"}]}, "Binance portfolio margin"),
    ],
)
def test_a_portfolio_margin_answer_is_refused_not_guessed(
    balance: dict[str, Any], refused: str
) -> None:
    with pytest.raises(InputError, match=rf"{refused}.*not covered.*not guarded"):
        _snapshot(balance)


def test_the_recorded_deribit_standard_margin_answer_is_not_refused() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "deribit.json"
    recorded = json.loads(path.read_text(encoding="utf-8"))["methods"]["fetchBalance"][0]
    balance = {**recorded["parsedResponse"], "info": recorded["httpResponse"]["result"]}

    assert portfolio_margin(balance) is None
    with_pm = json.loads(json.dumps(balance))
    with_pm["info"]["summaries"][0]["margin_model"] = "cross_pm"
    assert portfolio_margin(with_pm) == "Deribit portfolio margin (margin_model cross_pm)"
