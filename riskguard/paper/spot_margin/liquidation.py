"""The paper spot margin venue's liquidation engine (Binance Cross Margin Classic).

Checked after every tick and after every hourly interest charge, for every account that owes
something, at the margin prices (``docs/venue_rules.md``, "The paper spot margin venue"):

- **Margin call**: the margin level falls to the margin call level (1.3): a
  :class:`~riskguard.paper.spot_margin.account.MarginCall` is recorded once, until the level
  is back above it. Nothing else happens (Binance sends an email and a message).
- **Liquidation**: the margin level is at or below the liquidation level (1.1). All open orders
  are cancelled, then the engine sells collateral to repay the liabilities, largest debt
  first: free units of the owed asset repay it directly; a quote-asset debt is repaid by
  selling a base asset the account holds beyond its own debt; a base-asset debt by buying it
  with the free quote asset. Every trade is a taker fill within the bar's traded range (no
  price band) and pays the liquidation fee (2% of the liquidated assets, in the quote asset),
  not the trading fee. Binance's regular liquidation "will terminate early" once the margin
  level is above 1.5 (Cross Margin 3x), so each step sells just enough to lift the level to
  that stop level; when selling cannot lift it (the assets are worth too little for that)
  everything needed to repay the debt is sold.
- **What the collateral could not repay** stays on the account as debt (``bad_debt_paid_by:
  user``, the default) or is written off by the venue's margin risk fund (``risk_fund``).

Simplifications: the liquidation is instant and fills in one trade per step (Binance sells with
limit orders over time and may hand the account to its liquidation account, a "takeover
liquidation", when the market is thin); the collateral ratios (haircuts) of the collateral
margin level are not modelled, every asset counts at its full value.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from riskguard.paper import fill_pricing
from riskguard.paper.spot_margin.account import (
    EPS,
    MarginAccount,
    MarginCall,
    MarginLiquidation,
    MarginTrade,
    asset_value,
    liability_value,
    margin_level,
    reported_level,
)
from riskguard.paper.spot_margin.loans import repay_from_free
from riskguard.paper.spot_margin.orders import Orders

MAX_STEPS = 64
"""Most trades one liquidation makes (each lifts the level or repays a debt in full)."""
STOP_MARGIN = 1.001
"""Each step aims this much above the stop level, so rounding leaves it above."""


@dataclass(frozen=True, slots=True)
class _Step:
    symbol: str
    side: str
    amount: float


class Liquidation(Orders):
    """Margin calls and liquidations."""

    def _check_account(self, acc: MarginAccount) -> None:
        level = margin_level(acc, self.price_of)
        if math.isinf(level):
            acc.in_margin_call = False
            return
        if level <= self.rules.margin_call_level:
            if not acc.in_margin_call:
                self.margin_calls.append(MarginCall(acc.id, self.now_ms, level))
                acc.in_margin_call = True
        else:
            acc.in_margin_call = False
        if level <= self.rules.liquidation_level:
            self._liquidate(acc, level)

    def _liquidate(self, acc: MarginAccount, level_before: float) -> None:
        if self._plan(acc) is None and not self._repays_from_free(acc):
            return  # nothing left to sell: the debt stays (or was written off already)
        for order in acc.open_orders():
            self._release(acc, order, "canceled")
        sold: defaultdict[str, float] = defaultdict(float)
        bought: defaultdict[str, float] = defaultdict(float)
        repaid: defaultdict[str, float] = defaultdict(float)
        trades: list[str] = []
        fee_total = 0.0
        for _ in range(MAX_STEPS):
            for asset, record in self._repay_all_free(acc):
                repaid[asset] += record
            level = margin_level(acc, self.price_of)
            if math.isinf(level) or level > self.rules.liquidation_stop_level:
                break
            step = self._plan(acc)
            if step is None:
                break
            trade, fee = self._liquidation_trade(acc, step)
            trades.append(trade.id)
            fee_total += fee
            market = self.markets[step.symbol]
            if step.side == "sell":
                sold[market.base] += trade.amount
            else:
                bought[market.base] += trade.amount
        for asset, amount in self._repay_all_free(acc):
            repaid[asset] += amount
        written_off = self._bad_debt(acc)
        assets = asset_value(acc, self.price_of)
        liabilities = liability_value(acc, self.price_of)
        self.liquidations.append(
            MarginLiquidation(
                time_ms=self.now_ms,
                account=acc.id,
                margin_level_before=level_before,
                margin_level_after=reported_level(margin_level(acc, self.price_of)),
                sold=dict(sold),
                bought=dict(bought),
                repaid=dict(repaid),
                fee=fee_total,
                trades=tuple(trades),
                assets_value=assets,
                liabilities_value=liabilities,
                shortfall=max(0.0, liabilities - assets) if not written_off else 0.0,
                shortfall_paid_by=self.rules.bad_debt_paid_by,
                written_off=written_off,
            )
        )

    # ------------------------------------------------------------------ steps

    def _repays_from_free(self, acc: MarginAccount) -> bool:
        return any(b.debt > EPS and b.free > EPS for b in acc.assets.values())

    def _repay_all_free(self, acc: MarginAccount) -> list[tuple[str, float]]:
        """Repay every debt its own free balance can repay; what was repaid, by asset."""
        out = []
        for asset, bal in list(acc.assets.items()):
            if bal.debt > EPS and bal.free > EPS:
                record = repay_from_free(
                    acc, self.ledger, asset, up_to=bal.debt,
                    tran_id=self.next_id(), now_ms=self.now_ms, kind="liquidation_repay",
                )  # fmt: skip
                if record is not None:
                    out.append((asset, record.amount))
        return out

    def _plan(self, acc: MarginAccount) -> _Step | None:
        """The next trade: for the largest debt, what to sell (or buy) and how much."""
        quote = self.rules.quote
        debts = sorted(
            ((b.debt * self.price_of(a), a) for a, b in acc.assets.items() if b.debt > EPS),
            reverse=True,
        )
        for _, asset in debts:
            step = self._sell_for_quote(acc) if asset == quote else self._buy_to_repay(acc, asset)
            if step is not None:
                return step
        return None

    def _sell_for_quote(self, acc: MarginAccount) -> _Step | None:
        """Sell the base asset worth most beyond its own debt, to repay the quote debt."""
        quote = self.rules.quote
        candidates = []
        for asset, bal in acc.assets.items():
            if asset == quote or asset not in self._by_base:
                continue
            spare = bal.free - bal.debt
            if spare > EPS:
                candidates.append((spare * self.price_of(asset), asset, spare))
        if not candidates:
            return None
        _, asset, spare = max(candidates)
        symbol = self._by_base[asset]
        market = self.markets[symbol]
        st = self._symbols[symbol]
        rate = self.rules.liquidation_fee_rate
        full = acc.asset(quote).debt
        amount = spare
        for _ in range(2):  # the fill price depends a little on the size (impact)
            fill = fill_pricing.taker_fill_price(st, "sell", amount)
            per_unit_repaid = fill * (1.0 - rate)
            amount = min(
                spare, full / per_unit_repaid, self._to_stop(acc, st.mark, per_unit_repaid)
            )
        amount = _round_up(market.amount_step, amount, spare)
        return _Step(symbol, "sell", amount) if amount > EPS else None

    def _buy_to_repay(self, acc: MarginAccount, asset: str) -> _Step | None:
        """Buy the owed base asset with the free quote asset (beyond the quote debt)."""
        symbol = self._by_base.get(asset)
        if symbol is None:
            return None
        quote = acc.asset(self.rules.quote)
        spendable = quote.free - quote.debt
        if spendable <= EPS:
            return None
        market = self.markets[symbol]
        st = self._symbols[symbol]
        rate = self.rules.liquidation_fee_rate
        owed = acc.asset(asset).debt
        amount = owed
        for _ in range(2):
            fill = fill_pricing.taker_fill_price(st, "buy", amount)
            per_unit_spent = fill * (1.0 + rate)
            # Buying one unit removes per_unit_spent of quote from the assets and st.mark of
            # liabilities: the same closed form as selling, with the roles swapped.
            to_stop = self._to_stop_buy(acc, st.mark, per_unit_spent)
            amount = min(owed, spendable / per_unit_spent, to_stop)
        cap = min(owed, spendable / (fill_pricing.taker_fill_price(st, "buy", amount) * (1 + rate)))
        amount = _round_up(market.amount_step, amount, cap)
        return _Step(symbol, "buy", amount) if amount > EPS else None

    def _to_stop(self, acc: MarginAccount, asset_price: float, repaid_per_unit: float) -> float:
        """Units to sell so the margin level reaches the stop level; inf when selling cannot.

        Selling ``x`` removes ``x * asset_price`` from the assets and ``x * repaid_per_unit``
        from the liabilities: ``(A - x a) / (L - x d) = S`` gives ``x = (S L - A) / (S d - a)``.
        """
        return self._closed_form(acc, asset_price, repaid_per_unit)

    def _to_stop_buy(self, acc: MarginAccount, debt_price: float, spent_per_unit: float) -> float:
        return self._closed_form(acc, spent_per_unit, debt_price)

    def _closed_form(self, acc: MarginAccount, a: float, d: float) -> float:
        s = self.rules.liquidation_stop_level * STOP_MARGIN
        assets = asset_value(acc, self.price_of)
        liabilities = liability_value(acc, self.price_of)
        denominator = s * d - a
        if denominator <= 0:
            return math.inf
        x = (s * liabilities - assets) / denominator
        return x if x > 0 else 0.0

    def _liquidation_trade(self, acc: MarginAccount, step: _Step) -> tuple[MarginTrade, float]:
        """One liquidation fill at the taker price, with the liquidation fee in the quote."""
        market = self.markets[step.symbol]
        st = self._symbols[step.symbol]
        price = fill_pricing.taker_fill_price(st, step.side, step.amount)
        base, quote = acc.asset(market.base), acc.asset(market.quote)
        cost = step.amount * price
        fee = cost * self.rules.liquidation_fee_rate
        if step.side == "sell":
            base.free -= step.amount
            quote.free += cost - fee
        else:
            quote.free -= cost + fee
            base.free += step.amount
        for bal in (base, quote):
            if abs(bal.free) < EPS:
                bal.free = 0.0
        self._book_market(market, step.side, step.amount, cost, market.quote, 0.0)
        self.ledger.liquidation_fees[market.quote] += fee
        trade = MarginTrade(
            id=self.next_id(),
            order_id=None,
            client_order_id=None,
            account=acc.id,
            symbol=step.symbol,
            side=step.side,
            amount=step.amount,
            price=price,
            fee=fee,
            fee_asset=market.quote,
            timestamp=self.now_ms,
            maker=False,
            liquidation=True,
        )
        acc.trades.append(trade)
        return trade, fee

    def _bad_debt(self, acc: MarginAccount) -> dict[str, float]:
        """Write off what nothing is left to repay, when the risk fund bears it."""
        if self.rules.bad_debt_paid_by != "risk_fund" or self._plan(acc) is not None:
            return {}
        if asset_value(acc, self.price_of) >= liability_value(acc, self.price_of):
            return {}
        written: dict[str, float] = {}
        for asset, bal in acc.assets.items():
            if bal.debt > EPS:
                written[asset] = bal.debt
                self.ledger.written_off[asset] += bal.debt
                bal.borrowed = bal.interest = 0.0
        return written


def _round_up(step: float, amount: float, cap: float) -> float:
    """``amount`` rounded up to the amount step, but never above ``cap`` (rounded down)."""
    if amount >= cap - EPS:
        return math.floor(cap / step + 1e-9) * step if cap > step else cap
    return min(math.ceil(amount / step - 1e-9) * step, cap)
