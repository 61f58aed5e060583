"""Normalise what a ccxt-shaped client returns into an :class:`AccountSnapshot`.

Works for the paper venue and for ccxt exchanges (CCXT_NOTES.md): sizes are
``contracts x contractSize``; fields ccxt left empty are filled from the venue's raw row
(:mod:`~riskguard.exchange.raw_rows`), and rows flat in both are dropped; a margin mode found
nowhere falls back to the account's configured default, and the snapshot says so; the cross
wallet comes from the venue's ``crossWalletBalance`` when it reports one, a unified account's
from its USD collateral value (:mod:`~riskguard.exchange.account_kind`), else from the total less
unrealised PnL and isolated collateral. Tiers come from ``fetch_leverage_tiers`` (Binance's
maintenance amount is in ``info['cum']``; missing amounts are derived so the margin is
continuous).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from riskguard.domain import AccountSnapshot, MarginMode, OpenStop, Position, Side, Tier, TierUnit
from riskguard.errors import InputError
from riskguard.exchange.account_kind import AccountKind, account_kind, portfolio_margin
from riskguard.exchange.raw_rows import fill_row
from riskguard.risk.margin import with_cumulative_amounts


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def tiers_from_ccxt(rows: Sequence[Mapping[str, Any]]) -> tuple[Tier, ...]:
    """ccxt leverage tiers (ascending) to domain tiers.

    Rows marked ``unit: size`` (the live adapter converts OKX's contract-bounded tiers to base
    units) become size tiers, which charge ``size x mark x rate`` with no amount, as OKX does.
    """
    tiers = []
    has_amounts = False
    unit = TierUnit.SIZE if rows and rows[0].get("unit") == "size" else TierUnit.NOTIONAL
    for row in sorted(rows, key=lambda r: _num(r.get("minNotional")) or 0.0):
        info = row.get("info") or {}
        low = _num(row.get("minNotional")) or 0.0
        high = _num(row.get("maxNotional"))
        cum = _num(info.get("cum")) if isinstance(info, (dict, Mapping)) else None
        has_amounts = has_amounts or cum is not None
        rate = _num(row.get("maintenanceMarginRate"))
        if rate is None:
            raise InputError(f"tier {row.get('tier')}: no maintenanceMarginRate")
        tiers.append(
            Tier(
                low,
                math.inf if high is None or high <= low else high,
                rate,
                cum or 0.0,
                _num(row.get("maxLeverage")),
                unit,
            )
        )
    result = tuple(tiers)
    if has_amounts or unit is TierUnit.SIZE:
        return result
    return with_cumulative_amounts(result)


def position_from_ccxt(
    row: Mapping[str, Any],
    market: Mapping[str, Any],
    tiers: tuple[Tier, ...],
    default_mode: MarginMode,
) -> Position | None:
    """One ccxt position row as a domain Position, or None for an empty row."""
    return _filled_position(fill_row(row)[0], market, tiers, default_mode)


def _filled_position(
    row: Mapping[str, Any],
    market: Mapping[str, Any],
    tiers: tuple[Tier, ...],
    default_mode: MarginMode,
) -> Position | None:
    """:func:`position_from_ccxt` of a row :func:`~riskguard.exchange.raw_rows.fill_row` has
    filled already."""
    contracts = _num(row.get("contracts"))
    side = row.get("side")
    if not contracts or contracts <= 0 or side not in ("long", "short"):
        return None
    contract_size = _num(row.get("contractSize")) or _num(market.get("contractSize")) or 1.0
    mode_raw = row.get("marginMode")
    mode = MarginMode(mode_raw) if mode_raw in ("isolated", "cross") else default_mode
    entry = _num(row.get("entryPrice")) or raw_entry_price(row.get("info"))
    mark = _num(row.get("markPrice"))
    symbol = str(row.get("symbol"))
    if not entry or not mark:
        missing = " and ".join(
            name for name, value in (("entry", entry), ("mark", mark)) if not value
        )
        raise InputError(
            f"{symbol} {side} {contracts:g} contracts: unreadable, no {missing} price in the row "
            "or the venue's raw fields; nothing is done on this account until it reads"
        )
    collateral = None
    if mode is MarginMode.ISOLATED:
        collateral = _own_margin(row.get("info"))
        if collateral is None:
            raw_collateral = _num(row.get("collateral"))
            upnl = _num(row.get("unrealizedPnl")) or 0.0
            if raw_collateral is not None:
                collateral = max(0.0, raw_collateral - upnl)
    return Position(
        symbol=symbol,
        side=Side(side),
        size=contracts * contract_size,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        leverage=_num(row.get("leverage")),
        collateral=collateral,
        contract_size=contract_size,
        tiers=tiers,
        taker_fee=_num(market.get("taker")) or 0.0,
        max_leverage=_num((market.get("limits") or {}).get("leverage", {}).get("max")),
        inverse=bool(market.get("inverse")),
    )


_ENTRY_FIELDS: Final = (
    ("entryPrice",),  # Binance positionRisk
    ("avgPrice",),  # Bybit v5 position/list
    ("avgPx",),  # OKX positions
    ("position", "entryPx"),  # Hyperliquid clearinghouseState assetPositions[].position
    ("openPriceAvg",),  # Bitget classic (v2) all-position; its UTA (v3) rows use avgPrice
)
"""Where venues keep a position's entry price in their raw rows, for rows ccxt left without one."""


