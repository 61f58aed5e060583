"""The paper venue's ledger: where the money is.

Money moves only between named places, so it can be audited: account wallets, isolated margins,
the venue's fee income, funding paid, the insurance fund, and the market on the other side of
every trade (realised PnL). :class:`Ledger` keeps the sums that leave the accounts; the
accounts keep their wallets and isolated margins (:mod:`~riskguard.paper.records`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Ledger:
    """Where the money is. Every sum the venue moves is accounted here."""

    deposits: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    realized_pnl: float = 0.0
    insurance_fund: float = 0.0
    insurance_start: float = 0.0
    liquidation_fees: float = 0.0
    shortfall_covered: float = 0.0
