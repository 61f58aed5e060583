"""Frozen domain values shared by every layer.

Everything here is a plain value: no I/O, no exchange objects. Sizes are in base units
(contracts x contract size), prices and money in the settlement currency (USDT, USDC, ...),
except in :class:`MarketRules`, whose order amounts are in contracts. The small numeric helpers at
the top (the step tolerance, the float clean-up, the finite checks) are shared by the values here
and by the code that sizes orders with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

STEP_TOLERANCE = 1e-9
"""In amount steps (or price ticks): float noise to ignore when rounding to a step."""

DECIMALS = 12
"""Amounts and prices are rounded to this many decimals to shed float noise."""


def clean_float(value: float) -> float:
    """``value`` rounded to :data:`DECIMALS` decimals, and ``-0.0`` made ``0.0``."""
    return round(value, DECIMALS) + 0.0


def require_finite_non_negative(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number >= 0."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def require_finite_positive(name: str, value: float) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number > 0."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


class Side(StrEnum):
    """Direction of a position."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for long, -1 for short: the `s` of RISK_MATH.md."""
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SHORT if self is Side.LONG else Side.LONG


class MarginMode(StrEnum):
    """Whether a position has its own collateral or shares the cross wallet."""

    ISOLATED = "isolated"
    CROSS = "cross"


class TierUnit(StrEnum):
    """What a tier's bounds measure.

    ``notional``: position value in the settlement currency (Binance brackets, Bybit risk limits,
    Gate, Hyperliquid margin tables). ``size``: position size in base units (OKX position tiers,
    which OKX expresses in contracts; convert with the contract size before building a Tier).
    """

    NOTIONAL = "notional"
    SIZE = "size"


@dataclass(frozen=True, slots=True)
class Tier:
    """One maintenance-margin bracket: ``MM = notional * rate - maintenance_amount``.

    ``min_bound`` is inclusive and ``max_bound`` exclusive, both in ``unit``.
    """

    min_bound: float
    max_bound: float
    maintenance_margin_rate: float
    maintenance_amount: float = 0.0
    max_leverage: float | None = None
    unit: TierUnit = TierUnit.NOTIONAL

    def __post_init__(self) -> None:
        if not (self.min_bound >= 0 and self.max_bound > self.min_bound):
            raise ValueError(
                f"tier bounds must satisfy 0 <= min < max, got {self.min_bound}..{self.max_bound}"
            )
        if not (0 <= self.maintenance_margin_rate <= 0.5):
            raise ValueError(
                f"maintenance_margin_rate must be in [0, 0.5], got {self.maintenance_margin_rate}"
            )
        if not math.isfinite(self.maintenance_amount):
            raise ValueError("maintenance_amount must be finite")
        if self.max_leverage is not None and not self.max_leverage > 0:
            raise ValueError(f"max_leverage must be positive, got {self.max_leverage}")

    def contains(self, value: float) -> bool:
        """Whether ``value`` (in this tier's unit) falls in ``[min_bound, max_bound)``."""
        return self.min_bound <= value < self.max_bound


