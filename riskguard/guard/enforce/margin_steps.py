"""The executor's margin and leverage steps: add margin to an isolated position, lower leverage.

``add_margin`` is never retried blindly: some venues (OKX) apply it and still raise, so after an
error the position is read back and the collateral it shows decides what is journalled and
alerted (:meth:`MarginSteps._margin_in_doubt`): applied, not applied, or unknown. Leverage is
only ever lowered, to a whole number. Each call goes out once its intent is durable.
"""

from __future__ import annotations

import math
from typing import Any

import ccxt.async_support as ccxt

from riskguard.domain import MarginMode, Position
from riskguard.exchange.errors import short_text
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.outcomes import StepOutcome
from riskguard.guard.rules.base import Action, Level


class MarginSteps:
    """Margin and leverage steps, mixed into :class:`~riskguard.guard.enforce.executor.Executor`."""

    port: Any
    journal: Journal
    hedged: bool
    config: Any

    def _log(self, entry: str, **payload: Any) -> None:
        raise NotImplementedError

    def _alert(self, level: Level, message: str, action: Action | None = None) -> None:
        raise NotImplementedError

    def _fact(self, kind: str, action: Action, **payload: Any) -> None:
        raise NotImplementedError

    async def _add_margin(self, plan_id: str, action: Action, position: Position) -> StepOutcome:
        amount = action.margin
        if amount is None or not amount > 0 or position.margin_mode is not MarginMode.ISOLATED:
            return StepOutcome(action.kind, action.symbol, "refused", error="not addable")
        self._log(
            "margin_intent",
            plan_id=plan_id,
            symbol=position.symbol,
            side=position.side.value,
            amount=amount,
            rule=action.rule,
            reason=action.reason,
        )
        if self.config.dry_run:
            return StepOutcome(action.kind, action.symbol, "dry_run")
        params: dict[str, Any] = {}
        if self.hedged:
            params["positionSide"] = position.side.value.upper()
        await self.journal.durable()
        try:
            await self.port.add_margin(position.symbol, amount, params)
        except (ccxt.BaseError, TypeError) as exc:
            # Some venues apply the change and still raise: read back, never retry blindly.
            return await self._margin_in_doubt(action, position, amount, short_text(exc))
        self._fact(
            "margin_added", action, symbol=position.symbol, side=position.side.value, amount=amount
        )
        return StepOutcome(action.kind, action.symbol, "sent")

    async def _margin_in_doubt(
        self, action: Action, position: Position, amount: float, error: str
    ) -> StepOutcome:
        """``add_margin`` raised: the position read back says whether the venue applied it.

        Applied when its collateral grew by at least half the amount (the mark moves the
        collateral of venues that count unrealised PnL in it a little between the two reads),
        not applied when it grew by less than a tenth; anything between, or a read-back that
        fails, is unknown. Only "not applied" is alerted as a failure."""
        after = await self._read_back(position.symbol)
        grown = _collateral_growth(after, position)
        where = f"{position.symbol} {position.side.value}"
        if grown is not None and grown >= 0.5 * amount:
            self._fact(
                "margin_added",
                action,
                symbol=position.symbol,
                side=position.side.value,
                amount=amount,
                after="read back",
                error=error,
                position=after,
            )
            return StepOutcome(action.kind, action.symbol, "sent")
        if grown is not None and grown < 0.1 * amount:
            self._log("margin_failed", symbol=position.symbol, error=error, position=after)
            self._alert(Level.WARN, f"adding margin to {where} failed: {error}", action)
            return StepOutcome(action.kind, action.symbol, "failed", error=error)
        self._log("margin_unknown", symbol=position.symbol, error=error, position=after)
        self._alert(
            Level.WARN,
            f"adding margin to {where}: the venue answered {error} and the position read back "
            "does not say whether it was applied",
            action,
        )
        return StepOutcome(action.kind, action.symbol, "unknown", error=error)

    async def _read_back(self, symbol: str) -> list[dict[str, Any]] | str:
        try:
            rows = await self.port.fetch_positions([symbol])
        except ccxt.BaseError as exc:
            return f"read back failed: {exc}"
        return [
            {
                "side": r.get("side"),
                "contracts": r.get("contracts"),
                "collateral": r.get("collateral"),
            }
            for r in rows
            if r.get("symbol") in (None, symbol)
        ]

    async def _set_leverage(self, plan_id: str, action: Action, position: Position) -> StepOutcome:
        # Venues take whole leverages (Binance refuses 5.0 with -1100): round down, never up.
        target = None if action.leverage is None else max(1, math.floor(action.leverage))
        if target is None or position.leverage is None or not target < position.leverage:
            return StepOutcome(action.kind, action.symbol, "refused", error="would not lower")
        self._log("leverage_intent", plan_id=plan_id, symbol=position.symbol, leverage=target)
        if self.config.dry_run:
            return StepOutcome(action.kind, action.symbol, "dry_run")
        await self.journal.durable()
        try:
            await self.port.set_leverage(target, position.symbol)
        except ccxt.BaseError as exc:
            self._log("leverage_failed", symbol=position.symbol, error=short_text(exc))
            return StepOutcome(action.kind, action.symbol, "failed", error=short_text(exc))
        self._fact("leverage_set", action, symbol=position.symbol, leverage=target)
        return StepOutcome(action.kind, action.symbol, "sent")


def _collateral_growth(rows: list[dict[str, Any]] | str, position: Position) -> float | None:
    """How much the position's collateral grew since the snapshot; None when unknown."""
    if isinstance(rows, str) or position.collateral is None:
        return None
    mine = [r for r in rows if r.get("side") == position.side.value]
    if len(mine) != 1:
        return None
    try:
        now = float(mine[0].get("collateral") or "nan")
    except (TypeError, ValueError):
        return None
    return now - position.collateral if math.isfinite(now) else None
