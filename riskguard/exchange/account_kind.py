"""What kind of account a balance answer comes from, and a unified account's equity as its venue
defines it.

Most derivatives accounts hold one settle currency and are read in it. Unified (multi-asset)
accounts margin every position with every collateral asset, valued in USD after the venue's
collateral ratios (haircuts: a volatile coin or a stablecoin that can depeg counts for less than
its market value). The venue computes that figure and liquidates on it, so riskguard reads it from
the venue's answer instead of guessing it from one currency's balance:

- Bybit unified trading account (``accountType: UNIFIED``): ``totalMarginBalance`` (USD, after
  collateral value ratios, with perpetual uPnL ``totalPerpUPL``), free ``totalAvailableBalance``.
- OKX multi-currency margin (``adjEq`` present): ``adjEq`` (adjusted equity in USD, after the
  discount rates, with the cross uPnL ``upl``), free ``availEq``.
- Binance multi-assets mode (``multiAssetsMargin: true``): the wallet is the account endpoint's
  ``totalCrossWalletBalance``, in USD across the collateral assets, as
  :func:`~riskguard.exchange.ccxt_account.cross_wallet` already reads it; free ``availableBalance``.

The detection is by the shape of the venue's answer (its raw ``info``), never by exchange id.
Portfolio-margin accounts are refused earlier (``validate``); options positions by the normaliser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from riskguard.exchange.raw_rows import at, number

STABLE: Final = frozenset({"USDT", "USDC", "USD", "FDUSD", "DAI", "USDE", "TUSD", "BUSD", "PYUSD"})
"""Dollar stablecoins: collateral whose value does not move with the crypto market (until it
depegs, which the venue's haircut covers)."""


@dataclass(frozen=True, slots=True)
class AccountKind:
    """An account's type and, for a unified account, its venue-defined figures (USD)."""

    label: str
    unified: bool = False
    """The venue margins every position with every collateral asset, in USD: the wallet is its
    USD collateral value (from ``equity`` less ``upnl``, or the venue's cross wallet)."""
    equity: float | None = None
    upnl: float | None = None
    free: float | None = None
    source: str = ""
    collateral_usd: tuple[tuple[str, float], ...] = ()
    """Per collateral asset, its USD value as the venue reports it (largest first)."""

    def volatile_collateral_note(self) -> str | None:
        """A note where part of the collateral is not a dollar stablecoin."""
        total = sum(v for _, v in self.collateral_usd)
        volatile = [(c, v) for c, v in self.collateral_usd if c.upper() not in STABLE and v > 0]
        if total <= 0 or not volatile:
            return None
        share = sum(v for _, v in volatile) / total
        names = ", ".join(c for c, _ in volatile[:4])
        return (
            f"{share:.0%} of the collateral is in {names}: its value falls with the market, "
            "which the venue's haircut softens but riskguard's stress scenarios do not move"
        )


def _collateral(rows: Any, asset: str, usd: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(rows, list):
        return ()
    pairs = [(str(r.get(asset)), number(r.get(usd)) or 0.0) for r in rows if isinstance(r, Mapping)]
    return tuple(sorted((p for p in pairs if p[1] > 0), key=lambda p: -p[1]))


def _bybit(info: Mapping[str, Any]) -> AccountKind | None:
    if "result" not in info:
        return None
    account = at(info, ("result", "list", 0))
    if not isinstance(account, Mapping) or "accountType" not in account:
        return None
    if account.get("accountType") != "UNIFIED":
        return AccountKind(label=f"Bybit {str(account.get('accountType')).lower()} account")
    equity = number(account.get("totalMarginBalance"))
    if equity is None:
        return AccountKind(label="Bybit unified trading account, no margin balance reported")
    return AccountKind(
        label="Bybit unified trading account (multi-collateral, USD)",
        unified=True,
        equity=equity,
        upnl=number(account.get("totalPerpUPL")) or 0.0,
        free=number(account.get("totalAvailableBalance")),
        source="venue raw totalMarginBalance less totalPerpUPL (USD, collateral ratios applied)",
        collateral_usd=_collateral(account.get("coin"), "coin", "usdValue"),
    )


def _okx(info: Mapping[str, Any]) -> AccountKind | None:
    if "data" not in info:
        return None
    account = at(info, ("data", 0))
    if not isinstance(account, Mapping) or "details" not in account or "totalEq" not in account:
        return None
    equity = number(account.get("adjEq"))
    if equity is None:
        return AccountKind(label="OKX single-currency margin account")
    return AccountKind(
        label="OKX multi-currency margin account (USD)",
        unified=True,
        equity=equity,
        upnl=number(account.get("upl")) or 0.0,
        free=number(account.get("availEq")),
        source="venue raw adjEq less upl (USD, discount rates applied)",
        collateral_usd=_collateral(account.get("details"), "ccy", "disEq"),
    )


def _binance(info: Mapping[str, Any]) -> AccountKind | None:
    if "totalCrossWalletBalance" not in info:
        return None
    multi = info.get("multiAssetsMargin")
    if multi is True:
        return AccountKind(
            label="Binance multi-assets mode (USD across collateral assets)",
            unified=True,
            free=number(info.get("availableBalance")),
            source="venue raw totalCrossWalletBalance (USD across collateral assets)",
            collateral_usd=_collateral(info.get("assets"), "asset", "marginBalance"),
        )
    label = "Binance single-asset mode" if multi is False else "Binance futures account"
    return AccountKind(
        label=label,
        free=number(info.get("availableBalance")),
        source="venue raw totalCrossWalletBalance",
    )


_MAPPING = (dict, Mapping)
"""What a mapping is, dict first: ccxt's answers are dicts, told without the ABC's check."""

_PAPER = AccountKind(label="paper venue account", source="paper venue crossWalletBalance")


def _paper(info: Mapping[str, Any]) -> AccountKind | None:
    return _PAPER if "crossWalletBalance" in info else None


_READERS: Final = (_bybit, _okx, _binance, _paper)


def portfolio_margin(balance: Mapping[str, Any]) -> str | None:
    """What shows a balance answer to be a portfolio-margin account's (not covered: the venue
    nets margin across the whole book by its own model), or None.

    Binance's portfolio-margin (papi) balance is a list of per-asset rows with UM and CM wallets;
    Deribit says ``portfolio_margining_enabled`` and a ``margin_model`` ending in ``_pm`` in each
    currency summary. (OKX and Bybit say it only in account-configuration calls; for them the
    ``ccxt_config`` check at ``validate`` is what refuses it.)
    """
    info = balance.get("info")
    if isinstance(info, list) and any(
        isinstance(r, Mapping) and ("umWalletBalance" in r or "cmWalletBalance" in r) for r in info
    ):
        return "Binance portfolio margin (papi balance)"
    result = info.get("result", info) if isinstance(info, _MAPPING) else None
    summaries: Any = result.get("summaries", [result]) if isinstance(result, _MAPPING) else []
    for summary in summaries if isinstance(summaries, list) else []:
        if not isinstance(summary, _MAPPING):
            continue
        model = str(summary.get("margin_model") or "")
        if summary.get("portfolio_margining_enabled") is True or model.endswith("_pm"):
            return f"Deribit portfolio margin (margin_model {model or 'pm'})"
    return None


def account_kind(balance: Mapping[str, Any], settle: str) -> AccountKind:
    """The account's kind from its balance answer; a plain ``<settle>-settled`` account where the
    answer has no sign of a venue-defined account type."""
    info = balance.get("info")
    if isinstance(info, _MAPPING):
        for reader in _READERS:
            kind = reader(info)
            if kind is not None:
                return kind
    return AccountKind(label=f"{settle}-settled account", source=f"ccxt total {settle}")


def free_collateral(balance: Mapping[str, Any], kind: AccountKind, settle: str) -> float:
    """What the account can still put up as margin: the venue's own figure for a unified account
    (or where it reports one), else ccxt's free balance of the settle currency."""
    if kind.free is not None and (kind.unified or settle not in (balance.get("free") or {})):
        return max(0.0, kind.free)
    return max(0.0, number((balance.get("free") or {}).get(settle)) or 0.0)
