"""Deribit payloads recorded by ccxt's own tests, through ccxt and riskguard.

ccxt's static fixture for Deribit holds no position, no leverage tier, no mark price, no open
or created order and no funding rate; the one entry riskguard needs is ``fetchBalance`` (twelve
per-currency account summaries of a standard-margin account with no position: USDC and SOL
funded). ``tests/data/ccxt-recorded/deribit.json`` and deribit.md beside it say what was taken.
Checked here:

(a) the pinned ccxt replays the recorded answer and its parse equals the recorded one;
(b) ``snapshot_from_ccxt`` on it: the wallet, in the settle currency the account holds;
(c) no liquidation price can be compared: no position, and every summary's
    ``estimated_liquidation_ratio`` (Deribit's estimate, x a future's price) is 0;
(d) the conventions: ccxt's total is the summary's ``equity`` (includes uPnL), used its
    ``maintenance_margin``, free its ``available_funds``; the account is standard margin.

Every number comes from the JSON at test time.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest

from riskguard.exchange.ccxt_account import TOTAL_EXCLUDES_UPNL, snapshot_from_ccxt
from riskguard.risk import MarginBasis, evaluate_account, get_profile
from tests.exchange.recorded_kit import recorded_entry
from tests.exchange.recorded_kit import swap_market as kit_swap

DATA = Path(__file__).resolve().parents[1] / "data" / "ccxt-recorded" / "deribit.json"

TAKEN_AT = datetime(2024, 12, 2, tzinfo=UTC)


def balance_entry() -> dict[str, Any]:
    return recorded_entry(DATA, "fetchBalance", 0)


def summaries() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = balance_entry()["httpResponse"]["result"]["summaries"]
    return rows


def _market(symbol: str, market_id: str) -> dict[str, Any]:
    return kit_swap(symbol, market_id, None, precision={}, limits={}, info={})


def markets() -> list[dict[str, Any]]:
    """Deribit's BTC perpetuals settling in currencies the payload lists: USDC (linear, funded)
    and BTC (inverse, unfunded). The settle currency must come from the funded one."""
    return [
        _market("BTC/USDC:USDC", "BTC_USDC-PERPETUAL"),
        _market("BTC/USD:BTC", "BTC-PERPETUAL"),
    ]


def replay() -> Any:
    exchange = ccxt.deribit({"apiKey": "key", "secret": "secret"})
    exchange.set_markets(markets())
    recorded = balance_entry()
    urls: list[str] = []

    def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        urls.append(url)
        return copy.deepcopy(recorded["httpResponse"])

    exchange.fetch = fetch
    result = exchange.fetch_balance(*recorded["input"])
    (url,) = urls
    assert "get_account_summaries" in url
    return result


# (a) ------------------------------------------------------------------------------------------


def test_ccxt_fetch_balance_replay_equals_recorded_parse() -> None:
    # Act
    got = replay()

    # Assert
    assert got == balance_entry()["parsedResponse"]


# (d) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["total", "used", "free"])
def test_ccxt_balance_fields_come_from_equity_maintenance_margin_and_available_funds(
    field: str,
) -> None:
    # Arrange
    source = {"total": "equity", "used": "maintenance_margin", "free": "available_funds"}[field]

    # Act
    parsed = balance_entry()["parsedResponse"][field]

    # Assert
    assert parsed == {s["currency"]: float(s[source]) for s in summaries()}


def test_equity_is_margin_balance_is_balance_when_flat_so_total_includes_upnl() -> None:
    """Deribit's equity = balance + session PnL (uPnL included); flat here, so all three agree.
    ccxt's total (equity) is therefore read as including uPnL, the default."""
    # Act
    rows = summaries()

    # Assert
    for s in rows:
        assert float(s["futures_session_upl"]) == float(s["session_upl"]) == 0.0
        assert float(s["equity"]) == float(s["margin_balance"]) == float(s["balance"])
    assert "deribit" not in TOTAL_EXCLUDES_UPNL


def test_account_is_standard_margin_per_currency_without_cross_collateral() -> None:
    # Act
    rows = summaries()

    # Assert: the profile (cross per currency, MM on mark value) is for this margin model
    assert {s["margin_model"] for s in rows} == {"segregated_sm"}
    assert not any(s["portfolio_margining_enabled"] for s in rows)
    assert not any(s["cross_collateral_enabled"] for s in rows)
    profile = get_profile("deribit")
    assert profile.cross_basis is MarginBasis.MARK
    assert profile.approximate


# (b) and (c) ----------------------------------------------------------------------------------


def test_flat_account_snapshot_reads_wallet_in_funded_settle_currency() -> None:
    # Arrange
    balance = replay()
    funded = {s["currency"]: float(s["equity"]) for s in summaries() if float(s["equity"]) > 0}

    # Act
    snapshot = snapshot_from_ccxt(
        account="recorded",
        venue="deribit",
        balance=balance,
        positions=[],
        markets={m["symbol"]: m for m in markets()},
        tiers={},
        taken_at=TAKEN_AT,
    )

    # Assert
    assert snapshot.settle == "USDC"
    assert snapshot.wallet_balance == funded["USDC"]
    assert snapshot.positions == ()


def test_no_liquidation_price_recorded_and_flat_account_has_nothing_to_lose() -> None:
    # Arrange
    snapshot = snapshot_from_ccxt(
        account="recorded",
        venue="deribit",
        balance=replay(),
        positions=[],
        markets={m["symbol"]: m for m in markets()},
        tiers={},
        taken_at=TAKEN_AT,
    )

    # Act
    evaluation = evaluate_account(snapshot)

    # Assert
    assert all(float(s["estimated_liquidation_ratio"]) == 0.0 for s in summaries())
    assert all(s["estimated_liquidation_ratio_map"] == {} for s in summaries())
    assert all(float(s["maintenance_margin"]) == 0.0 for s in summaries())
    assert evaluation.positions == ()
    assert evaluation.potential_shortfall == 0.0