@dataclass(frozen=True, slots=True)
class Position:
    """One open position as the risk core sees it.

    Either ``tiers`` or ``maintenance_margin_rate`` (with ``maintenance_amount``) describes the
    maintenance margin; venues that derive it from the max leverage (Hyperliquid) may give only
    ``max_leverage``. ``collateral`` is the isolated margin (isolated wallet balance including
    any margin added); it is ignored for cross positions, which share the account's wallet.

    ``inverse`` marks a coin-margined contract: then ``size`` is the quote value (contracts x
    contract size in USD), and collateral and every money figure are in the base coin.
    """

    symbol: str
    side: Side
    size: float
    entry_price: float
    mark_price: float
    margin_mode: MarginMode = MarginMode.ISOLATED
    leverage: float | None = None
    collateral: float | None = None
    contract_size: float = 1.0
    tiers: tuple[Tier, ...] = ()
    maintenance_margin_rate: float | None = None
    maintenance_amount: float = 0.0
    taker_fee: float = 0.0
    max_leverage: float | None = None
    inverse: bool = False

    def __post_init__(self) -> None:
        for name in ("size", "entry_price", "mark_price", "contract_size"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")
        if self.leverage is not None and not self.leverage > 0:
            raise ValueError(f"leverage must be positive, got {self.leverage}")
        if self.collateral is not None and not (
            math.isfinite(self.collateral) and self.collateral >= 0
        ):
            raise ValueError(f"collateral must be a non-negative number, got {self.collateral}")
        if self.maintenance_margin_rate is not None and not (
            0 <= self.maintenance_margin_rate <= 0.5
        ):
            raise ValueError(
                f"maintenance_margin_rate must be in [0, 0.5], got {self.maintenance_margin_rate}"
            )
        if not (0 <= self.taker_fee < 0.1):
            raise ValueError(f"taker_fee must be in [0, 0.1), got {self.taker_fee}")
        if self.max_leverage is not None and not self.max_leverage > 0:
            raise ValueError(f"max_leverage must be positive, got {self.max_leverage}")
        if self.tiers:
            if len({t.unit for t in self.tiers}) > 1:
                raise ValueError("tiers must all use the same unit")
            for lower, upper in zip(self.tiers, self.tiers[1:], strict=False):
                if upper.min_bound <= lower.min_bound:
                    raise ValueError("tiers must be sorted by lower bound, without duplicates")

    @property
    def contracts(self) -> float:
        """Size in contracts, as exchanges count it."""
        return self.size / self.contract_size

    @property
    def notional(self) -> float:
        """Position value at the mark price."""
        return self.size * self.mark_price

    @property
    def unrealized_pnl(self) -> float:
        """Profit or loss if closed at the mark, before fees."""
        return self.side.sign * self.size * (self.mark_price - self.entry_price)


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """A consistent view of one account at one time.

    ``wallet_balance`` is the cross wallet (excluding unrealised PnL); isolated positions carry
    their own collateral. ``settle`` is the currency the wallet and every money figure are in
    (USDT, USDC, USD, or the coin of coin-margined contracts), where it is known.
    """

    venue: str
    wallet_balance: float
    positions: tuple[Position, ...]
    taken_at: datetime
    account: str = "default"
    notes: tuple[str, ...] = field(default=())
    settle: str | None = None
    account_type: str | None = None
    """What kind of account the venue says this is (``Bybit unified trading account``, ...)."""
    sources: tuple[tuple[str, str], ...] = field(default=())
    """(figure, where it came from) for the wallet and every figure not read from ccxt's own
    unified fields: ``("BTC/USDT:USDT entry price", "venue raw row")``."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.wallet_balance):
            raise ValueError("wallet_balance must be finite")
        if self.taken_at.tzinfo is None:
            raise ValueError("taken_at must be timezone-aware")

    def same_book(self, other: AccountSnapshot | None) -> bool:
        """Whether ``other`` holds the same book: every field but the time it was taken equal
        (a figure that is not a number never equals itself, so it is never the same). What the
        risk core reads of a snapshot is its book: the same book gives the same figures."""
        if other is None:
            return False
        for name in _BOOK_FIELDS:  # noqa: SIM110 (a loop: no generator frame on the hot path)
            if getattr(self, name) != getattr(other, name):
                return False
        return True


_BOOK_FIELDS = tuple(f.name for f in fields(AccountSnapshot) if f.name != "taken_at")


@dataclass(frozen=True, slots=True)
class OpenStop:
    """A reduce-only stop on the exchange protecting a position (from the bot or the guard)."""

    order_id: str
    client_order_id: str | None
    symbol: str
    protects: Side
    size: float
    stop_price: float
    guard_owned: bool


@dataclass(frozen=True, slots=True)
class MarketRules:
    """How orders on one market must be sized and priced (amounts in contracts).

    ``contract_size`` is base units per contract (the quote face value for inverse contracts);
    ``amount_step`` the order amount increment and ``min_amount`` the smallest order, both in
    contracts; ``price_tick`` the price increment; ``min_notional`` the smallest order value in the
    quote currency, if the venue has one; ``max_market_amount`` the largest market order in
    contracts, if the venue has one (Binance's ``MARKET_LOT_SIZE``: a larger one is refused).
    """

    symbol: str
    contract_size: float = 1.0
    amount_step: float = 1.0
    min_amount: float = 0.0
    price_tick: float = 0.01
    min_notional: float | None = None
    max_market_amount: float | None = None

    def __post_init__(self) -> None:
        for name in ("contract_size", "amount_step", "price_tick"):
            require_finite_positive(f"{self.symbol}: {name}", getattr(self, name))
        require_finite_non_negative(f"{self.symbol}: min_amount", self.min_amount)
        if self.min_notional is not None:
            require_finite_non_negative(f"{self.symbol}: min_notional", self.min_notional)
        if self.max_market_amount is not None:
            require_finite_positive(f"{self.symbol}: max_market_amount", self.max_market_amount)

    def to_contracts(self, size: float) -> float:
        """A size in base units, in contracts (not rounded)."""
        return size / self.contract_size

    def to_size(self, contracts: float) -> float:
        """Contracts in base units."""
        return clean_float(contracts * self.contract_size)

    def amount_up(self, contracts: float) -> float:
        """Contracts rounded **up** to the amount step: the rounding for an amount to sell."""
        steps = math.ceil(contracts / self.amount_step - STEP_TOLERANCE)
        return clean_float(max(0, steps) * self.amount_step)

    def amount_down(self, contracts: float) -> float:
        """Contracts rounded **down** to the amount step: the rounding for a size to keep."""
        steps = math.floor(contracts / self.amount_step + STEP_TOLERANCE)
        return clean_float(max(0, steps) * self.amount_step)

    def contract_value(self, mark: float, *, inverse: bool = False) -> float:
        """The quote-currency value of one contract at ``mark``."""
        return self.contract_size if inverse else self.contract_size * mark

    def min_order(self, mark: float, *, inverse: bool = False) -> float:
        """The smallest valid order in contracts at ``mark``: the minimum amount, the minimum
        notional and one step, whichever is largest, as a whole number of steps."""
        smallest = max(self.min_amount, self.amount_step)
        if self.min_notional:
            smallest = max(smallest, self.min_notional / self.contract_value(mark, inverse=inverse))
        return self.amount_up(smallest)

    def stop_price(self, price: float, side: Side, mark: float) -> float | None:
        """A stop for a ``side`` position rounded to the tick toward the mark (more protective),
        or away from it when toward would reach the mark; ``None`` if on the wrong side."""
        ticks = price / self.price_tick
        up = math.ceil(ticks - STEP_TOLERANCE)
        down = math.floor(ticks + STEP_TOLERANCE)
        for candidate in (up, down) if side is Side.LONG else (down, up):
            rounded = clean_float(candidate * self.price_tick)
            if rounded > 0 and side.sign * (mark - rounded) > 0:
                return rounded
        return None
