"""Orders on the paper spot margin venue: entry, side effects, fills, the limit book, cancels.

Prices come from the perpetual venue's fill pricing (:mod:`~riskguard.paper.fill_pricing`), so
a fill happens only at a price that traded: a market order (and a marketable limit order)
fills now at the last price across half the spread plus impact, held inside what the bar still
trades; a resting limit order fills at its limit once the last price trades at or through it.

Binance's ``sideEffectType`` decides what an order does to the loans:

- ``NO_SIDE_EFFECT`` (the default): the order needs the free balance it spends (a buy: the
  quote asset at the fill price, or at its limit; a sell: the base asset), else it is refused
  with ``ccxt.InsufficientFunds`` (-2010, "Account has insufficient balance for requested
  action").
- ``MARGIN_BUY``: what the free balance lacks is borrowed first, within the borrow limit
  (:func:`~riskguard.paper.spot_margin.loans.check_borrow`); the order reports it as
  ``marginBuyBorrowAmount`` / ``marginBuyBorrowAsset``. A resting limit order borrows when it is
  placed, as Binance does; cancelling it keeps the loan.
- ``AUTO_REPAY``: what a fill brings in (net of the fee) repays the debt in that asset, interest
  first. ccxt sends it for ``reduceOnly`` orders on margin.
- ``AUTO_BORROW_REPAY``: both.

Fees are charged in the asset received (Binance without BNB): the base on a buy, the quote on a
sell. Not modelled: Binance's price filters (``PERCENT_PRICE_BY_SIDE``), minimum notional, stop
orders and OCO, and the book's depth beyond the slippage model.
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from riskguard.paper import fill_pricing
from riskguard.paper.price_path import SymbolState
from riskguard.paper.spot_margin.account import (
    EPS,
    SIDE_EFFECTS,
    MarginAccount,
    MarginOrder,
    MarginTrade,
    SideEffect,
)
from riskguard.paper.spot_margin.loans import borrow, check_borrow, repay_from_free
from riskguard.paper.spot_margin.rules import SpotMarket
from riskguard.paper.spot_margin.state import MarginState

BORROWS: frozenset[str] = frozenset({"MARGIN_BUY", "AUTO_BORROW_REPAY"})
REPAYS: frozenset[str] = frozenset({"AUTO_REPAY", "AUTO_BORROW_REPAY"})


def _insufficient(asset: str, need: float, free: float) -> ccxt.InsufficientFunds:
    return ccxt.InsufficientFunds(
        f"paper: -2010 Account has insufficient balance for requested action "
        f"({asset}: needs {need:g}, free {free:g})"
    )


class Orders(MarginState):
    """Order entry, fills and cancels."""

    _limits: dict[str, list[tuple[str, str]]]
    """Resting limit orders per symbol, in the order they were placed: (account, order id)."""

    def create_order(
        self,
        account_id: str,
        symbol: str,
        order_type: str,
        side: str,
        amount: float,
        price: float | None = None,
        *,
        client_order_id: str | None = None,
        side_effect: str = "NO_SIDE_EFFECT",
    ) -> MarginOrder:
        """Place an order now; a market order fills at once, a limit order fills or rests."""
        acc = self.account(account_id)
        market = self.market(symbol)
        st = self._symbols[symbol]
        self._check_order(acc, st, market, order_type, side, amount, price, client_order_id)
        if side_effect not in SIDE_EFFECTS:
            raise ccxt.BadRequest(
                f"paper: -1130 sideEffectType {side_effect!r} is not valid; use one of "
                + ", ".join(SIDE_EFFECTS)
            )
        effect: SideEffect = side_effect
        amount = market.round_amount(amount)
        taker = fill_pricing.taker_fill_price(st, side, amount)
        fills_now = order_type == "market" or fill_pricing.within_limit(
            side, taker, float(price or 0.0)
        )
        unit_price = taker if fills_now else float(price or 0.0)
        spend_asset = market.quote if side == "buy" else market.base
        need = amount * unit_price if side == "buy" else amount
        order = MarginOrder(
            id=self.next_id(),
            client_order_id=client_order_id,
            account=account_id,
            symbol=symbol,
            type=order_type,
            side=side,
            amount=amount,
            price=None if order_type == "market" else float(price or 0.0),
            side_effect=effect,
            timestamp=self.now_ms,
            last_update=self.now_ms,
        )
        free = acc.asset(spend_asset).free
        if effect in BORROWS and need > free + EPS:
            shortfall = need - max(free, 0.0)
            check_borrow(acc, spend_asset, shortfall, self.price_of, self.rules)
            borrow(
                acc, self.ledger, self.rules, spend_asset, shortfall,
                tran_id=self.next_id(), now_ms=self.now_ms, kind="auto_borrow",
            )  # fmt: skip
            order.borrowed, order.borrow_asset = shortfall, spend_asset
        elif need > free * (1 + 1e-12) + EPS:
            raise _insufficient(spend_asset, need, free)
        acc.orders[order.id] = order
        if fills_now:
            self._fill(acc, order, taker, amount, maker=False)
        else:
            bal = acc.asset(spend_asset)
            bal.free -= need
            bal.locked += need
            order.locked = need
            self._limits[symbol].append((account_id, order.id))
        return order

    def _check_order(
        self,
        acc: MarginAccount,
        st: SymbolState,
        market: SpotMarket,
        order_type: str,
        side: str,
        amount: float,
        price: float | None,
        client_order_id: str | None,
    ) -> None:
        if not st.started:
            raise ccxt.MarketClosed(f"paper: {market.symbol} has no price yet")
        if order_type not in ("market", "limit"):
            raise ccxt.InvalidOrder(f"paper: order type {order_type!r} is not supported")
        if side not in ("buy", "sell"):
            raise ccxt.InvalidOrder(f"paper: side must be buy or sell, got {side!r}")
        if not amount > 0:
            raise ccxt.InvalidOrder(f"paper: amount must be positive, got {amount}")
        if market.round_amount(amount) < market.min_amount - EPS:
            raise ccxt.InvalidOrder(
                f"paper: -1013 Filter failure: LOT_SIZE ({amount:g} is below the minimum "
                f"{market.min_amount:g} {market.base})"
            )
        if order_type == "limit" and not (price is not None and price > 0):
            raise ccxt.InvalidOrder("paper: a limit order needs a positive price")
        if client_order_id is not None and any(
            o.client_order_id == client_order_id for o in acc.orders.values()
        ):
            raise ccxt.DuplicateOrderId(f"paper: clientOrderId {client_order_id!r} was used")

    # ------------------------------------------------------------------ fills

    def _fill(
        self,
        acc: MarginAccount,
        order: MarginOrder,
        price: float,
        amount: float,
        *,
        maker: bool,
    ) -> MarginTrade:
        market = self.markets[order.symbol]
        rate = market.maker_fee if maker else market.taker_fee
        base, quote = acc.asset(market.base), acc.asset(market.quote)
        cost = amount * price
        from_locked = order.locked > EPS
        if order.side == "buy":
            spent = order.locked if from_locked else cost
            # A resting buy locked amount * limit and fills at its limit: the same sum.
            if from_locked:
                quote.locked -= spent
                order.locked = 0.0
            else:
                quote.free -= cost
            fee = amount * rate
            base.free += amount - fee
            received_asset, received = market.base, amount - fee
        else:
            if from_locked:
                base.locked -= amount
                order.locked = 0.0
            else:
                base.free -= amount
            fee = cost * rate
            quote.free += cost - fee
            received_asset, received = market.quote, cost - fee
        self._book_market(market, order.side, amount, cost, received_asset, fee)
        trade = MarginTrade(
            id=self.next_id(),
            order_id=order.id,
            client_order_id=order.client_order_id,
            account=acc.id,
            symbol=order.symbol,
            side=order.side,
            amount=amount,
            price=price,
            fee=fee,
            fee_asset=received_asset,
            timestamp=self.now_ms,
            maker=maker,
            order_type=order.type,
        )
        acc.trades.append(trade)
        order.filled += amount
        order.cost += cost
        order.fee += fee
        order.fee_asset = received_asset
        order.trades.append(trade.id)
        order.last_update = self.now_ms
        if order.filled >= order.amount - EPS:
            order.status = "closed"
        if order.side_effect in REPAYS:
            repay_from_free(
                acc, self.ledger, received_asset, up_to=received,
                tran_id=self.next_id(), now_ms=self.now_ms, kind="auto_repay",
            )  # fmt: skip
        return trade

    def _book_market(
        self, market: SpotMarket, side: str, amount: float, cost: float, fee_asset: str, fee: float
    ) -> None:
        """The market's side of a trade, and the venue's fee, in the ledger."""
        sign = 1.0 if side == "buy" else -1.0
        self.ledger.market[market.base] += sign * amount
        self.ledger.market[market.quote] -= sign * cost
        self.ledger.fees[fee_asset] += fee

    def _fill_limits(self, st: SymbolState) -> None:
        """Fill the symbol's resting limit orders the last price traded at or through."""
        symbol = st.market.symbol.partition(":")[0]
        book = self._limits[symbol]
        keep: list[tuple[str, str]] = []
        for account_id, order_id in book:
            acc = self.accounts[account_id]
            order = acc.orders[order_id]
            if order.status != "open":
                continue
            limit = order.price or 0.0
            if fill_pricing.within_limit(order.side, st.last, limit):
                self._fill(acc, order, limit, order.remaining, maker=True)
            else:
                keep.append((account_id, order_id))
        self._limits[symbol] = keep

    # ------------------------------------------------------------------ cancels and lookups

    def cancel_order(self, account_id: str, order_id: str) -> MarginOrder:
        acc = self.account(account_id)
        order = acc.orders.get(order_id)
        if order is None or order.status != "open":
            raise ccxt.OrderNotFound(f"paper: -2011 Unknown order sent ({order_id!r} is not open)")
        self._release(acc, order, "canceled")
        return order

    def _release(self, acc: MarginAccount, order: MarginOrder, status: str) -> None:
        """End an open order with ``status`` and give back what it locked."""
        market = self.markets[order.symbol]
        asset = market.quote if order.side == "buy" else market.base
        bal = acc.asset(asset)
        bal.locked -= order.locked
        bal.free += order.locked
        if abs(bal.locked) < EPS:
            bal.locked = 0.0
        order.locked = 0.0
        order.status = status
        order.last_update = self.now_ms
        self._limits[order.symbol] = [
            (a, o) for a, o in self._limits[order.symbol] if not (a == acc.id and o == order.id)
        ]

    def find_order(
        self, account_id: str, order_id: str | None, client_order_id: str | None = None
    ) -> MarginOrder:
        acc = self.account(account_id)
        if order_id is not None and order_id in acc.orders:
            return acc.orders[order_id]
        if client_order_id is not None:
            for order in acc.orders.values():
                if order.client_order_id == client_order_id:
                    return order
        raise ccxt.OrderNotFound(
            f"paper: -2013 Order does not exist ({order_id or client_order_id!r})"
        )

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[MarginOrder]:
        return [
            o
            for o in self.account(account_id).open_orders()
            if symbol is None or o.symbol == symbol
        ]
