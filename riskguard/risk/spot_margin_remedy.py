"""How much to trade to bring a spot margin account back to a target margin level.

Two remedies, both of which only ever repay (never borrow more):

- ``sell_to_repay``: sell some of a held asset at its price (less ``cost_rate``: fee and
  slippage) and repay the quote loan with the proceeds, interest first. The amount sold is at most
  what is held of the asset, and its proceeds at most what is owed in the quote.
- ``buy_to_repay``: buy back a borrowed asset with held quote (at its price plus ``cost_rate``)
  and repay that asset's loan. The amount bought is at most what is owed of the asset, and its
  cost at most the quote held.

After a trade of ``q`` units every holding is piecewise linear in ``q`` (the pieces end where an
interest is paid off or a net changes sign, which moves a haircut in or out), so the ratio's
``numerator - target x denominator`` is too: the smallest ``q`` that reaches the target is found
exactly, segment by segment, and the figures after the trade are recomputed from the account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from riskguard.errors import InputError
from riskguard.risk.spot_margin import (
    MarginAsset,
    MarginLoanAccount,
    MarginVenueRule,
    assess,
    ratio_terms,
)


@dataclass(frozen=True, slots=True)
class RemedySize:
    """A sized remedy: the trade, and the venue's ratio before and after it.

    ``amount`` is in units of ``asset`` (sold, or bought back); ``quote_amount`` is what it repays
    (sell) or costs (buy) in the quote. ``reached`` False: even the largest allowed trade
    (``limited_by`` says what bounded it) stays short of the target; the trade is then that
    largest one. ``amount`` 0 with ``reached`` True: the account already meets the target.
    """

    action: str
    asset: str
    amount: float
    quote_amount: float
    target_level: float
    level_before: float
    level_after: float
    reached: bool
    limited_by: str


def _pay(row: MarginAsset, amount: float) -> MarginAsset:
    """Repay ``amount`` of the row's own loan, interest first."""
    on_interest = min(row.interest, amount)
    on_principal = min(row.borrowed, amount - on_interest)
    return replace(row, interest=row.interest - on_interest, borrowed=row.borrowed - on_principal)


def _with(account: MarginLoanAccount, *rows: MarginAsset) -> MarginLoanAccount:
    by_name = {r.asset: r for r in rows}
    kept = tuple(by_name.pop(a.asset, a) for a in account.assets)
    return replace(account, assets=kept + tuple(by_name.values()))


def _quote_row(account: MarginLoanAccount) -> MarginAsset:
    return account.get(account.quote) or MarginAsset(account.quote, 0.0)


def _row(account: MarginLoanAccount, asset: str) -> MarginAsset:
    row = account.get(asset)
    if row is None:
        raise InputError(f"asset: {asset!r} is not in the account")
    if asset == account.quote:
        raise InputError(f"asset: {asset!r} is the quote asset; name the asset to trade")
    return row


def _check_inputs(rule: MarginVenueRule, target_level: float, cost_rate: float) -> float:
    if not math.isfinite(target_level) or target_level <= 0:
        raise InputError(f"target_level: must be positive, got {target_level!r}")
    if not 0.0 <= cost_rate < 1.0:
        raise InputError(f"cost_rate: must be within [0, 1), got {cost_rate!r}")
    return rule.to_health(target_level)


def after_sell_to_repay(
    account: MarginLoanAccount, asset: str, amount: float, cost: float
) -> MarginLoanAccount:
    """The account after selling ``amount`` of ``asset``, the proceeds less ``cost`` (a rate)
    repaying the quote loan, interest first."""
    row = _row(account, asset)
    proceeds = amount * row.price * (1.0 - cost)
    return _with(
        account, replace(row, held=max(0.0, row.held - amount)), _pay(_quote_row(account), proceeds)
    )


def after_buy_to_repay(
    account: MarginLoanAccount, asset: str, amount: float, cost: float
) -> MarginLoanAccount:
    """The account after buying back ``amount`` of a borrowed ``asset`` with held quote (plus
    ``cost``, a rate), repaying that asset's loan, interest first."""
    row = _row(account, asset)
    quote = _quote_row(account)
    spent = amount * row.price * (1.0 + cost)
    return _with(account, _pay(row, amount), replace(quote, held=max(0.0, quote.held - spent)))


def _breakpoints(row: MarginAsset, quote: MarginAsset, per_unit: float, sell: bool) -> list[float]:
    """Amounts at which a net crosses zero (a haircut starts or stops applying to it)."""
    if sell:
        points = [row.net, (quote.owed - quote.held) / per_unit]
    else:
        points = [-row.net, quote.net / per_unit]
    return [p for p in points if p > 0]


def _size(
    account: MarginLoanAccount,
    rule: MarginVenueRule,
    asset: str,
    target_level: float,
    cost_rate: float,
    *,
    sell: bool,
) -> RemedySize:
    target = _check_inputs(rule, target_level, cost_rate)
    row = _row(account, asset)
    quote = _quote_row(account)
    after = after_sell_to_repay if sell else after_buy_to_repay
    if sell:
        per_unit = row.price * (1.0 - cost_rate)
        caps = {"held": row.held, "quote owed": quote.owed / per_unit if per_unit > 0 else 0.0}
    else:
        per_unit = row.price * (1.0 + cost_rate)
        caps = {"owed": row.owed, "quote held": quote.held / per_unit}
    limited_by = min(caps, key=lambda k: caps[k])
    cap = max(0.0, caps[limited_by])

    def gap(amount: float) -> float:
        numerator, denominator = ratio_terms(after(account, asset, amount, cost_rate), rule)
        return numerator - target * denominator

    before = assess(account, rule).level
    action = "sell to repay" if sell else "buy to repay"

    def sized(amount: float, reached: bool, bound: str) -> RemedySize:
        final = assess(after(account, asset, amount, cost_rate), rule).level
        return RemedySize(
            action, asset, amount, amount * per_unit, target_level, before, final, reached, bound
        )

    if gap(0.0) >= 0:
        return sized(0.0, True, "")
    points = sorted({0.0, cap, *(p for p in _breakpoints(row, quote, per_unit, sell) if p < cap)})
    low, low_gap = 0.0, gap(0.0)
    for high in points[1:]:
        high_gap = gap(high)
        if high_gap >= 0:
            amount = low + (high - low) * (-low_gap) / (high_gap - low_gap)
            return sized(min(max(amount, low), high), True, "")
        low, low_gap = high, high_gap
    return sized(cap, False, limited_by)


def sell_to_repay(
    account: MarginLoanAccount,
    rule: MarginVenueRule,
    asset: str,
    target_level: float,
    cost_rate: float = 0.0,
) -> RemedySize:
    """How much of ``asset`` to sell, proceeds repaying the quote loan, to reach the target.

    ``target_level`` is in the venue's units (Binance margin level, OKX margin ratio, Bybit MM
    rate: for Bybit a lower rate is the safer target).
    """
    return _size(account, rule, asset, target_level, cost_rate, sell=True)


def buy_to_repay(
    account: MarginLoanAccount,
    rule: MarginVenueRule,
    asset: str,
    target_level: float,
    cost_rate: float = 0.0,
) -> RemedySize:
    """How much borrowed ``asset`` to buy back with held quote and repay, to reach the target."""
    return _size(account, rule, asset, target_level, cost_rate, sell=False)
