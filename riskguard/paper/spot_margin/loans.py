"""Borrowing, repaying and interest on the paper spot margin venue (Binance Cross Margin).

- **Borrow** (:func:`borrow`): the asset arrives in ``free`` and its principal in ``borrowed``;
  one hour of interest is charged at once (Binance: "The system automatically accrues one
  hour's interest when you borrow funds"). A borrow that would leave the margin level below
  the borrow limit level (1.5 for Cross Margin 3x, that is 3x leverage) is refused with
  ``ccxt.BadRequest`` (Binance -3006, "Your borrow amount has exceed maximum borrow amount").
- **Interest** (:func:`accrue_hour`): simple interest on the principal, one hour's worth at the
  start of every UTC hour (13:00, 14:00...), added to ``interest``; never compounded.
- **Repay** (:func:`repay`): pays the interest first, then the principal. More than is owed is
  refused (-3015, "Repay amount exceeds borrow amount"), more than is free too (-3041,
  "Balance is not enough", ``ccxt.InsufficientFunds``). :func:`repay_from_free` repays what it
  can (``AUTO_REPAY`` and the liquidation use it).
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from riskguard.paper.spot_margin.account import (
    EPS,
    InterestRecord,
    LoanKind,
    LoanRecord,
    MarginAccount,
    MarginLedger,
    PriceOf,
    asset_value,
    liability_value,
)
from riskguard.paper.spot_margin.rules import MarginRules

HOUR_MS = 3_600_000


def max_borrowable(acc: MarginAccount, asset: str, price_of: PriceOf, rules: MarginRules) -> float:
    """The most of ``asset`` a borrow may add and leave the margin level at the borrow limit.

    A borrow of ``b`` (valued ``v = b * price``) adds ``v`` to the assets and to the
    liabilities; ``(A + v) / (L + v) >= S`` gives ``v <= (A - S * L) / (S - 1)``.
    """
    s = rules.borrow_limit_level
    spare = (asset_value(acc, price_of) - s * liability_value(acc, price_of)) / (s - 1.0)
    price = price_of(asset)
    return max(0.0, spare / price) if price > 0 else 0.0


def check_borrow(
    acc: MarginAccount, asset: str, amount: float, price_of: PriceOf, rules: MarginRules
) -> None:
    """Refuse a borrow of ``amount`` that exceeds :func:`max_borrowable` (Binance -3006)."""
    if not amount > 0:
        raise ccxt.BadRequest(f"paper: borrow amount must be positive, got {amount}")
    limit = max_borrowable(acc, asset, price_of, rules)
    if amount > limit * (1 + 1e-9) + EPS:
        raise ccxt.BadRequest(
            f"paper: -3006 Your borrow amount has exceed maximum borrow amount "
            f"({asset}: asked {amount:g}, at most {limit:g} keeps the margin level at "
            f"{rules.borrow_limit_level:g})"
        )


def borrow(
    acc: MarginAccount,
    ledger: MarginLedger,
    rules: MarginRules,
    asset: str,
    amount: float,
    *,
    tran_id: str,
    now_ms: int,
    kind: LoanKind = "borrow",
) -> LoanRecord:
    """Lend ``amount`` of ``asset`` to the account (checks are the caller's) and charge the
    first hour of interest."""
    bal = acc.asset(asset)
    bal.free += amount
    bal.borrowed += amount
    ledger.borrowed[asset] += amount
    rate = rules.hourly_rate(asset)
    first_hour = amount * rate
    if first_hour > 0:
        bal.interest += first_hour
        ledger.interest[asset] += first_hour
    acc.interest.append(
        InterestRecord(acc.id, asset, amount, first_hour, rate, "ON_BORROW", now_ms)
    )
    record = LoanRecord(tran_id, acc.id, asset, kind, amount, 0.0, 0.0, now_ms)
    acc.loans.append(record)
    return record


def accrue_hour(acc: MarginAccount, ledger: MarginLedger, rules: MarginRules, now_ms: int) -> None:
    """Charge one hour of interest on every principal the account owes (at an hour's start)."""
    for asset, bal in acc.assets.items():
        if bal.borrowed <= EPS:
            continue
        rate = rules.hourly_rate(asset)
        charged = bal.borrowed * rate
        if charged > 0:
            bal.interest += charged
            ledger.interest[asset] += charged
        acc.interest.append(
            InterestRecord(acc.id, asset, bal.borrowed, charged, rate, "PERIODIC", now_ms)
        )


def _pay(
    acc: MarginAccount,
    ledger: MarginLedger,
    asset: str,
    amount: float,
    *,
    tran_id: str,
    now_ms: int,
    kind: LoanKind,
) -> LoanRecord:
    bal = acc.asset(asset)
    to_interest = min(amount, bal.interest)
    to_principal = min(amount - to_interest, bal.borrowed)
    bal.free -= to_interest + to_principal
    bal.interest -= to_interest
    bal.borrowed -= to_principal
    ledger.repaid_interest[asset] += to_interest
    ledger.repaid_principal[asset] += to_principal
    for name in ("interest", "borrowed", "free"):
        if abs(getattr(bal, name)) < EPS:
            setattr(bal, name, 0.0)
    record = LoanRecord(
        tran_id, acc.id, asset, kind, to_interest + to_principal, to_interest, to_principal, now_ms
    )
    acc.loans.append(record)
    return record


def repay(
    acc: MarginAccount,
    ledger: MarginLedger,
    asset: str,
    amount: float,
    *,
    tran_id: str,
    now_ms: int,
) -> LoanRecord:
    """Repay ``amount`` of ``asset`` from the free balance: interest first, then principal."""
    if not amount > 0:
        raise ccxt.BadRequest(f"paper: repay amount must be positive, got {amount}")
    bal = acc.asset(asset)
    if amount > bal.debt * (1 + 1e-9) + EPS:
        raise ccxt.BadRequest(
            f"paper: -3015 Repay amount exceeds borrow amount ({asset}: owes {bal.debt:g})"
        )
    if amount > bal.free * (1 + 1e-9) + EPS:
        raise ccxt.InsufficientFunds(
            f"paper: -3041 Balance is not enough ({asset}: free {bal.free:g})"
        )
    return _pay(
        acc,
        ledger,
        asset,
        min(amount, bal.debt, bal.free),
        tran_id=tran_id,
        now_ms=now_ms,
        kind="repay",
    )


def repay_from_free(
    acc: MarginAccount,
    ledger: MarginLedger,
    asset: str,
    *,
    up_to: float,
    tran_id: str,
    now_ms: int,
    kind: LoanKind,
) -> LoanRecord | None:
    """Repay as much of the ``asset`` debt as the free balance and ``up_to`` allow; None when
    nothing could be repaid."""
    bal = acc.asset(asset)
    amount = min(up_to, bal.free, bal.debt)
    if amount <= EPS:
        return None
    return _pay(acc, ledger, asset, amount, tran_id=tran_id, now_ms=now_ms, kind=kind)
