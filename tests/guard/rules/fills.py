"""The account after a rule's actions fill at the mark, as the paper venue books them: the
rule tests check their proposals by applying them (shared by the rule tests that move size or
margin)."""

from __future__ import annotations

from dataclasses import replace

from riskguard.domain import AccountSnapshot, MarginMode, Position
from riskguard.guard.rules.base import Action, ActionKind


def apply_at_mark(
    snapshot: AccountSnapshot, actions: tuple[Action, ...], slippage: float = 0.0
) -> AccountSnapshot:
    """The account after the actions fill at the mark, as the paper venue books them."""
    positions: list[Position | None] = list(snapshot.positions)
    wallet = snapshot.wallet_balance
    for action in actions:
        if action.symbol is None:
            continue
        i = next(
            j
            for j, p in enumerate(positions)
            if p is not None and p.symbol == action.symbol and p.side is action.side
        )
        p = positions[i]
        assert p is not None
        if action.kind in (ActionKind.REDUCE, ActionKind.CLOSE):
            assert action.target_size is not None
            closed = p.size - action.target_size
            if p.inverse:
                pnl = p.side.sign * closed * (1 / p.entry_price - 1 / p.mark_price)
                cost = closed / p.mark_price * (p.taker_fee + slippage)
            else:
                pnl = p.side.sign * closed * (p.mark_price - p.entry_price)
                cost = closed * p.mark_price * (p.taker_fee + slippage)
            wallet += pnl - cost
            collateral = p.collateral
            if p.margin_mode is MarginMode.ISOLATED and p.collateral is not None:
                released = p.collateral * closed / p.size
                wallet += released
                collateral = p.collateral - released
            positions[i] = (
                replace(p, size=action.target_size, collateral=collateral)
                if action.target_size > 0
                else None
            )
        elif action.kind is ActionKind.ADD_MARGIN:
            assert action.margin is not None
            assert p.collateral is not None
            wallet -= action.margin
            positions[i] = replace(p, collateral=p.collateral + action.margin)
    return replace(snapshot, wallet_balance=wallet, positions=tuple(p for p in positions if p))
