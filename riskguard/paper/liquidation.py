"""Liquidation: checking positions against the risk core's schedules, closing them as a venue does.

On every tick of a symbol each account holding it is checked against the risk core's threshold
(maintenance margin plus any fee term the venue profile adds): an isolated position when its
margin plus unrealised PnL is at or below its threshold, the cross positions together when the
cross wallet plus their unrealised PnL is at or below the sum of theirs. What the liquidation
engine then does is the venue's (:class:`~riskguard.paper.venue_rules.VenueRules`, looked up by
the profile's name; ``docs/venue_rules.md`` has the research):

- **market** (every venue): cancel the orders concerned (the symbol's for an isolated position,
  all for cross), close the positions at the taker price
  (:func:`~riskguard.paper.fill_pricing.taker_fill_price`: never outside what the bar trades from
  the current tick on), charge the liquidation fee, and let the venue cover any equity below zero
  (the shortfall: the insurance fund; on Hyperliquid, ADL).
- **backstop** (Hyperliquid): when at the same check the equity is below
  :attr:`~riskguard.paper.venue_rules.VenueRules.backstop_fraction` (2/3) of the threshold, the
  liquidator vault takes the positions over instead: the account keeps nothing of the collateral
  (the isolated margin, or the whole cross wallet; the maintenance margin is not returned), and a
  loss past bankruptcy is the vault's, so the account ends at exactly 0. The takeover is valued at
  the taker price a market close would get now; what the account had left is booked as the
  record's ``fee`` (the vault's take).
- **partial** (OKX): a position whose tier at the mark is
  :attr:`~riskguard.paper.venue_rules.VenueRules.partial_from_tier` (index 2, the 3rd tier) or
  higher, and whose equity still covers the threshold it would have at the lowest tier's rates,
  is reduced by :attr:`~riskguard.paper.venue_rules.VenueRules.partial_tiers_down` tiers: to the
  largest size, in whole amount steps, that lies in the tier two below (OKX's rule as republished:
  "the number of contracts needed to reduce the position by two tiers"). Why this and not "just
  enough to get back above maintenance": OKX states the tier rule, and for an isolated position
  whose margin is released in proportion any smaller size in the same tier has the same margin
  ratio, so only a lower tier can cure it. The rest of the position is then frozen for
  :attr:`~riskguard.paper.venue_rules.VenueRules.recheck_delay_s` (60 s) of venue time: the check
  leaves it (cross: the account's cross positions) alone until then, and looks again; a position
  in the 1st or 2nd tier, or whose equity is below the lowest tier's threshold, is liquidated in
  full. For cross, the cross position with the largest threshold among those in high tiers is
  reduced, one per check.

Every liquidation records a :class:`~riskguard.paper.records.LiquidationRecord` per position
with the liquidation and bankruptcy prices the risk core gave, its ``kind`` and who paid the
loss past bankruptcy.

The check is the last thing on a tick, after the last price and mark moved, triggered stops
filled, resting limits filled and funding was settled (:mod:`~riskguard.paper.orders` lists the
order). A stop that the same tick fired has already closed its position, even past the
bankruptcy price, and that loss is the account's; only what is still open is liquidated here,
and only here does the venue (fund, vault or ADL) take a loss past bankruptcy.
"""

from __future__ import annotations

import math

from riskguard.domain import MarginMode, Side, TierUnit
from riskguard.paper.orders import Orders
from riskguard.paper.records import LiquidationRecord, PaperAccount, PaperOrder, PaperPosition
from riskguard.paper.venue_rules import LiquidationKind, LossPayer, VenueRules, rules_for
from riskguard.risk.venues import MarginBasis


