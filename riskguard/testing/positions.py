"""Builders of positions and account snapshots with defaults that make a valid account.

``position()`` is a 1 BTC isolated long on ``BTC/USDT:USDT`` entered and marked at 100,000, at
10x leverage (so 10,000 of collateral) with a flat 0.5% maintenance rate and no fee; every field
of :class:`~riskguard.domain.Position` can be given by keyword. ``snapshot(*positions)`` is a
Binance account with 10,000 in the cross wallet, taken at 2025-01-01 00:00 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier

BTC = "BTC/USDT:USDT"
"""The symbol the builders default to: Binance's BTC perpetual settled in USDT."""

TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)
"""When a built snapshot is taken unless told otherwise: 2025-01-01 00:00 UTC."""

DEFAULT_MAINTENANCE_MARGIN_RATE = 0.005
"""The flat maintenance rate of a built position that is given no other margin data."""


def position(
    *,
    symbol: str = BTC,
    side: Side = Side.LONG,
    size: float = 1.0,
    entry_price: float = 100_000.0,
    mark_price: float | None = None,
    margin_mode: MarginMode = MarginMode.ISOLATED,
    leverage: float | None = 10.0,
    collateral: float | None = None,
    contract_size: float = 1.0,
    tiers: Sequence[Tier] = (),
    maintenance_margin_rate: float | None = None,
    maintenance_amount: float = 0.0,
    taker_fee: float = 0.0,
    max_leverage: float | None = None,
    inverse: bool = False,
) -> Position:
    """A :class:`~riskguard.domain.Position`, built by its own constructor (which checks it).

    The keywords are the position's fields. Three have defaults that depend on the others:

    - ``mark_price``: the entry price when not given (a position just opened);
    - ``collateral``: for an isolated position given none, the initial margin of ``leverage``:
      ``size * entry_price / leverage`` (``size / entry_price / leverage`` in the base coin for
      an ``inverse`` contract). Give ``leverage=None`` and no collateral to leave it unset (the
      risk core then refuses the isolated position). A cross position keeps what is given;
    - ``maintenance_margin_rate``: :data:`DEFAULT_MAINTENANCE_MARGIN_RATE` (0.5%) when neither
      it, ``tiers`` nor ``max_leverage`` (Hyperliquid's source) describes the margin.

    So every built position can be evaluated by the risk core. For one it must refuse (isolated
    without collateral, or no margin data at all), construct the ``Position`` directly.
    """
    if collateral is None and margin_mode is MarginMode.ISOLATED and leverage is not None:
        value = size / entry_price if inverse else size * entry_price
        collateral = value / leverage
    if maintenance_margin_rate is None and not tiers and max_leverage is None:
        maintenance_margin_rate = DEFAULT_MAINTENANCE_MARGIN_RATE
    return Position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=entry_price,
        mark_price=entry_price if mark_price is None else mark_price,
        margin_mode=margin_mode,
        leverage=leverage,
        collateral=collateral,
        contract_size=contract_size,
        tiers=tuple(tiers),
        maintenance_margin_rate=maintenance_margin_rate,
        maintenance_amount=maintenance_amount,
        taker_fee=taker_fee,
        max_leverage=max_leverage,
        inverse=inverse,
    )


def snapshot(
    *positions: Position,
    venue: str = "binance",
    wallet_balance: float = 10_000.0,
    taken_at: datetime = TAKEN_AT,
    account: str = "default",
    notes: Sequence[str] = (),
) -> AccountSnapshot:
    """An :class:`~riskguard.domain.AccountSnapshot` holding ``positions`` in the order given.

    ``wallet_balance`` is the cross wallet (unrealised PnL excluded); isolated positions bring
    their own collateral. No positions make an empty account. ``account`` keeps the domain's
    default id, ``"default"``.
    """
    return AccountSnapshot(
        venue=venue,
        wallet_balance=wallet_balance,
        positions=positions,
        taken_at=taken_at,
        account=account,
        notes=tuple(notes),
    )
