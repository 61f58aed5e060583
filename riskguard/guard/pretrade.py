"""Pre-trade check for bots: would this order leave the account where the guard would act?

A bot calls :func:`pre_trade_check` with the account snapshot, the order it is about to send and
the guard's rules. The order is applied to a copy of the snapshot as if filled at the expected
price, the risk core evaluates the result, and every rule judges it (without memory, so without
hysteresis: a fresh look). The verdict is ``deny`` when a rule would act on the result (reduce,
close or add margin), ``warn`` when one reports a finding, ``allow`` otherwise, with the
post-trade liquidation price, distance and potential shortfall, and the findings that object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier
from riskguard.errors import InputError
from riskguard.guard.rules.base import ActionKind, Finding, Level, Rule, RuleInput
from riskguard.risk.evaluation import RiskSettings, evaluate_account

NOT_JUDGED = frozenset({"stop_loss", "stale_data"})
"""Rule types that do not judge an entry: the guard keeps the stop itself, and a bot that can
fetch a snapshot has fresh data."""


_ACTING = frozenset({ActionKind.REDUCE, ActionKind.CLOSE, ActionKind.ADD_MARGIN})


class Decision(StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """An order a bot wants to send. ``size`` in base units; ``price`` the expected fill.

    For a symbol the account does not hold yet, give its margin data (``tiers`` or
    ``maintenance_margin_rate``), the ``margin_mode`` and, for isolated, the ``leverage``.
    """

    symbol: str
    side: str
    size: float
    price: float
    margin_mode: MarginMode | None = None
    leverage: float | None = None
    tiers: tuple[Tier, ...] = ()
    maintenance_margin_rate: float | None = None
    taker_fee: float = 0.0
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class PreTradeVerdict:
    """The answer, with the numbers behind it."""

    decision: Decision
    liquidation_price: float | None
    distance_pct: float | None
    shortfall: float
    account_margin_ratio: float
    objections: tuple[Finding, ...]
    profile: str = ""
    """The venue profile the figures come from."""
    approximate: bool = False
    """True when that profile is approximate (``generic``): the figures are estimates."""

    @property
    def allowed(self) -> bool:
        return self.decision is not Decision.DENY


def apply_order(snapshot: AccountSnapshot, order: ProposedOrder) -> AccountSnapshot:
    """The snapshot as it would be after ``order`` filled at its price (one-way mode)."""
    if order.side not in ("buy", "sell"):
        raise InputError(f"order.side: must be buy or sell, got {order.side!r}")
    if not (order.size > 0 and order.price > 0):
        raise InputError("order.size and order.price: must be positive")
    side = Side.LONG if order.side == "buy" else Side.SHORT
    positions = list(snapshot.positions)
    index = next((i for i, p in enumerate(positions) if p.symbol == order.symbol), None)
    fee = order.size * order.price * order.taker_fee
    wallet = snapshot.wallet_balance
    if index is None:
        if order.reduce_only:
            return snapshot
        positions.append(_new_position(order, side))
    else:
        current = positions[index]
        if current.side is side:
            if order.reduce_only:
                return snapshot
            size = current.size + order.size
            entry = (current.entry_price * current.size + order.price * order.size) / size
            collateral = current.collateral
            if current.margin_mode is MarginMode.ISOLATED:
                lev = order.leverage or current.leverage
                if lev is None:
                    raise InputError("order.leverage: needed to add to an isolated position")
                collateral = (collateral or 0.0) + order.size * order.price / lev
            positions[index] = replace(current, size=size, entry_price=entry, collateral=collateral)
        else:
            closed = min(order.size, current.size)
            realised = current.side.sign * closed * (order.price - current.entry_price)
            rest = current.size - closed
            if current.margin_mode is MarginMode.CROSS:
                wallet += realised
            if rest > 1e-12 * current.size:
                collateral = current.collateral
                if collateral is not None:
                    collateral *= rest / current.size
                positions[index] = replace(current, size=rest, collateral=collateral)
            else:
                positions.pop(index)
            flip = order.size - closed
            if flip > 0 and not order.reduce_only:
                # The flipped remainder keeps the market's margin data and the position's mode.
                collateral = None
                if current.margin_mode is MarginMode.ISOLATED:
                    lev = order.leverage or current.leverage
                    if lev is None:
                        raise InputError("order.leverage: needed to flip an isolated position")
                    collateral = flip * order.price / lev
                positions.append(
                    replace(
                        current,
                        side=side,
                        size=flip,
                        entry_price=order.price,
                        collateral=collateral,
                    )
                )
    if positions and any(p.margin_mode is MarginMode.CROSS for p in positions):
        wallet -= fee
    marked = [
        replace(p, mark_price=order.price) if p.symbol == order.symbol else p for p in positions
    ]
    return replace(snapshot, wallet_balance=wallet, positions=tuple(marked))


def _new_position(order: ProposedOrder, side: Side) -> Position:
    mode = order.margin_mode or MarginMode.CROSS
    collateral = None
    if mode is MarginMode.ISOLATED:
        if order.leverage is None:
            raise InputError("order.leverage: needed for a new isolated position")
        collateral = order.size * order.price / order.leverage
    if not order.tiers and order.maintenance_margin_rate is None:
        raise InputError(
            f"order: {order.symbol} is not held yet; give tiers or maintenance_margin_rate"
        )
    return Position(
        symbol=order.symbol,
        side=side,
        size=order.size,
        entry_price=order.price,
        mark_price=order.price,
        margin_mode=mode,
        leverage=order.leverage,
        collateral=collateral,
        tiers=order.tiers,
        maintenance_margin_rate=order.maintenance_margin_rate,
        taker_fee=order.taker_fee,
    )


def pre_trade_check(
    snapshot: AccountSnapshot,
    order: ProposedOrder,
    rules: Sequence[Rule],
    *,
    now: datetime,
    horizon_s: float,
    settings: RiskSettings | None = None,
    free_balance: float = 0.0,
) -> PreTradeVerdict:
    """Judge ``order`` by the account it would leave behind."""
    after = apply_order(snapshot, order)
    evaluation = evaluate_account(after, settings)
    data = RuleInput(after, evaluation, now, horizon_s, free_balance)
    objections: list[Finding] = []
    deny = False
    for rule in rules:
        if rule.rule_type in NOT_JUDGED or not rule.applies_to(after.account, order.symbol):
            continue
        result = rule.evaluate(data, {})
        objections.extend(
            f for f in result.findings if f.symbol in (None, order.symbol) and f.level >= Level.WARN
        )
        # Deny only where the guard would act on the result (reduce, close, add margin):
        # a finding that would only be reported (concentration in a one-asset bot) warns.
        deny = deny or any(
            a.level >= Level.ACT
            and a.kind in _ACTING
            and (a.symbol is None or a.symbol == order.symbol)
            for a in result.actions
        )
    decision = Decision.DENY if deny else Decision.WARN if objections else Decision.ALLOW
    item = next((e for e in evaluation.positions if e.risk.symbol == order.symbol), None)
    return PreTradeVerdict(
        decision=decision,
        liquidation_price=item.risk.liquidation_price if item else None,
        distance_pct=None
        if item is None or item.risk.distance is None
        else item.risk.distance * 100,
        shortfall=item.shortfall if item else evaluation.potential_shortfall,
        account_margin_ratio=evaluation.risk.margin_ratio,
        objections=tuple(objections),
        profile=evaluation.risk.venue,
        approximate=evaluation.risk.approximate,
    )
