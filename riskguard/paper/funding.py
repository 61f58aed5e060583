"""Funding: at each funding time, every position in the symbol pays or receives its rate.

A long pays ``size * mark * rate`` (a short receives it; a negative rate turns both round), from
its isolated margin or from the cross wallet. The venue's funding total in the ledger is the sum
of what positions paid.
"""

from __future__ import annotations

from riskguard.domain import MarginMode, Side
from riskguard.paper.price_path import SymbolState
from riskguard.paper.venue_state import VenueState


class Funding(VenueState):
    """Settling funding on a symbol's positions."""

    def _settle_funding(self, st: SymbolState) -> None:
        symbol = st.market.symbol
        rate = st.market.funding_rate
        for acc_id in list(self._holders[symbol]):
            acc = self.accounts[acc_id]
            for side in (Side.LONG, Side.SHORT):
                pos = acc.positions.get((symbol, side))
                if pos is None:
                    continue
                payment = side.sign * pos.size * st.mark * rate
                acc.funding[(symbol, side)] = acc.funding.get((symbol, side), 0.0) + payment
                if pos.margin_mode is MarginMode.ISOLATED:
                    pos.isolated_margin -= payment
                else:
                    acc.wallet -= payment
                self.ledger.funding += payment