class Liquidation(Orders):
    """Liquidation checks and the liquidation itself, by the venue's rules."""

    @property
    def rules(self) -> VenueRules:
        """The venue's liquidation and order rules, by its profile's name."""
        return rules_for(self.profile.name)

    def _check_liquidations(self, symbol: str, t_ms: int) -> None:
        for acc_id in list(self._holders[symbol]):
            acc = self.accounts[acc_id]
            for side in (Side.LONG, Side.SHORT):
                pos = acc.positions.get((symbol, side))
                if pos is None or pos.margin_mode is not MarginMode.ISOLATED:
                    continue
                if pos.frozen_until_ms > t_ms:
                    continue
                mark = self._symbols[symbol].mark
                equity = pos.isolated_margin + side.sign * pos.size * (mark - pos.entry_price)
                requirement = self._schedule(pos).requirement(mark)
                if equity <= requirement:
                    self._liquidate_by_rules(acc, [pos], equity, requirement, t_ms)
            cross = [p for p in acc.positions.values() if p.margin_mode is MarginMode.CROSS]
            if not cross or all(p.symbol != symbol for p in cross):
                continue
            if any(p.frozen_until_ms > t_ms for p in cross):
                continue
            equity = acc.wallet
            requirement = 0.0
            for p in cross:
                mark = self._symbols[p.symbol].mark
                equity += p.side.sign * p.size * (mark - p.entry_price)
                requirement += self._schedule(p).requirement(mark)
            if equity <= requirement:
                self._liquidate_by_rules(acc, cross, equity, requirement, t_ms)

    def _liquidate_by_rules(
        self,
        acc: PaperAccount,
        positions: list[PaperPosition],
        equity: float,
        requirement: float,
        t_ms: int,
    ) -> None:
        """Liquidate ``positions`` (at or below ``requirement`` with ``equity``) as the venue
        does: a backstop, a partial close, or a market close of the full size."""
        rules = self.rules
        if rules.backstop_fraction is not None and equity < rules.backstop_fraction * requirement:
            self._liquidate(acc, positions, t_ms, kind="backstop")
            return
        if rules.partial_from_tier is not None:
            plan = self._partial_plan(positions, equity, requirement, rules)
            if plan is not None:
                self._liquidate_part(acc, plan[0], plan[1], t_ms, rules)
                return
        self._liquidate(acc, positions, t_ms)

    def _partial_plan(
        self,
        positions: list[PaperPosition],
        equity: float,
        requirement: float,
        rules: VenueRules,
    ) -> tuple[PaperPosition, float] | None:
        """The position to reduce and the size to reduce it to, or None for a full liquidation.

        A position qualifies when its tier at the mark is ``partial_from_tier`` or higher and the
        equity covers the threshold with that position charged at its lowest tier's rates (OKX:
        "above the lowest tier's maintenance margin plus liquidation fee rate"). It goes to the
        largest whole number of amount steps inside the tier ``partial_tiers_down`` below.
        """
        first = rules.partial_from_tier if rules.partial_from_tier is not None else math.inf
        best: tuple[float, PaperPosition, int] | None = None
        for pos in positions:
            schedule = self._schedule(pos)
            mark = self._symbols[pos.symbol].mark
            index = schedule.index_at(mark)
            if index < first:
                continue
            own = schedule.requirement(mark)
            if best is None or own > best[0]:
                best = (own, pos, index)
        if best is None:
            return None
        own, pos, index = best
        schedule = self._schedule(pos)
        mark = self._symbols[pos.symbol].mark
        lowest = schedule.tiers[0]
        basis = mark if schedule.basis is MarginBasis.MARK else pos.entry_price
        at_lowest = (
            max(0.0, pos.size * basis * lowest.maintenance_margin_rate - lowest.maintenance_amount)
            + pos.size * mark * schedule.fee_rate
        )
        if not equity > requirement - own + at_lowest:
            return None
        target_index = max(0, index - rules.partial_tiers_down)
        bound = schedule.tiers[target_index + 1].min_bound
        if schedule.tiers[0].unit is not TierUnit.SIZE:
            bound /= basis
        market = self.markets[pos.symbol]
        step = market.amount_step * market.contract_size
        steps = math.ceil(bound / step - 1e-9) - 1
        target = self._on_grid(pos.symbol, steps * step)
        if target < market.min_amount * market.contract_size or target >= pos.size:
            return None
        return pos, target

    def _cancel_orders_of(self, acc: PaperAccount, positions: list[PaperPosition]) -> None:
        """Cancel the orders a liquidation takes away: the symbol's for an isolated position,
        all the account's for cross."""
        isolated = positions[0].margin_mode is MarginMode.ISOLATED
        symbols = {p.symbol for p in positions}
        for order in list(acc.orders.values()):
            if order.status == "open" and (not isolated or order.symbol in symbols):
                self._cancel(order)

    def _liquidation_order(self, acc: PaperAccount, pos: PaperPosition, base: float) -> PaperOrder:
        """The venue's reduce-only market order closing ``base`` of ``pos``, on the account."""
        market = self.markets[pos.symbol]
        order = PaperOrder(
            id=self._next_id("liq"),
            client_order_id=None,
            account=acc.id,
            symbol=pos.symbol,
            type="market",
            side="sell" if pos.side is Side.LONG else "buy",
            amount=base / market.contract_size,
            price=None,
            trigger_price=None,
            trigger_below=None,
            stop_loss=False,
            reduce_only=True,
            position_side=pos.side if acc.hedge_mode else None,
            timestamp=self.now_ms,
            contract_size=market.contract_size,
        )
        acc.orders[order.id] = order
        return order

    def _liquidate(
        self,
        acc: PaperAccount,
        positions: list[PaperPosition],
        t_ms: int,
        *,
        kind: LiquidationKind = "market",
    ) -> None:
        """Close ``positions`` (one isolated position, or all cross ones) as the venue would.

        ``kind="backstop"``: the liquidator vault takes what the account has left (as the fee)
        and any loss past bankruptcy; else the liquidation fee is charged and the venue's
        :attr:`~riskguard.paper.venue_rules.VenueRules.shortfall_payer` covers a shortfall.
        """
        isolated = positions[0].margin_mode is MarginMode.ISOLATED
        risk = self.assessed(acc.id)
        figures = {(r.symbol, r.side): r for r in risk.positions}
        self._cancel_orders_of(acc, positions)
        collateral = positions[0].isolated_margin if isolated else acc.wallet
        closes = []
        for pos in positions:
            mark = self._symbols[pos.symbol].mark
            side = "sell" if pos.side is Side.LONG else "buy"
            price = self.taker_fill_price(pos.symbol, side, pos.size)
            pnl = pos.side.sign * pos.size * (price - pos.entry_price)
            closes.append((pos, mark, price, pnl))
        equity = collateral + sum(c[3] for c in closes)
        payer: LossPayer
        if kind == "backstop":
            fee = max(0.0, equity)  # the vault keeps all the collateral left
            payer = "liquidator_vault"
        else:
            fee_due = sum(self.liquidation_fee_rate * c[0].size * c[2] for c in closes)
            fee = min(fee_due, max(0.0, equity))
            payer = self.rules.shortfall_payer
        shortfall = max(0.0, -equity)
        losses = [max(0.0, -c[3]) for c in closes]
        total_loss = sum(losses) or 1.0
        total_value = sum(c[0].size * c[2] for c in closes)
        for (pos, mark, price, _pnl), loss in zip(closes, losses, strict=True):
            share = loss / total_loss if len(closes) > 1 else 1.0
            fig = figures.get((pos.symbol, pos.side.value))
            self.liquidations.append(
                LiquidationRecord(
                    time_ms=t_ms,
                    account=acc.id,
                    symbol=pos.symbol,
                    side=pos.side.value,
                    margin_mode=pos.margin_mode.value,
                    size=pos.size,
                    mark_price=mark,
                    fill_price=price,
                    liquidation_price=fig.liquidation_price if fig else None,
                    bankruptcy_price=fig.bankruptcy_price if fig else None,
                    fee=fee * pos.size * price / total_value if total_value > 0 else 0.0,
                    shortfall=shortfall * share,
                    kind=kind,
                    shortfall_paid_by=payer,
                )
            )
            order = self._liquidation_order(acc, pos, pos.size)
            self._fill(acc, order, pos.size, price, maker=False, liquidation=True, fee_rate=0.0)
            order.status = "closed"
        # The venue keeps the liquidation fee (on a backstop: the vault keeps the collateral
        # left). Equity below zero is the shortfall: the venue (fund, vault, ADL) pays it, so
        # an isolated loss never reaches the cross wallet and a cross wallet ends at zero, not
        # below. The ledger has one account for the venue's side: the insurance fund stands for
        # the liquidator vault and ADL too.
        self._book_venue_take(acc, fee, shortfall)

    def _book_venue_take(self, acc: PaperAccount, fee: float, shortfall: float) -> None:
        """Move ``fee`` from the account to the venue's fund, and ``shortfall`` back."""
        acc.wallet -= fee
        self.ledger.liquidation_fees += fee
        self.ledger.insurance_fund += fee
        if shortfall > 0:
            acc.wallet += shortfall
            self.ledger.insurance_fund -= shortfall
            self.ledger.shortfall_covered += shortfall

    def _liquidate_part(
        self, acc: PaperAccount, pos: PaperPosition, target: float, t_ms: int, rules: VenueRules
    ) -> None:
        """Reduce ``pos`` to ``target`` (base units) at the taker price and freeze the rest.

        The liquidation fee is charged on the part closed, out of what that part leaves (an
        isolated position: its share of the margin plus its PnL; cross: the account's equity);
        if that is below zero the venue covers it, as for a full liquidation.
        """
        risk = self.assessed(acc.id)
        fig = next(
            (r for r in risk.positions if (r.symbol, r.side) == (pos.symbol, pos.side.value)), None
        )
        self._cancel_orders_of(acc, [pos])
        closed = pos.size - target
        mark = self._symbols[pos.symbol].mark
        side = "sell" if pos.side is Side.LONG else "buy"
        price = self.taker_fill_price(pos.symbol, side, closed)
        isolated = pos.margin_mode is MarginMode.ISOLATED
        wallet_before = acc.wallet
        order = self._liquidation_order(acc, pos, closed)
        self._fill(acc, order, closed, price, maker=False, liquidation=True, fee_rate=0.0)
        order.status = "closed"
        if isolated:
            left = acc.wallet - wallet_before  # the closed part's margin share plus its PnL
        else:
            left = acc.wallet + sum(
                p.side.sign * p.size * (self._symbols[p.symbol].mark - p.entry_price)
                for p in acc.positions.values()
                if p.margin_mode is MarginMode.CROSS
            )
        fee = min(self.liquidation_fee_rate * closed * price, max(0.0, left))
        shortfall = max(0.0, -left)
        self.liquidations.append(
            LiquidationRecord(
                time_ms=t_ms,
                account=acc.id,
                symbol=pos.symbol,
                side=pos.side.value,
                margin_mode=pos.margin_mode.value,
                size=closed,
                mark_price=mark,
                fill_price=price,
                liquidation_price=fig.liquidation_price if fig else None,
                bankruptcy_price=fig.bankruptcy_price if fig else None,
                fee=fee,
                shortfall=shortfall,
                kind="partial",
                shortfall_paid_by=rules.shortfall_payer,
            )
        )
        self._book_venue_take(acc, fee, shortfall)
        remaining = acc.positions.get((pos.symbol, pos.side))
        if remaining is not None:
            remaining.frozen_until_ms = t_ms + rules.recheck_delay_ms