def raw_entry_price(info: Any) -> float | None:
    """A position's entry price from the venue's raw row (``info``), where ccxt gave none."""
    if not isinstance(info, (dict, Mapping)):
        return None
    for path in _ENTRY_FIELDS:
        value: Any = info
        for key in path:
            value = value.get(key) if isinstance(value, (dict, Mapping)) else None
        number = _num(value)
        if number is not None and number > 0:
            return number
    return None


def row_sources(
    row: Mapping[str, Any], default_mode: MarginMode = MarginMode.CROSS
) -> tuple[tuple[str, str], ...]:
    """Where an open row's entry, mark, margin mode and isolated margin came from, where not from
    ccxt's own fields (the fields :func:`~riskguard.exchange.raw_rows.fill_row` fills say
    their own)."""
    symbol = row.get("symbol")
    said: list[tuple[str, str]] = []
    if not _num(row.get("entryPrice")) and raw_entry_price(row.get("info")):
        said.append((f"{symbol} entry price", "venue raw row"))
    if row.get("markSource"):
        said.append((f"{symbol} mark price", str(row.get("markSource"))))
    mode = row.get("marginMode")
    if mode not in ("isolated", "cross"):
        said.append((f"{symbol} margin mode", f"config default ({default_mode.value})"))
        mode = default_mode.value
    if mode == "isolated":
        if _own_margin(row.get("info")) is not None:
            said.append((f"{symbol} isolated margin", "venue raw row"))
        elif _num(row.get("collateral")) is not None:
            said.append((f"{symbol} isolated margin", "ccxt collateral less unrealizedPnl"))
        else:
            said.append((f"{symbol} isolated margin", "notional at entry / leverage (estimate)"))
    return tuple(said)


_OWN_MARGIN_FIELDS: Final = (
    ("isolatedWallet", None),  # Binance positionRisk: the wallet alone (isolatedMargin adds uPnL)
    ("positionBalance", None),  # Bybit v5 position/list
    ("margin", ("mgnMode", "isolated")),  # OKX positions, isolated rows only
    ("posMargin", ("crossMode", False)),  # KuCoin Futures classic positions (ccxt adds uPnL)
    ("positionMarginRv", ("crossMargin", False)),  # Phemex USDT-M positions, isolated rows only
    ("marginSize", ("marginMode", "isolated")),  # Bitget classic (v2); UTA has positionBalance
)


def _own_margin(info: Any) -> float | None:
    """An isolated position's own margin, without unrealised PnL, from the venue's raw row.

    ccxt's unified ``collateral`` adds uPnL in some versions and not in others (OKX margin + upl
    and Bybit positionBalance + uPnL in 4.5.90; margin alone in older parses), so the raw field is
    read first and ccxt's ``collateral - unrealizedPnl`` is only the fallback.
    """
    if not isinstance(info, (dict, Mapping)):
        return None
    for field, condition in _OWN_MARGIN_FIELDS:
        if condition is not None and info.get(condition[0]) != condition[1]:
            continue
        value = _num(info.get(field))
        if value is not None and value > 0:
            return value
    return None


_SETTLE_PREFERENCE = ("USDT", "USDC", "USD")
"""Which settle currency a flat, unfunded account on a multi-settle venue is read in."""


def settle_currency(
    balance: Mapping[str, Any],
    symbols: Iterable[str],
    markets: Mapping[str, Mapping[str, Any]],
    configured: str | None = None,
) -> str:
    """The currency an account's wallet is read in, never guessed from an empty position list.

    In order: the account's configured ``settle``; the settle currency of its open positions
    (``symbols``; of the first, where they settle in several: :func:`settle_notes` says so); the
    settle currency of the venue's contract markets, and where there are several (Binance's
    USDT-M and USDC-M), the one the balance holds most of, then USDT, USDC, USD, then the first
    by name. A venue whose markets say nothing falls back to USDT.
    """
    if configured:
        return configured
    held = [s.partition(":")[2] for s in symbols if s.partition(":")[2]]
    if held:
        return held[0]
    settles = sorted(
        {
            str(m.get("settle"))
            for m in markets.values()
            if (m.get("swap") or m.get("future") or m.get("contract")) and m.get("settle")
        }
    )
    if len(settles) == 1:
        return settles[0]
    totals = balance.get("total") or {}
    funded = [(_num(totals.get(c)) or 0.0, c) for c in settles]
    best = max(funded, default=(0.0, ""))
    if best[0] > 0:
        return best[1]
    for currency in _SETTLE_PREFERENCE:
        if currency in settles or not settles:
            return currency
    return settles[0]


