"""The ``static-stop`` baseline: the fixed stop-loss a bot framework keeps on the exchange.

Every :data:`REFRESH_MS` of simulated time the bot reads each position's liquidation price (the
one the venue reports, from the same risk core) and keeps one reduce-only stop-market order for
the whole position at the liquidation price moved :data:`OFFSET` of the entry-to-liquidation
distance toward the entry, rounded to the tick toward the entry. It replaces the order when the
price or the size changed, and re-places it when it is gone. When the mark is already past the
level (the venue refuses a stop that would fire at once) the bot closes at market, as
freqtrade's emergency exit does. Nothing else: no reduction, no margin, no reaction between
refreshes.

The ``none`` baseline needs no code: positions are held and the venue liquidates them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import ccxt

from riskguard.domain import Side
from riskguard.paper.engine import PaperVenue
from riskguard.replay.result import Action

OFFSET = 0.05
"""Fraction of the entry-to-liquidation distance the stop sits inside the liquidation price."""

REFRESH_MS = 60_000
"""How often the bot refreshes its stops (simulated milliseconds)."""

CLIENT_PREFIX = "bot-stop-"


def stop_level(entry: float, liquidation: float, tick: float, side: Side) -> float:
    """The stop price: ``OFFSET`` of the way from the liquidation price to the entry, rounded
    to the tick toward the entry (never beyond the liquidation price)."""
    raw = liquidation + OFFSET * (entry - liquidation)
    ticks = raw / tick
    rounded = (math.ceil(ticks - 1e-9) if side is Side.LONG else math.floor(ticks + 1e-9)) * tick
    return round(rounded, 12)


@dataclass
class StaticStopBot:
    """Keeps one static stop per position of ``accounts`` on ``venue``."""

    venue: PaperVenue
    accounts: tuple[str, ...]
    actions: dict[tuple[str, str, str], list[Action]] = field(default_factory=dict)
    _orders: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _seq: int = 0

    def refresh(self) -> None:
        """Place, move or re-place every position's stop; forget positions that are gone."""
        held: set[tuple[str, str, str]] = set()
        for account in self.accounts:
            acc = self.venue.account(account)
            positions = list(acc.positions.values())
            if not positions:
                continue
            risk = self.venue.assessed(account)
            for pos, figures in zip(positions, risk.positions, strict=True):
                key = (account, pos.symbol, pos.side.value)
                held.add(key)
                if figures.liquidation_price is None or not figures.liquidation_price > 0:
                    continue  # nothing can liquidate it: nothing to protect
                self._keep_stop(key, pos.side, pos.entry_price, figures.liquidation_price)
        for key in [k for k in self._orders if k not in held]:
            del self._orders[key]

    def _keep_stop(self, key: tuple[str, str, str], side: Side, entry: float, liq: float) -> None:
        account, symbol, _ = key
        venue = self.venue
        market = venue.market(symbol)
        acc = venue.account(account)
        pos = acc.positions[(symbol, side)]
        contracts = market.round_amount(pos.size / market.contract_size)
        price = stop_level(entry, liq, market.price_tick, side)
        current = acc.orders.get(self._orders.get(key, ""))
        if current is not None and current.status == "open":
            if current.trigger_price == price and math.isclose(current.amount, contracts):
                return
            venue.cancel_order(account, current.id)
            kind = "move_stop"
        else:
            kind = "place_stop" if current is None else "replace_stop"
        close_side = "sell" if side is Side.LONG else "buy"
        hedge = acc.hedge_mode
        self._seq += 1
        try:
            order = venue.create_order(
                account,
                symbol,
                "market",
                close_side,
                contracts,
                None,
                client_order_id=f"{CLIENT_PREFIX}{self._seq}",
                reduce_only=True,
                trigger_price=price,
                stop_loss=True,
                position_side=side if hedge else None,
            )
        except ccxt.InvalidOrder:
            # The mark is past the stop level already: exit at market.
            venue.create_order(
                account,
                symbol,
                "market",
                close_side,
                contracts,
                None,
                client_order_id=f"{CLIENT_PREFIX}{self._seq}",
                reduce_only=True,
                position_side=side if hedge else None,
            )
            self._orders.pop(key, None)
            self._note(key, "close", f"mark past the stop level {price:g}: closed at market")
            return
        self._orders[key] = order.id
        self._note(
            key,
            kind,
            f"stop at {price:g} for {contracts:g} (liquidation {liq:g})",
            contracts=contracts,
            price=price,
        )

    def _note(
        self,
        key: tuple[str, str, str],
        kind: str,
        detail: str,
        *,
        contracts: float | None = None,
        price: float | None = None,
    ) -> None:
        self.actions.setdefault(key, []).append(
            Action(self.venue.now_ms, kind, detail, contracts=contracts, price=price)
        )
