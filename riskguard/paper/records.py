"""The paper venue's records: accounts, their positions, orders and trades, and liquidations.

Plain values the venue's parts (:mod:`~riskguard.paper.engine` and the modules it is made of) read
and change; :mod:`~riskguard.paper.state` saves and restores them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from riskguard.domain import MarginMode, Side
from riskguard.paper.venue_rules import LiquidationKind, LossPayer
from riskguard.risk.margin import Schedule


@dataclass(slots=True)
class PaperPosition:
    """An open position: size in base units, isolated margin when isolated."""

    symbol: str
    side: Side
    size: float
    entry_price: float
    margin_mode: MarginMode
    leverage: float
    isolated_margin: float = 0.0
    schedule: Schedule | None = None
    frozen_until_ms: int = 0
    """After a partial liquidation (OKX), the liquidation check leaves the position alone until
    this venue time (epoch ms); 0: not frozen."""


TriggerSource = Literal["mark", "last"]
"""The price a trigger order watches: the mark (the default) or the last traded price."""

TRIGGER_SOURCES: tuple[TriggerSource, ...] = ("mark", "last")


@dataclass(slots=True)
class PaperOrder:
    """An order as the venue keeps it. Amounts in contracts.

    ``trigger_source`` says which price fires a trigger order (Binance's ``workingType``:
    ``MARK_PRICE`` is ``"mark"``, ``CONTRACT_PRICE`` is ``"last"``); other orders ignore it.
    """

    id: str
    client_order_id: str | None
    account: str
    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    trigger_price: float | None
    trigger_below: bool | None
    stop_loss: bool
    reduce_only: bool
    position_side: Side | None
    timestamp: int
    contract_size: float = 1.0
    status: str = "open"
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    last_update: int = 0
    trades: list[str] = field(default_factory=list)
    trigger_source: TriggerSource = "mark"

    @property
    def is_trigger(self) -> bool:
        return self.trigger_price is not None

    @property
    def average(self) -> float | None:
        """Average fill price (``cost`` is in the quote currency, ``filled`` in contracts)."""
        return self.cost / (self.filled * self.contract_size) if self.filled > 0 else None


@dataclass(frozen=True, slots=True)
class PaperTrade:
    """One fill."""

    id: str
    order_id: str | None
    client_order_id: str | None
    account: str
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    fee_rate: float
    realized_pnl: float
    timestamp: int
    maker: bool
    liquidation: bool = False
    order_type: str = "market"


@dataclass(frozen=True, slots=True)
class LiquidationRecord:
    """A liquidation as the venue executed it.

    ``shortfall`` is the negative equity left after the close (before it is covered); it is
    positive only when the fill went past the bankruptcy price, and ``shortfall_paid_by`` says
    who covers it (:data:`~riskguard.paper.venue_rules.LossPayer`: the insurance fund, the
    liquidator vault, ADL), never the account. ``fee`` is what the venue kept from the account
    on top of the close: the liquidation fee, or on a ``backstop`` the whole collateral left
    (the liquidator vault keeps it, the maintenance margin included). ``kind`` is how the
    position was closed (:data:`~riskguard.paper.venue_rules.LiquidationKind`); ``size`` is what
    was closed, less than the position on a ``partial``.
    """

    time_ms: int
    account: str
    symbol: str
    side: str
    margin_mode: str
    size: float
    mark_price: float
    fill_price: float
    liquidation_price: float | None
    bankruptcy_price: float | None
    fee: float
    shortfall: float
    kind: LiquidationKind = "market"
    shortfall_paid_by: LossPayer = "insurance_fund"


@dataclass(slots=True)
class PaperAccount:
    """One account: its cross wallet, positions, settings, orders and trades."""

    id: str
    wallet: float
    hedge_mode: bool = False
    positions: dict[tuple[str, Side], PaperPosition] = field(default_factory=dict)
    leverage: dict[str, float] = field(default_factory=dict)
    margin_mode: dict[str, MarginMode] = field(default_factory=dict)
    orders: dict[str, PaperOrder] = field(default_factory=dict)
    trades: list[PaperTrade] = field(default_factory=list)
    deposits: float = 0.0
    funding: dict[tuple[str, Side], float] = field(default_factory=dict)
    """Funding paid (negative: received) by each position, by (symbol, side)."""