def settle_notes(currency: str, symbols: Iterable[str]) -> tuple[str, ...]:
    """What a snapshot must say about its settle currency: positions that settle in another one,
    on an account whose answer does not show it as unified (multi-asset), are read as if they
    settled in ``currency``."""
    others = sorted({s.partition(":")[2] for s in symbols} - {currency, ""})
    if not others:
        return ()
    return (
        f"positions settle in {currency} and {', '.join(others)}: the wallet is read in "
        f"{currency} and the others' figures are taken as {currency} (the venue's answer does "
        "not show a unified, multi-asset account, which would be read in USD)",
    )


@dataclass(frozen=True, slots=True)
class AccountReading:
    """A snapshot and the account kind it was read as (which the free balance needs too)."""

    snapshot: AccountSnapshot
    kind: AccountKind


def snapshot_from_ccxt(
    *,
    account: str,
    venue: str,
    balance: Mapping[str, Any],
    positions: Iterable[Mapping[str, Any]],
    markets: Mapping[str, Mapping[str, Any]],
    tiers: Mapping[str, tuple[Tier, ...]],
    taken_at: datetime,
    default_mode: MarginMode = MarginMode.CROSS,
    total_includes_upnl: bool = True,
    settle: str | None = None,
) -> AccountSnapshot:
    """The account as the risk core sees it: :func:`read_account`'s snapshot."""
    return read_account(
        account=account,
        venue=venue,
        balance=balance,
        positions=positions,
        markets=markets,
        tiers=tiers,
        taken_at=taken_at,
        default_mode=default_mode,
        total_includes_upnl=total_includes_upnl,
        settle=settle,
    ).snapshot


def read_account(
    *,
    account: str,
    venue: str,
    balance: Mapping[str, Any],
    positions: Iterable[Mapping[str, Any]],
    markets: Mapping[str, Mapping[str, Any]],
    tiers: Mapping[str, tuple[Tier, ...]],
    taken_at: datetime,
    default_mode: MarginMode = MarginMode.CROSS,
    total_includes_upnl: bool = True,
    settle: str | None = None,
) -> AccountReading:
    """The account as the risk core sees it (``total_includes_upnl``: see :func:`cross_wallet`;
    ``settle``: the account's configured settle currency, see :func:`settle_currency`).

    A unified account (:mod:`~riskguard.exchange.account_kind`) is read in USD from the venue's
    own collateral value. ``sources`` says where every figure that did not come from ccxt's own
    unified fields came from (:func:`row_sources`, :func:`~riskguard.exchange.raw_rows.fill_row`);
    ``notes`` what the reader should know about the reading."""
    refused = portfolio_margin(balance)
    if refused is not None:
        raise InputError(
            f"{refused}: portfolio margin accounts are not covered (the venue nets margin "
            "across the whole book by its own model), so this account is not guarded"
        )
    domain = []
    sources: list[tuple[str, str]] = []
    every = [fill_row(r) for r in positions]
    for row, filled in every:
        symbol = str(row.get("symbol"))
        market = markets.get(symbol)
        if market is None:
            raise InputError(f"{symbol}: position in a market that was not loaded")
        is_option = market.get("option") or market.get("type") == "option"
        if is_option and (_num(row.get("contracts")) or 0.0) > 0:
            raise InputError(
                f"{symbol}: an options position; options are not covered, so this account is "
                "not guarded (its risk would be a guess)"
            )
        symbol_tiers = tiers.get(symbol, ())
        if not symbol_tiers:
            rate = _num(market.get("maintenanceMarginPercentage"))
            if rate is None:
                raise InputError(f"{symbol}: no leverage tiers and no maintenance margin rate")
            symbol_tiers = (Tier(0.0, math.inf, rate),)
        position = _filled_position(row, market, symbol_tiers, default_mode)
        if position is not None:
            domain.append(position)
            sources.extend((f"{f.symbol} {f.field}", f.source) for f in filled)
            sources.extend(row_sources(row, default_mode))
    currency = settle_currency(balance, (p.symbol for p in domain), markets, settle)
    kind = account_kind(balance, currency)
    if kind.unified and settle is None:
        wallet = (
            unified_wallet(kind, domain)
            if kind.equity is not None
            else cross_wallet(balance, domain, settle=currency)
        )
        currency = "USD"
        notes: tuple[str, ...] = ()
    else:
        wallet = cross_wallet(
            balance, domain, settle=currency, total_includes_upnl=total_includes_upnl
        )
        notes = settle_notes(currency, (p.symbol for p in domain))
    volatile = kind.volatile_collateral_note()
    if volatile is not None:
        notes += (volatile,)
    sources.insert(0, ("wallet", kind.source or f"ccxt total {currency}"))
    snapshot = AccountSnapshot(
        venue=venue,
        wallet_balance=wallet,
        positions=tuple(domain),
        taken_at=taken_at,
        account=account,
        notes=notes,
        settle=currency,
        account_type=kind.label,
        sources=tuple(sources),
    )
    return AccountReading(snapshot, kind)


