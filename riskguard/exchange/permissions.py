"""What an API key may do, where the exchange tells through ccxt.

Withdrawal rights on a guard's key are a risk with no use: the daemon warns at start. A key that
can only read puts its account in alert-only mode (the guard still watches, journals and alerts,
and says at start that it will not act). Exchanges expose this through raw endpoints ccxt maps as
implicit methods; each probe below is one such call and a parser, looked up by ccxt id. Where no
probe exists the answer is "unknown" and the guard proceeds (and says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from riskguard.exchange.errors import short_text


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """What a key may do; ``None`` where the exchange did not say."""

    known: bool
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    detail: str = ""

    @property
    def read_only(self) -> bool:
        """Known to be unable to trade."""
        return self.known and self.can_trade is False


def _binance_futures(raw: Mapping[str, Any]) -> KeyPermissions:
    return KeyPermissions(
        True,
        can_trade=bool(raw.get("enableFutures")),
        can_withdraw=bool(raw.get("enableWithdrawals")),
        detail="sapi account/apiRestrictions",
    )


def _bybit(raw: Mapping[str, Any]) -> KeyPermissions:
    result = raw.get("result") or {}
    permissions = result.get("permissions") or {}
    trading = any(permissions.get(k) for k in ("ContractTrade", "Derivatives", "Spot"))
    read_only = str(result.get("readOnly")) == "1"
    return KeyPermissions(
        True,
        can_trade=trading and not read_only,
        can_withdraw="Withdraw" in (permissions.get("Wallet") or []),
        detail="v5/user/query-api",
    )


def _okx(raw: Mapping[str, Any]) -> KeyPermissions:
    rows = raw.get("data") or [{}]
    perms = {p.strip() for p in str(rows[0].get("perm", "")).split(",") if p.strip()}
    return KeyPermissions(
        True,
        can_trade="trade" in perms,
        can_withdraw="withdraw" in perms,
        detail="account/config perm",
    )


PROBES: Mapping[str, tuple[str, Callable[[Mapping[str, Any]], KeyPermissions]]] = {
    "binanceusdm": ("sapi_get_account_apirestrictions", _binance_futures),
    "binancecoinm": ("sapi_get_account_apirestrictions", _binance_futures),
    "binance": ("sapi_get_account_apirestrictions", _binance_futures),
    "bybit": ("private_get_v5_user_query_api", _bybit),
    "okx": ("private_get_account_config", _okx),
}
"""ccxt id -> (implicit ccxt method, parser of its raw answer)."""


async def key_permissions(client: Any) -> KeyPermissions:
    """Ask the exchange what ``client``'s key may do; unknown when it cannot be asked."""
    probe = PROBES.get(str(getattr(client, "id", "")))
    if probe is None:
        return KeyPermissions(False, detail="this exchange does not report key permissions")
    method, parse = probe
    call = getattr(client, method, None)
    if call is None:
        return KeyPermissions(False, detail=f"ccxt has no {method}")
    try:
        raw = await call()
    except ccxt.BaseError as exc:
        return KeyPermissions(False, detail=f"{method} failed: {short_text(exc)}")
    if not isinstance(raw, Mapping):
        return KeyPermissions(False, detail=f"{method}: unexpected answer")
    return parse(raw)
