"""Frozen domain values shared by every layer.

Everything here is a plain value: no I/O, no exchange objects. Sizes are in base units
(contracts x contract size), prices and money in the settlement currency (USDT, USDC, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
    their own collateral.
    """

    venue: str
    wallet_balance: float
    positions: tuple[Position, ...]
    taken_at: datetime
    account: str = "default"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not math.isfinite(self.wallet_balance):
            raise ValueError("wallet_balance must be finite")
        if self.taken_at.tzinfo is None:
            raise ValueError("taken_at must be timezone-aware")


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
