"""key_permissions: what a key may do, from the raw answers of each exchange's own endpoint.

The raw answers below are written from each exchange's API documentation (from memory of the
documented examples, not recorded traffic; no network here):

- Binance ``GET /sapi/v1/account/apiRestrictions``: flat booleans ``enableReading``,
  ``enableWithdrawals``, ``enableFutures``, ``enableSpotAndMarginTrading``, ...
- Bybit ``GET /v5/user/query-api``: ``{retCode, retMsg, result: {readOnly: 0|1, permissions:
  {ContractTrade: [...], Spot: [...], Wallet: [...], ...}}}``; ``readOnly`` 1 is a read-only key;
  ``Wallet`` lists ``Withdraw`` when the key may withdraw.
- OKX ``GET /api/v5/account/config``: ``{code, msg, data: [{perm: "read_only,withdraw,trade",
  ...}]}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.exchange.permissions import PROBES, KeyPermissions, key_permissions

BINANCE_METHOD = "sapi_get_account_apirestrictions"
BYBIT_METHOD = "private_get_v5_user_query_api"
OKX_METHOD = "private_get_account_config"


class FakeProbeClient:
    """A ccxt client of ``exchange_id`` whose implicit ``method`` answers ``answer`` (or raises
    it, when it is an exception) and counts its calls."""

    def __init__(self, exchange_id: str, method: str | None, answer: Any = None) -> None:
        self.id = exchange_id
        self.calls = 0
        if method is not None:

            async def call() -> Any:
                self.calls += 1
                if isinstance(answer, BaseException):
                    raise answer
                return answer

            setattr(self, method, call)


def binance_restrictions(**flags: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ipRestrict": False,
        "createTime": 1_698_645_219_000,
        "enableReading": True,
        "enableWithdrawals": False,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": False,
        "enablePortfolioMarginTrading": False,
    }
    answer.update(flags)
    return answer


def bybit_query_api(read_only: int, permissions: dict[str, list[str]]) -> dict[str, Any]:
    full = {
        "ContractTrade": [],
        "Spot": [],
        "Wallet": [],
        "Options": [],
        "Derivatives": [],
        "CopyTrading": [],
        "BlockTrade": [],
        "Exchange": [],
        "NFT": [],
        "Affiliate": [],
    }
    full.update(permissions)
    return {
        "retCode": 0,
        "retMsg": "",
        "result": {
            "id": "13770661",
            "note": "riskguard",
            "apiKey": "XXXXXXXXXXXXXXXXXX",
            "readOnly": read_only,
            "secret": "",
            "permissions": full,
            "ips": ["*"],
            "type": 1,
            "deadlineDay": 83,
            "unified": 0,
            "uta": 1,
            "isMaster": True,
        },
        "retExtInfo": {},
        "time": 1_697_525_990_798,
    }


def okx_account_config(perm: str) -> dict[str, Any]:
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "acctLv": "2",
                "autoLoan": False,
                "ctIsoMode": "automatic",
                "greeksType": "PA",
                "level": "Lv1",
                "mgnIsoMode": "automatic",
                "posMode": "long_short_mode",
                "uid": "44705892343619584",
                "label": "riskguard",
                "roleType": "0",
                "perm": perm,
                "ip": "120.255.24.182",
                "mainUid": "44705892343619584",
            }
        ],
    }


def ask(client: Any) -> KeyPermissions:
    return asyncio.run(key_permissions(client))


# ---------------------------------------------------------------------- Binance


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "binancecoinm", "binance"])
def test_binance_futures_key_with_withdrawals_is_known_to_trade_and_withdraw(
    exchange_id: str,
) -> None:
    answer = binance_restrictions(enableFutures=True, enableWithdrawals=True)
    client = FakeProbeClient(exchange_id, BINANCE_METHOD, answer)

    permissions = ask(client)

    assert permissions == KeyPermissions(
        True, can_trade=True, can_withdraw=True, detail="sapi account/apiRestrictions"
    )
    assert permissions.read_only is False
    assert client.calls == 1


def test_binance_key_with_reading_only_is_read_only() -> None:
    client = FakeProbeClient("binanceusdm", BINANCE_METHOD, binance_restrictions())

    permissions = ask(client)

    assert permissions.known is True
    assert permissions.can_trade is False
    assert permissions.can_withdraw is False
    assert permissions.read_only is True


def test_binance_key_with_spot_trading_but_no_futures_cannot_trade_futures() -> None:
    answer = binance_restrictions(enableSpotAndMarginTrading=True)

    permissions = ask(FakeProbeClient("binanceusdm", BINANCE_METHOD, answer))

    assert permissions.can_trade is False
    assert permissions.read_only is True


# ---------------------------------------------------------------------- Bybit


def test_bybit_key_with_wallet_withdraw_is_known_to_trade_and_withdraw() -> None:
    answer = bybit_query_api(
        0,
        {
            "ContractTrade": ["Order", "Position"],
            "Wallet": ["AccountTransfer", "SubMemberTransfer", "Withdraw"],
        },
    )

    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, answer))

    assert permissions == KeyPermissions(
        True, can_trade=True, can_withdraw=True, detail="v5/user/query-api"
    )


def test_bybit_key_with_transfers_but_not_withdraw_cannot_withdraw() -> None:
    answer = bybit_query_api(
        0,
        {"ContractTrade": ["Order", "Position"], "Wallet": ["AccountTransfer"]},
    )

    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, answer))

    assert permissions.can_withdraw is False
    assert permissions.can_trade is True


@pytest.mark.parametrize(
    "trade", [{"Derivatives": ["DerivativesTrade"]}, {"Spot": ["SpotTrade"]}], ids=["deriv", "spot"]
)
def test_bybit_unified_trade_permissions_count_as_trading(trade: dict[str, list[str]]) -> None:
    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, bybit_query_api(0, trade)))

    assert permissions.can_trade is True


def test_bybit_read_only_key_cannot_trade_even_with_trade_permissions_listed() -> None:
    answer = bybit_query_api(1, {"ContractTrade": ["Order", "Position"]})

    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, answer))

    assert permissions.can_trade is False
    assert permissions.read_only is True


def test_bybit_key_without_any_trade_permission_is_read_only() -> None:
    answer = bybit_query_api(0, {"Exchange": ["ExchangeHistory"]})

    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, answer))

    assert permissions.read_only is True
    assert permissions.can_withdraw is False


def test_bybit_answer_without_result_is_known_and_allows_nothing() -> None:
    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, {"retCode": 0, "result": None}))

    assert permissions == KeyPermissions(
        True, can_trade=False, can_withdraw=False, detail="v5/user/query-api"
    )


# ---------------------------------------------------------------------- OKX


def test_okx_key_with_withdraw_perm_is_known_to_trade_and_withdraw() -> None:
    answer = okx_account_config("read_only,withdraw,trade")

    permissions = ask(FakeProbeClient("okx", OKX_METHOD, answer))

    assert permissions == KeyPermissions(
        True, can_trade=True, can_withdraw=True, detail="account/config perm"
    )


def test_okx_read_only_key_is_read_only() -> None:
    permissions = ask(FakeProbeClient("okx", OKX_METHOD, okx_account_config("read_only")))

    assert permissions.read_only is True
    assert permissions.can_withdraw is False


def test_okx_perm_list_tolerates_spaces_and_empty_items() -> None:
    permissions = ask(FakeProbeClient("okx", OKX_METHOD, okx_account_config(" read_only, trade,")))

    assert permissions.can_trade is True
    assert permissions.can_withdraw is False


def test_okx_answer_without_data_is_known_and_allows_nothing() -> None:
    permissions = ask(FakeProbeClient("okx", OKX_METHOD, {"code": "0", "data": []}))

    assert permissions.known is True
    assert permissions.can_trade is False
    assert permissions.can_withdraw is False


# ---------------------------------------------------------------------- unknown answers


def test_exchange_without_a_probe_is_unknown_and_asks_nothing() -> None:
    permissions = ask(FakeProbeClient("kraken", None))

    assert permissions == KeyPermissions(
        False, detail="this exchange does not report key permissions"
    )
    assert permissions.read_only is False  # unknown is never treated as read-only


def test_client_without_an_id_is_unknown() -> None:
    assert ask(object()).known is False


def test_client_lacking_the_implicit_method_is_unknown_and_says_which() -> None:
    permissions = ask(FakeProbeClient("okx", None))

    assert permissions == KeyPermissions(False, detail=f"ccxt has no {OKX_METHOD}")


@pytest.mark.parametrize(
    "error",
    [
        ccxt.PermissionDenied("okx GET https://www.okx.com/api/v5/account/config?x=1 denied"),
        ccxt.AuthenticationError("okx GET https://www.okx.com/api/v5/account/config?x=1 denied"),
        ccxt.RequestTimeout("okx GET https://www.okx.com/api/v5/account/config?x=1 denied"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_probe_raising_a_ccxt_error_is_unknown_with_the_error_text_without_url(
    error: ccxt.BaseError,
) -> None:
    permissions = ask(FakeProbeClient("okx", OKX_METHOD, error))

    assert permissions == KeyPermissions(False, detail=f"{OKX_METHOD} failed: okx <url> denied")
    assert permissions.read_only is False


@pytest.mark.parametrize("answer", [None, [], "read_only"], ids=["none", "list", "text"])
def test_probe_answer_that_is_not_a_mapping_is_unknown(answer: Any) -> None:
    permissions = ask(FakeProbeClient("bybit", BYBIT_METHOD, answer))

    assert permissions == KeyPermissions(False, detail=f"{BYBIT_METHOD}: unexpected answer")


# ---------------------------------------------------------------------- the probes exist in ccxt


@pytest.mark.parametrize("exchange_id", sorted(PROBES))
def test_every_probe_is_an_implicit_method_of_the_real_ccxt_client(exchange_id: str) -> None:
    async def has_method() -> bool:
        client = getattr(ccxt, exchange_id)()
        try:
            return callable(getattr(client, PROBES[exchange_id][0], None))
        finally:
            await client.close()

    assert asyncio.run(has_method()) is True
