"""A cross margin account's state, its records, the venue's ledger, and the margin level.

Per asset an account holds what Binance's ``GET /sapi/v1/margin/account`` lists in its
``userAssets``: ``free``, ``locked`` (held by open orders), ``borrowed`` (principal owed) and
``interest`` (interest owed); ``netAsset`` is ``free + locked - borrowed - interest``.

The margin level (:func:`margin_level`) is Binance's: total asset value / (total liabilities +
outstanding interest), every asset valued in the venue's quote asset at its margin price.

Money moves only between named places (:class:`MarginLedger`), per asset, so the books can be
audited: what was deposited, lent, repaid, taken from or given to the market in trades, charged
in fees, and written off.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

EPS = 1e-12
"""Amounts within this of zero count as zero."""

NO_DEBT_MARGIN_LEVEL = 999.0
"""What Binance reports as the margin level of an account that owes nothing."""

SideEffect = Literal["NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY"]
SIDE_EFFECTS: tuple[SideEffect, ...] = (
    "NO_SIDE_EFFECT",
    "MARGIN_BUY",
    "AUTO_REPAY",
    "AUTO_BORROW_REPAY",
)
LoanKind = Literal["borrow", "repay", "auto_borrow", "auto_repay", "liquidation_repay"]
PriceOf = Callable[[str], float]
"""An asset's margin price in the quote asset (the quote asset's is 1)."""


@dataclass(slots=True)
class AssetBalance:
    """One asset of a margin account."""

    free: float = 0.0
    locked: float = 0.0
    borrowed: float = 0.0
    interest: float = 0.0

    @property
    def held(self) -> float:
        return self.free + self.locked

    @property
    def debt(self) -> float:
        """Principal plus interest owed (ccxt's ``debt``)."""
        return self.borrowed + self.interest

    @property
    def net(self) -> float:
        """Binance's ``netAsset``."""
        return self.held - self.debt


@dataclass(slots=True)
class MarginOrder:
    """An order as the venue keeps it. Amounts in the base asset, cost in the quote asset."""

    id: str
    client_order_id: str | None
    account: str
    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    side_effect: SideEffect
    timestamp: int
    status: str = "open"
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    fee_asset: str | None = None
    borrowed: float = 0.0
    """Borrowed for this order (``MARGIN_BUY``): Binance's ``marginBuyBorrowAmount``."""
    borrow_asset: str | None = None
    locked: float = 0.0
    """Still locked for the unfilled part (quote for a buy, base for a sell)."""
    last_update: int = 0
    trades: list[str] = field(default_factory=list)

    @property
    def average(self) -> float | None:
        return self.cost / self.filled if self.filled > 0 else None

    @property
    def remaining(self) -> float:
        return max(0.0, self.amount - self.filled)


@dataclass(frozen=True, slots=True)
class MarginTrade:
    """One fill. ``fee`` is in ``fee_asset``: the asset received (Binance without BNB)."""

    id: str
    order_id: str | None
    client_order_id: str | None
    account: str
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    fee_asset: str
    timestamp: int
    maker: bool
    liquidation: bool = False
    order_type: str = "market"


@dataclass(frozen=True, slots=True)
class LoanRecord:
    """A borrow or a repayment (Binance's ``tranId``); a repayment pays interest first."""

    tran_id: str
    account: str
    asset: str
    kind: LoanKind
    amount: float
    interest_part: float
    principal_part: float
    timestamp: int


@dataclass(frozen=True, slots=True)
class InterestRecord:
    """One hour of interest charged (Binance's interest history: ON_BORROW or PERIODIC)."""

    account: str
    asset: str
    principal: float
    interest: float
    hourly_rate: float
    kind: Literal["ON_BORROW", "PERIODIC"]
    timestamp: int


@dataclass(frozen=True, slots=True)
class MarginCall:
    """The margin level fell to the margin call level (Binance sends an email and a message)."""

    account: str
    time_ms: int
    margin_level: float


@dataclass(frozen=True, slots=True)
class MarginLiquidation:
    """One liquidation of a cross margin account, as the venue executed it.

    ``sold`` and ``bought`` are by asset (base units); ``repaid`` is what the proceeds repaid,
    by asset; ``fee`` is the liquidation fee in the quote asset. ``assets_value`` and
    ``liabilities_value`` are the account's after the liquidation, in the quote asset;
    ``shortfall`` is what the liabilities exceed the assets by (0 when covered), and
    ``shortfall_paid_by`` says who bears it (``user``: the debt stays on the account).
    """

    time_ms: int
    account: str
    margin_level_before: float
    margin_level_after: float
    sold: dict[str, float]
    bought: dict[str, float]
    repaid: dict[str, float]
    fee: float
    trades: tuple[str, ...]
    assets_value: float
    liabilities_value: float
    shortfall: float
    shortfall_paid_by: str
    written_off: dict[str, float]


@dataclass(slots=True)
class MarginAccount:
    """One cross margin account."""

    id: str
    assets: dict[str, AssetBalance] = field(default_factory=dict)
    orders: dict[str, MarginOrder] = field(default_factory=dict)
    trades: list[MarginTrade] = field(default_factory=list)
    loans: list[LoanRecord] = field(default_factory=list)
    interest: list[InterestRecord] = field(default_factory=list)
    in_margin_call: bool = False

    def asset(self, code: str) -> AssetBalance:
        """The balance of ``code``, created empty when the account never held it."""
        bal = self.assets.get(code)
        if bal is None:
            bal = self.assets[code] = AssetBalance()
        return bal

    def open_orders(self) -> list[MarginOrder]:
        return [o for o in self.orders.values() if o.status == "open"]


def _bucket() -> defaultdict[str, float]:
    return defaultdict(float)


@dataclass(slots=True)
class MarginLedger:
    """Where every asset is, per asset. Two identities hold after every step (tested):

    - held: sum of accounts' ``free + locked`` = ``deposits + borrowed - repaid_principal -
      repaid_interest + market - fees - liquidation_fees``;
    - owed: sum of accounts' ``borrowed + interest`` = ``borrowed - repaid_principal +
      interest - repaid_interest - written_off``.

    ``market`` is what trades took from (negative) or gave to (positive) the accounts; the
    fees are the venue's income, the liquidation fees the margin risk fund's.
    """

    deposits: defaultdict[str, float] = field(default_factory=_bucket)
    borrowed: defaultdict[str, float] = field(default_factory=_bucket)
    interest: defaultdict[str, float] = field(default_factory=_bucket)
    repaid_principal: defaultdict[str, float] = field(default_factory=_bucket)
    repaid_interest: defaultdict[str, float] = field(default_factory=_bucket)
    market: defaultdict[str, float] = field(default_factory=_bucket)
    fees: defaultdict[str, float] = field(default_factory=_bucket)
    liquidation_fees: defaultdict[str, float] = field(default_factory=_bucket)
    written_off: defaultdict[str, float] = field(default_factory=_bucket)

    def expected_held(self, asset: str) -> float:
        return (
            self.deposits[asset]
            + self.borrowed[asset]
            - self.repaid_principal[asset]
            - self.repaid_interest[asset]
            + self.market[asset]
            - self.fees[asset]
            - self.liquidation_fees[asset]
        )

    def expected_owed(self, asset: str) -> float:
        return (
            self.borrowed[asset]
            - self.repaid_principal[asset]
            + self.interest[asset]
            - self.repaid_interest[asset]
            - self.written_off[asset]
        )


def asset_value(acc: MarginAccount, price_of: PriceOf) -> float:
    """Total asset value in the quote asset: every asset held (free and locked) at its price."""
    return sum(b.held * price_of(code) for code, b in acc.assets.items() if b.held > EPS)


def liability_value(acc: MarginAccount, price_of: PriceOf) -> float:
    """Total liabilities plus outstanding interest, in the quote asset."""
    return sum(b.debt * price_of(code) for code, b in acc.assets.items() if b.debt > EPS)


def margin_level(acc: MarginAccount, price_of: PriceOf) -> float:
    """Binance's margin level; ``inf`` when the account owes nothing."""
    liabilities = liability_value(acc, price_of)
    if liabilities <= EPS:
        return math.inf
    return asset_value(acc, price_of) / liabilities


def reported_level(level: float) -> float:
    """The margin level as Binance reports it: 999 for an account without debt."""
    return NO_DEBT_MARGIN_LEVEL if math.isinf(level) else level