def unified_wallet(kind: AccountKind, positions: Sequence[Position]) -> float:
    """A unified account's cross wallet in USD: the venue's collateral value less its reported
    uPnL, less the collateral isolated positions hold (the venue counts it in its total)."""
    equity = kind.equity or 0.0
    isolated = sum((p.collateral or 0.0) for p in positions if p.margin_mode is MarginMode.ISOLATED)
    return equity - (kind.upnl or 0.0) - isolated


TOTAL_EXCLUDES_UPNL = frozenset({"bybit", "phemex", "bingx"})
"""ccxt ids whose ``fetch_balance`` total is the wallet without unrealised PnL (Bybit unified:
walletBalance; Phemex USDT-M: accountBalanceRv; BingX swap: availableMargin + usedMargin, its
balance); elsewhere it includes it (Binance marginBalance, OKX eq, Bitget equity).
CCXT_NOTES.md."""


def settlement_pnl(position: Position) -> float:
    """Unrealised PnL in the settlement currency: quote for linear, coin for inverse contracts
    (whose ``size`` is the quote value, so PnL = size x (1/entry - 1/mark))."""
    if position.inverse:
        return (
            position.side.sign
            * position.size
            * (1.0 / position.entry_price - 1.0 / position.mark_price)
        )
    return position.unrealized_pnl


def cross_wallet(
    balance: Mapping[str, Any],
    positions: Sequence[Position],
    *,
    settle: str | None = None,
    total_includes_upnl: bool = True,
) -> float:
    """The cross wallet balance (without unrealised PnL), in the settlement currency ``settle``
    (without it: the positions' one, which needs a position; see :func:`settle_currency`).

    The venue's own figure when it reports one: ``crossWalletBalance`` (the paper venue) or
    Binance's ``totalCrossWalletBalance`` (which in multi-asset mode counts every collateral
    asset, not only the settlement one). Otherwise the settlement currency's total less the
    isolated collateral, and less unrealised PnL where the total includes it.
    """
    info = balance.get("info") or {}
    if isinstance(info, (dict, Mapping)):
        for key in ("crossWalletBalance", "totalCrossWalletBalance"):
            reported = _num(info.get(key))
            if reported is not None:
                return reported
    if settle is None:
        settle = settle_currency(balance, (p.symbol for p in positions), {})
    total = _num((balance.get("total") or {}).get(settle)) or 0.0
    for p in positions:
        pnl = settlement_pnl(p) if total_includes_upnl else 0.0
        if p.margin_mode is MarginMode.CROSS:
            total -= pnl
        else:
            total -= (p.collateral or 0.0) + pnl
    return total


def open_stops_from_ccxt(
    orders: Iterable[Mapping[str, Any]],
    markets: Mapping[str, Mapping[str, Any]],
    is_guard: Any,
) -> tuple[OpenStop, ...]:
    """Reduce-only trigger orders as the stops protecting positions.

    ``is_guard(client_order_id) -> bool`` tells the guard's own orders from the bot's.
    """
    stops = []
    for o in orders:
        price = _num(o.get("stopLossPrice")) or _num(o.get("triggerPrice"))
        amount = _num(o.get("amount"))
        if price is None or amount is None or not o.get("reduceOnly", False):
            continue
        symbol = str(o.get("symbol"))
        contract_size = _num((markets.get(symbol) or {}).get("contractSize")) or 1.0
        remaining = _num(o.get("remaining"))
        size = (remaining if remaining else amount) * contract_size
        stops.append(
            OpenStop(
                order_id=str(o.get("id")),
                client_order_id=o.get("clientOrderId"),
                symbol=symbol,
                protects=Side.LONG if o.get("side") == "sell" else Side.SHORT,
                size=size,
                stop_price=price,
                guard_owned=bool(is_guard(o.get("clientOrderId"))),
            )
        )
    return tuple(stops)
