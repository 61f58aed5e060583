"""Read a spot margin account (borrowing) from ccxt's ``fetch_balance`` answer.

Prices come from the caller (asset -> price in the account's quote); nothing here fetches. What
is read, per venue (ccxt 4.5.x; ``docs/spot_margin.md`` has the sources):

- binance, cross (``fetch_balance({'type': 'margin'})``): raw ``info.userAssets[]`` ``free`` +
  ``locked`` (held), ``borrowed``, ``interest``; the venue's ``info.marginLevel``. Without the raw
  rows, ccxt's unified ``total`` (held) and ``debt`` (borrowed + interest, not split).
- binance, isolated (``{'type': 'margin', 'marginMode': 'isolated'}``): ccxt merges every pair
  into one balance per currency, so only the raw ``info.assets[]`` is read: the pair's
  ``baseAsset`` / ``quoteAsset`` rows and its ``marginLevel``; each pair is its own account.
- bybit, unified account: raw ``info.result.list[0].coin[]`` ``equity`` (net), ``borrowAmount``
  and ``accruedInterest`` (owed); held = equity + owed, because ``walletBalance`` changed meaning
  with Bybit's manual-borrow update (old walletBalance = new walletBalance - spotBorrow). The
  venue's ``accountMMRate``. Without raw rows: unified ``total`` (held) and ``debt``.
- okx: raw ``info.data[0].details[]`` ``eq`` (net), ``liab`` (owed, read as including
  ``interest``); held = eq + liab. Haircut = ``disEq / eqUsd`` where both are positive. The venue's
  account ``mgnRatio``. ccxt 4.5.90 puts no ``debt`` in OKX balances, so raw rows are required.

Maintenance rates on loans (OKX, Bybit) come from the caller; when missing, a single effective
rate is derived from the venue's own maintenance margin (OKX ``mmr``, Bybit
``totalMaintenanceMargin``) when nothing else holds margin, and the notes say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskguard.errors import InputError, UnsupportedError
from riskguard.risk.spot_margin import (
    BINANCE_CROSS,
    BINANCE_ISOLATED,
    BYBIT_UTA,
    OKX_MARGIN,
    MarginAsset,
    MarginLoanAccount,
    MarginVenueRule,
    with_levels,
)

_VENUES = {"binance": "binance", "bybit": "bybit", "okx": "okx", "okxus": "okx", "myokx": "okx"}


@dataclass(frozen=True, slots=True)
class MarginAccountReading:
    """A margin account read from a balance answer, with the venue's own figures beside it.

    ``venue_level`` is the ratio the venue reported, in its units (None when absent or when the
    venue's figure means "no loan", such as Binance's 999); ``venue_level_field`` names it.
    ``sources`` says, per asset, which fields its amounts came from; ``notes`` what was assumed.
    """

    account: MarginLoanAccount
    rule: MarginVenueRule
    venue_level: float | None
    venue_level_field: str | None
    sources: Mapping[str, str]
    notes: tuple[str, ...]


def _num(value: Any, field: str, *, default: float | None = None) -> float:
    if value is None or value == "":
        if default is not None:
            return default
        raise InputError(f"{field}: missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field}: not a number: {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{field}: not a finite number: {value!r}")
    return number


def _opt(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class _Row:
    asset: str
    held: float
    borrowed: float
    interest: float
    source: str
    haircut: float | None = None


class _Builder:
    def __init__(
        self,
        quote: str,
        prices: Mapping[str, float],
        maintenance_rates: Mapping[str, float] | None,
        haircuts: Mapping[str, float] | None,
    ) -> None:
        self.quote = quote
        self.prices = prices
        self.rates = dict(maintenance_rates or {})
        self.haircuts = dict(haircuts or {})
        self.notes: list[str] = []

    def price(self, asset: str) -> float:
        if asset == self.quote:
            return 1.0
        price = self.prices.get(asset)
        if price is None:
            raise InputError(f"prices[{asset}]: no price for an asset the account holds or owes")
        if not math.isfinite(price) or price <= 0:
            raise InputError(f"prices[{asset}]: must be positive, got {price!r}")
        return float(price)

    def account(self, rows: Sequence[_Row], fee: float, label: str) -> MarginLoanAccount:
        kept = [r for r in rows if r.held > 0 or r.borrowed > 0 or r.interest > 0]
        assets = []
        for r in kept:
            haircut = self.haircuts.get(r.asset, r.haircut if r.haircut is not None else 1.0)
            assets.append(
                MarginAsset(
                    r.asset,
                    r.held,
                    r.borrowed,
                    r.interest,
                    self.price(r.asset),
                    haircut,
                    self.rates.get(r.asset, 0.0),
                )
            )
        return MarginLoanAccount(self.quote, tuple(assets), fee, label)


def _venue(name: str) -> str:
    try:
        return _VENUES[name.lower()]
    except KeyError:
        raise InputError(
            f"venue: spot margin is read for binance, bybit and okx, not {name!r}"
        ) from None


def _info(balance: Mapping[str, Any]) -> Any:
    if not isinstance(balance, Mapping):
        raise InputError("balance: not a ccxt balance (a mapping)")
    return balance.get("info")


def _unified_rows(balance: Mapping[str, Any]) -> list[_Row]:
    rows = []
    for code, entry in balance.items():
        if code in {"info", "free", "used", "total", "debt", "timestamp", "datetime"}:
            continue
        if not isinstance(entry, Mapping):
            continue
        total = entry.get("total")
        if total is None:
            total = _num(entry.get("free"), f"{code}.free", default=0.0) + _num(
                entry.get("used"), f"{code}.used", default=0.0
            )
        held = _num(total, f"{code}.total")
        debt = _num(entry.get("debt"), f"{code}.debt", default=0.0)
        rows.append(_Row(code, max(held, 0.0), debt, 0.0, "total, debt (unified)"))
    return rows


def _binance_cross(info: Mapping[str, Any], b: _Builder) -> tuple[list[_Row], float | None]:
    rows = []
    for i, raw in enumerate(info["userAssets"]):
        where = f"info.userAssets[{i}]"
        asset = raw.get("asset") if isinstance(raw, Mapping) else None
        if not asset:
            raise InputError(f"{where}.asset: missing")
        held = _num(raw.get("free"), f"{where}.free") + _num(
            raw.get("locked"), f"{where}.locked", default=0.0
        )
        borrowed = _num(raw.get("borrowed"), f"{where}.borrowed", default=0.0)
        interest = _num(raw.get("interest"), f"{where}.interest", default=0.0)
        rows.append(
            _Row(asset, held, borrowed, interest, f"{where}: free+locked, borrowed, interest")
        )
    coeff = info.get("marginTradeCoeffVo")
    if isinstance(coeff, Mapping) and _opt(coeff.get("forceLiquidationBar")):
        b.notes.append("levels from info.marginTradeCoeffVo (the account's own bars)")
    return rows, _opt(info.get("marginLevel"))


def _binance_isolated(
    info: Mapping[str, Any], symbol: str | None
) -> tuple[list[_Row], float | None, str, str]:
    pairs = [p for p in info["assets"] if isinstance(p, Mapping)]
    if symbol is not None:
        wanted = symbol.replace("/", "").upper()
        pairs = [p for p in pairs if str(p.get("symbol", "")).upper() == wanted]
        if not pairs:
            raise InputError(f"symbol: no isolated pair {symbol!r} in info.assets")
    if len(pairs) != 1:
        names = [p.get("symbol") for p in pairs]
        raise InputError(f"symbol: give the isolated pair to read, one of {names}")
    pair = pairs[0]
    name = str(pair.get("symbol"))
    rows = []
    quote = ""
    for side in ("baseAsset", "quoteAsset"):
        where = f"info.assets[{name}].{side}"
        raw = pair.get(side)
        if not isinstance(raw, Mapping) or not raw.get("asset"):
            raise InputError(f"{where}.asset: missing")
        held = _num(raw.get("free"), f"{where}.free") + _num(
            raw.get("locked"), f"{where}.locked", default=0.0
        )
        rows.append(
            _Row(
                str(raw["asset"]),
                held,
                _num(raw.get("borrowed"), f"{where}.borrowed", default=0.0),
                _num(raw.get("interest"), f"{where}.interest", default=0.0),
                f"{where}: free+locked, borrowed, interest",
            )
        )
        quote = str(raw["asset"])
    return rows, _opt(pair.get("marginLevel")), name, quote


def _bybit(info: Mapping[str, Any]) -> tuple[list[_Row], Mapping[str, Any]]:
    result = info.get("result")
    lists = result.get("list") if isinstance(result, Mapping) else None
    if not isinstance(lists, list) or not lists or not isinstance(lists[0], Mapping):
        raise InputError("info.result.list: not a Bybit wallet-balance answer")
    account = lists[0]
    if account.get("accountType") != "UNIFIED":
        raise UnsupportedError(
            f"info.result.list[0].accountType: {account.get('accountType')!r}; "
            "spot margin is read for unified accounts only"
        )
    rows = []
    for i, raw in enumerate(account.get("coin") or []):
        where = f"info.result.list[0].coin[{i}]"
        asset = raw.get("coin") if isinstance(raw, Mapping) else None
        if not asset:
            raise InputError(f"{where}.coin: missing")
        net = _num(raw.get("equity"), f"{where}.equity")
        borrowed = _num(raw.get("borrowAmount"), f"{where}.borrowAmount", default=0.0)
        interest = _num(raw.get("accruedInterest"), f"{where}.accruedInterest", default=0.0)
        held = max(0.0, net + borrowed + interest)
        rows.append(
            _Row(asset, held, borrowed, interest, f"{where}: equity, borrowAmount, accruedInterest")
        )
    return rows, account


def _okx(info: Mapping[str, Any], b: _Builder) -> tuple[list[_Row], Mapping[str, Any]]:
    data = info.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], Mapping):
        raise InputError("info.data: not an OKX account balance answer")
    account = data[0]
    details = account.get("details")
    if not isinstance(details, list):
        raise InputError("info.data[0].details: missing (a funding-account answer?)")
    rows = []
    for i, raw in enumerate(details):
        where = f"info.data[0].details[{i}]"
        asset = raw.get("ccy") if isinstance(raw, Mapping) else None
        if not asset:
            raise InputError(f"{where}.ccy: missing")
        net = _num(raw.get("eq"), f"{where}.eq")
        owed = _num(raw.get("liab"), f"{where}.liab", default=0.0)
        interest = min(owed, _num(raw.get("interest"), f"{where}.interest", default=0.0))
        eq_usd, dis_eq = _opt(raw.get("eqUsd")), _opt(raw.get("disEq"))
        haircut = None
        if (
            net > 0
            and eq_usd
            and eq_usd > 0
            and dis_eq is not None
            and raw.get("collateralEnabled")
        ):
            haircut = min(1.0, max(0.0, dis_eq / eq_usd))
        elif net > 0 and raw.get("collateralEnabled") is False:
            haircut = 0.0
        rows.append(
            _Row(
                asset,
                max(0.0, net + owed),
                owed - interest,
                interest,
                f"{where}: eq, liab (incl. interest), disEq/eqUsd",
                haircut,
            )
        )
    b.notes.append("haircuts from details[].disEq / eqUsd (0 where collateralEnabled is false)")
    return rows, account


def _derive_rates(
    b: _Builder, rows: Sequence[_Row], venue_mm: float | None, field: str, others_hold_margin: bool
) -> None:
    owing = [r for r in rows if (r.borrowed + r.interest) > 0 and r.asset not in b.rates]
    if not owing:
        return
    names = ", ".join(r.asset for r in owing)
    if venue_mm is None or others_hold_margin:
        raise InputError(
            f"maintenance_rates[{owing[0].asset}]: needed for {names}; the venue's {field} "
            "cannot stand in (missing, or shared with derivatives positions)"
        )
    owed_value = math.fsum((r.borrowed + r.interest) * b.price(r.asset) for r in rows)
    rate = venue_mm / owed_value
    for r in owing:
        b.rates[r.asset] = rate
    b.notes.append(
        f"maintenance rate {rate:.6f} for {names} derived from the venue's {field} "
        "(one effective rate; give maintenance_rates for the venue's tiers)"
    )


def read_margin_account(
    venue: str,
    balance: Mapping[str, Any],
    prices: Mapping[str, float],
    *,
    quote: str = "USDT",
    symbol: str | None = None,
    maintenance_rates: Mapping[str, float] | None = None,
    haircuts: Mapping[str, float] | None = None,
    closing_fee_rate: float = 0.0,
    liquidation_level: float | None = None,
    margin_call_level: float | None = None,
) -> MarginAccountReading:
    """The spot margin account in a ccxt balance answer, valued at ``prices``.

    ``symbol`` picks a Binance isolated pair (its quote becomes the account's quote).
    ``liquidation_level`` / ``margin_call_level`` replace the rule's (a Binance isolated tier's
    ``liquidationRiskRatio``, a cross account's bars). Unreadable input raises InputError naming
    the field; a portfolio-margin or non-unified answer raises UnsupportedError.
    """
    name = _venue(venue)
    info = _info(balance)
    b = _Builder(quote, prices, maintenance_rates, haircuts)
    label = "cross"
    venue_level: float | None = None
    level_field: str | None = None
    if name == "binance":
        if isinstance(info, list):
            raise UnsupportedError("balance.info: a portfolio-margin (papi) answer is not covered")
        if (
            isinstance(info, Mapping)
            and isinstance(info.get("assets"), list)
            and any(isinstance(p, Mapping) and "baseAsset" in p for p in info["assets"])
        ):
            rows, venue_level, label, b.quote = _binance_isolated(info, symbol)
            rule = BINANCE_ISOLATED
            level_field = f"info.assets[{label}].marginLevel"
        elif isinstance(info, Mapping) and isinstance(info.get("userAssets"), list):
            rows, venue_level = _binance_cross(info, b)
            rule = BINANCE_CROSS
            level_field = "info.marginLevel"
            coeff = info.get("marginTradeCoeffVo")
            if isinstance(coeff, Mapping) and liquidation_level is None:
                liquidation_level = _opt(coeff.get("forceLiquidationBar"))
                margin_call_level = margin_call_level or _opt(coeff.get("marginCallBar"))
        else:
            rows = _unified_rows(balance)
            rule = BINANCE_CROSS
            b.notes.append("no raw margin rows: held = unified total, owed = debt (not split)")
    elif name == "bybit":
        if isinstance(info, Mapping) and "result" in info:
            rows, raw = _bybit(info)
            rule = BYBIT_UTA
            venue_level, level_field = (
                _opt(raw.get("accountMMRate")),
                "info.result.list[0].accountMMRate",
            )
            positions_mm = any(
                (_opt(c.get("totalPositionMM")) or 0.0) > 0
                or (_opt(c.get("totalOrderIM")) or 0.0) > 0
                for c in raw.get("coin") or []
                if isinstance(c, Mapping)
            )
            if positions_mm:
                b.notes.append(
                    "derivatives positions or orders hold margin too: Bybit's accountMMRate "
                    "includes them, ours covers the loans only"
                )
            _derive_rates(
                b,
                rows,
                _opt(raw.get("totalMaintenanceMargin")),
                "totalMaintenanceMargin",
                positions_mm,
            )
            b.notes.append("Bybit values in USD; prices here are in " + quote)
        else:
            rows = _unified_rows(balance)
            rule = BYBIT_UTA
            b.notes.append("no raw coin rows: held = unified total (walletBalance), owed = debt")
    else:
        if not isinstance(info, Mapping):
            raise InputError("balance.info: missing; OKX margin needs the raw answer")
        rows, raw = _okx(info, b)
        rule = OKX_MARGIN
        venue_level, level_field = _opt(raw.get("mgnRatio")), "info.data[0].mgnRatio"
        others = any(
            (_opt(raw.get(k)) or 0.0) > 0
            for k in ("notionalUsdForSwap", "notionalUsdForFutures", "notionalUsdForOption")
        )
        _derive_rates(b, rows, _opt(raw.get("mmr")), "mmr", others)
    if liquidation_level is not None:
        rule = with_levels(rule, liquidation=liquidation_level, margin_call=margin_call_level)
    elif rule.liquidation_level is None:
        b.notes.append(
            f"{rule.name}: no liquidation level given (pass the pair tier's liquidationRiskRatio)"
        )
    account = b.account(rows, closing_fee_rate, label)
    if not any(a.owed > 0 for a in account.assets) and venue_level is not None:
        b.notes.append(
            f"nothing is owed: the venue's {level_field} ({venue_level}) is not compared"
        )
        venue_level = None
    sources = {r.asset: r.source for r in rows if account.get(r.asset) is not None}
    return MarginAccountReading(account, rule, venue_level, level_field, sources, tuple(b.notes))
