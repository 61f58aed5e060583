"""Carry out a plan through the exchange port, journalling every step before it is taken.

Guarantees:
- **Journal first.** The plan, then each order's intent (with its client id), is written before
  anything is sent; the outcome is written as soon as it is known.
- **Deterministic client ids** (:mod:`riskguard.guard.enforce.order_ids`): the same planned order
  always carries the same id, so a resend after a timeout cannot create a second order.
- **A timed-out order is looked up by its id** before it is sent again, and sent again with the
  same id only when the venue does not know it.
- **Never add exposure.** Orders are reduce-only market orders in the closing direction of a
  position that exists in the snapshot; anything else is refused before it reaches the port.
- **Rejections**: a rejected reduction is retried once at half the size, then a critical alert.
- **add_margin is never retried blindly** (OKX applies it and still raises): after an error the
  position is read back and the result journalled.
- **A reduction's margin put-back never exceeds what the reduction freed.** When a plan reduces
  an isolated position and adds margin to it, the margin added is at most the closed part's
  equity at its actual fills (its released margin plus realised PnL, less fees): rules size the
  put-back at the mark, and in a fast market the fill can be far worse, so adding the planned
  amount would move money from the wallet into the position the guard is getting out of. A
  rejected reduction frees only what filled before it failed; when the fills are unknown,
  nothing is added.
- **Stops are replaced safely**: the new stop is placed before the guard's old one is cancelled;
  the bot's own stops are never touched.
- **Dry run** journals and alerts everything and sends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import ccxt.async_support as ccxt
import structlog

from riskguard.clock import Clock
from riskguard.domain import AccountSnapshot, MarginMode, OpenStop, Position, Side
from riskguard.exchange.errors import short_text
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_ids import client_order_id
from riskguard.guard.enforce.quirks import OrderQuirks, quirks_for, reduce_params, stop_params
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.risk.account import closed_part_equity

AlertFn = Callable[[Level, str, Mapping[str, Any]], None]

_LOG = structlog.get_logger("riskguard.executor")


class Port(Protocol):
    """The ccxt methods the executor uses."""

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    async def cancel_order(
        self,
        id: str,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    async def fetch_order(
        self,
        id: str | None,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    async def add_margin(
        self, symbol: str, amount: float, params: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    async def set_leverage(
        self, leverage: float, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order of a step, in contracts, in the closing direction."""

    symbol: str
    side: str
    contracts: float
    part: int


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened to one planned action."""

    kind: ActionKind
    symbol: str | None
    status: str
    client_ids: tuple[str, ...] = ()
    exchange_ids: tuple[str, ...] = ()
    filled_contracts: float = 0.0
    error: str | None = None
    fills: Fills | None = None
    """For a reduction: what its orders filled, when the venue said (else ``None``)."""


@dataclass(frozen=True, slots=True)
class Fills:
    """What a reduction's orders filled: size (the position's units), value at the fill
    prices (size x average), and fees in the settlement currency."""

    size: float
    value: float
    fee: float

    @property
    def average(self) -> float:
        return self.value / self.size


@dataclass
class ExecutorConfig:
    """Settings of the executor."""

    prefix: str = "rg"
    dry_run: bool = False
    contract_sizes: Mapping[str, float] = field(default_factory=dict)
    amount_steps: Mapping[str, float] = field(default_factory=dict)


class Executor:
    """Sends one account's plans through its port."""

    def __init__(
        self,
        port: Port,
        *,
        account: str,
        exchange_id: str,
        journal: Journal,
        clock: Clock,
        alert: AlertFn,
        config: ExecutorConfig,
        hedged: bool = False,
    ) -> None:
        self.port = port
        self.account = account
        self.journal = journal
        self.clock = clock
        self.alert = alert
        self.config = config
        self.quirks: OrderQuirks = quirks_for(exchange_id)
        self.hedged = hedged

    # ------------------------------------------------------------------ journal

    def _log(self, entry: str, **payload: Any) -> None:
        """Journal first, then the log line, both with the figures."""
        self.journal.append(entry, self.account, self.clock.now_ms(), payload)
        _LOG.info(entry, **{"account": self.account, **payload})

    # ------------------------------------------------------------------ entry

    async def execute(
        self,
        plan_id: str,
        actions: Sequence[tuple[Action, Sequence[float]]],
        snapshot: AccountSnapshot,
        open_stops: Sequence[OpenStop] = (),
    ) -> list[StepOutcome]:
        """Carry out ``actions`` (each with its order sizes in contracts, when it has orders)."""
        self._log(
            "plan",
            plan_id=plan_id,
            dry_run=self.config.dry_run,
            steps=[_describe(a, parts) for a, parts in actions],
        )
        outcomes = []
        freed: dict[tuple[str, Side], float | None] = {}
        for action, parts in actions:
            position = _find(snapshot, action)
            if action.kind is ActionKind.ADD_MARGIN and position is not None:
                key = (position.symbol, position.side)
                if key in freed:
                    outcomes.append(await self._put_back(plan_id, action, position, freed[key]))
                    continue
            try:
                outcome = await self._step(plan_id, action, parts, position, open_stops)
            except ccxt.BaseError as exc:  # pragma: no cover - each path handles its own
                outcome = StepOutcome(action.kind, action.symbol, "failed", error=short_text(exc))
            outcomes.append(outcome)
            if (
                action.kind in (ActionKind.REDUCE, ActionKind.CLOSE)
                and position is not None
                and position.margin_mode is MarginMode.ISOLATED
                and outcome.status != "dry_run"
            ):
                # A refused or failed reduction freed nothing (or only what filled before it
                # failed): its put-back is capped the same way.
                freed[(position.symbol, position.side)] = (
                    0.0 if outcome.status == "refused" else _freed(position, outcome.fills)
                )
        return outcomes

    async def _put_back(
        self, plan_id: str, action: Action, position: Position, freed: float | None
    ) -> StepOutcome:
        """An ADD_MARGIN after a reduction of the same position in this plan: capped at what
        the reduction freed (``None``: its fills are unknown, so nothing is added)."""
        planned = action.margin or 0.0
        amount = planned if freed is None else min(planned, freed)
        if freed is None or not amount > 0:
            why = (
                "the reduction's fills are unknown"
                if freed is None
                else f"the reduction freed {freed:.2f}, nothing to put back"
            )
            self._log(
                "margin_skipped",
                plan_id=plan_id,
                symbol=position.symbol,
                side=position.side.value,
                planned=planned,
                freed=freed,
                reason=why,
            )
            return StepOutcome(action.kind, action.symbol, "skipped", error=why)
        if amount < planned:
            self._log(
                "margin_capped",
                plan_id=plan_id,
                symbol=position.symbol,
                side=position.side.value,
                planned=planned,
                amount=amount,
                reason="the reduction filled worse than planned: put back only what it freed",
            )
            action = replace(action, margin=amount)
        return await self._add_margin(plan_id, action, position)

    async def _step(
        self,
        plan_id: str,
        action: Action,
        parts: Sequence[float],
        position: Position | None,
        open_stops: Sequence[OpenStop],
    ) -> StepOutcome:
        if action.kind is ActionKind.ALERT:
            self._alert(action.level, action.reason, action)
            return StepOutcome(action.kind, action.symbol, "alerted")
        if position is None or action.symbol is None or action.side is None:
            self._log("step_refused", reason="no such position", action=_describe(action, parts))
            return StepOutcome(action.kind, action.symbol, "refused", error="no such position")
        if action.kind in (ActionKind.REDUCE, ActionKind.CLOSE):
            return await self._reduce(plan_id, action, parts, position)
        if action.kind is ActionKind.PLACE_STOP:
            return await self._stop(plan_id, action, position, open_stops)
        if action.kind is ActionKind.ADD_MARGIN:
            return await self._add_margin(plan_id, action, position)
        return await self._set_leverage(plan_id, action, position)

    def _alert(self, level: Level, message: str, action: Action | None = None) -> None:
        payload: dict[str, Any] = {"account": self.account}
        if action is not None:
            payload.update(
                rule=action.rule,
                symbol=action.symbol,
                side=action.side.value if action.side else None,
                figures=dict(action.figures),
            )
        self._log("alert", level=level.name, message=message, **payload)
        self.alert(level, message, payload)

    # ------------------------------------------------------------------ reductions

    async def _reduce(
        self, plan_id: str, action: Action, parts: Sequence[float], position: Position
    ) -> StepOutcome:
        closing_side = "sell" if position.side is Side.LONG else "buy"
        contract_size = self.config.contract_sizes.get(position.symbol, position.contract_size)
        held = position.size / contract_size
        requests = []
        total = 0.0
        for i, wanted in enumerate(parts):
            if not (math.isfinite(wanted) and wanted > 0):
                continue
            contracts = min(wanted, held - total)
            if contracts <= 0:
                break
            total += contracts
            requests.append(OrderRequest(position.symbol, closing_side, contracts, i))
        if not requests:
            self._log("step_refused", reason="nothing to reduce", action=_describe(action, parts))
            return StepOutcome(action.kind, action.symbol, "refused", error="nothing to reduce")
        cids: list[str] = []
        ids: list[str] = []
        filled = 0.0
        fills: Fills | None = Fills(0.0, 0.0, 0.0)
        for request in requests:
            cid = client_order_id(
                self.config.prefix,
                self.account,
                request.symbol,
                position.side.value,
                action.kind.value,
                plan_id,
                request.part,
            )
            cids.append(cid)
            params = reduce_params(self.quirks, cid, position.margin_mode, self.hedged)
            self._log(
                "order_intent",
                plan_id=plan_id,
                client_id=cid,
                symbol=request.symbol,
                side=request.side,
                contracts=request.contracts,
                kind=action.kind.value,
                rule=action.rule,
                level=action.level.name,
                reason=action.reason,
                size_before=action.size_before,
                target_size=action.target_size,
                figures=dict(action.figures),
            )
            if self.config.dry_run:
                self._log("order_dry_run", client_id=cid)
                continue
            order = await self._send_market(request, cid, params)
            if order is None:
                order = await self._smaller(plan_id, action, request, position)
            if order is None:
                self._alert(
                    Level.CRITICAL,
                    f"could not reduce {position.symbol} {position.side.value}: "
                    f"{request.contracts:g} contracts rejected, also at half size",
                    action,
                )
                return StepOutcome(
                    action.kind,
                    action.symbol,
                    "failed",
                    tuple(cids),
                    tuple(ids),
                    filled,
                    fills=fills,
                )
            ids.append(str(order.get("id")))
            filled += float(order.get("filled") or 0.0)
            if fills is not None:
                got = await self._fills_of(order, position, contract_size)
                fills = None if got is None else _add_fills(fills, got)
        if self.config.dry_run:
            return StepOutcome(action.kind, action.symbol, "dry_run", tuple(cids), tuple(ids))
        return StepOutcome(
            action.kind, action.symbol, "sent", tuple(cids), tuple(ids), filled, fills=fills
        )

    async def _fills_of(
        self, order: Mapping[str, Any], position: Position, contract_size: float
    ) -> Fills | None:
        """The fills of a sent market order, from its response or else read back by its id.

        ``None`` when neither says how much filled and at what average price."""
        got = _order_fills(order, position, contract_size)
        if got is None and order.get("id") is not None:
            try:
                fetched = await self.port.fetch_order(str(order["id"]), position.symbol)
            except ccxt.BaseError as exc:
                self._log("fill_unknown", order_id=order.get("id"), error=short_text(exc))
                return None
            got = _order_fills(fetched, position, contract_size)
        if got is None:
            self._log("fill_unknown", order_id=order.get("id"), error="no fill in the order")
        return got

    async def _send_market(
        self, request: OrderRequest, cid: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Send once; after a timeout look the order up by id, resend only if it is unknown."""
        for attempt in range(2):
            try:
                order = await self.port.create_order(
                    request.symbol, "market", request.side, request.contracts, None, dict(params)
                )
            except ccxt.InvalidOrder as exc:
                found = await self._lookup(request.symbol, cid)
                if found is not None:
                    self._log("order_found", client_id=cid, after="rejection", order_id=found["id"])
                    return found
                self._log("order_failed", client_id=cid, error=short_text(exc), attempt=attempt)
                return None
            except (ccxt.RequestTimeout, ccxt.NetworkError) as exc:
                found = await self._lookup(request.symbol, cid)
                if found is not None:
                    self._log("order_found", client_id=cid, after="timeout", order_id=found["id"])
                    return found
                self._log("order_unknown", client_id=cid, error=short_text(exc), attempt=attempt)
                continue
            except ccxt.BaseError as exc:
                self._log("order_failed", client_id=cid, error=short_text(exc), attempt=attempt)
                return None
            self._log(
                "order_sent",
                client_id=cid,
                order_id=order.get("id"),
                status=order.get("status"),
                filled=order.get("filled"),
                average=order.get("average"),
            )
            return order
        return None

    async def _lookup(self, symbol: str, cid: str) -> dict[str, Any] | None:
        try:
            return await self.port.fetch_order(None, symbol, {"clientOrderId": cid})
        except ccxt.OrderNotFound:
            return None
        except ccxt.BaseError as exc:
            self._log("lookup_failed", client_id=cid, error=short_text(exc))
            return None

    async def _smaller(
        self, plan_id: str, action: Action, request: OrderRequest, position: Position
    ) -> dict[str, Any] | None:
        step = self.config.amount_steps.get(request.symbol, 0.0)
        half = request.contracts / 2
        if step > 0:
            half = math.floor(half / step + 1e-9) * step
        if half <= 0:
            return None
        cid = client_order_id(
            self.config.prefix,
            self.account,
            request.symbol,
            position.side.value,
            action.kind.value,
            plan_id,
            request.part,
            "half",
        )
        self._log(
            "order_intent",
            plan_id=plan_id,
            client_id=cid,
            symbol=request.symbol,
            side=request.side,
            contracts=half,
            kind=action.kind.value,
            retry="half",
        )
        params = reduce_params(self.quirks, cid, position.margin_mode, self.hedged)
        smaller = OrderRequest(request.symbol, request.side, half, request.part)
        return await self._send_market(smaller, cid, params)

    # ------------------------------------------------------------------ stops

    async def _stop(
        self,
        plan_id: str,
        action: Action,
        position: Position,
        open_stops: Sequence[OpenStop],
    ) -> StepOutcome:
        price = action.stop_price
        if price is None or not price > 0:
            return StepOutcome(action.kind, action.symbol, "refused", error="no stop price")
        closing_side = "sell" if position.side is Side.LONG else "buy"
        contract_size = self.config.contract_sizes.get(position.symbol, position.contract_size)
        contracts = (action.target_size or position.size) / contract_size
        contracts = min(contracts, position.size / contract_size)
        cid = client_order_id(
            self.config.prefix,
            self.account,
            position.symbol,
            position.side.value,
            "stop",
            plan_id,
        )
        own_old = [
            s
            for s in open_stops
            if s.guard_owned and s.symbol == position.symbol and s.protects is position.side
        ]
        self._log(
            "order_intent",
            plan_id=plan_id,
            client_id=cid,
            symbol=position.symbol,
            side=closing_side,
            contracts=contracts,
            kind="stop",
            stop_price=price,
            replaces=[s.order_id for s in own_old],
            rule=action.rule,
            reason=action.reason,
            figures=dict(action.figures),
        )
        if self.config.dry_run:
            self._log("order_dry_run", client_id=cid)
            return StepOutcome(action.kind, action.symbol, "dry_run", (cid,))
        params = stop_params(self.quirks, cid, price, position.margin_mode, self.hedged)
        request = OrderRequest(position.symbol, closing_side, contracts, 0)
        order = await self._send_market(request, cid, params)
        if order is None:
            self._alert(Level.CRITICAL, f"could not place a stop for {position.symbol}", action)
            return StepOutcome(action.kind, action.symbol, "failed", (cid,))
        for old in own_old:
            try:
                await self.port.cancel_order(
                    old.order_id, old.symbol, dict(self.quirks.cancel_stop_params)
                )
                self._log("stop_cancelled", order_id=old.order_id, replaced_by=cid)
            except ccxt.BaseError as exc:
                self._log("stop_cancel_failed", order_id=old.order_id, error=short_text(exc))
        return StepOutcome(action.kind, action.symbol, "sent", (cid,), (str(order.get("id")),))

    # ------------------------------------------------------------------ margin and leverage

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
        try:
            await self.port.add_margin(position.symbol, amount, params)
        except (ccxt.BaseError, TypeError) as exc:
            # Some venues apply the change and still raise: read back, never retry blindly.
            after = await self._read_back(position.symbol)
            error = short_text(exc)
            self._log("margin_unknown", symbol=position.symbol, error=error, position=after)
            self._alert(Level.WARN, f"adding margin to {position.symbol} failed: {error}", action)
            return StepOutcome(action.kind, action.symbol, "unknown", error=short_text(exc))
        self._log("margin_added", symbol=position.symbol, side=position.side.value, amount=amount)
        return StepOutcome(action.kind, action.symbol, "sent")

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
        ]

    async def _set_leverage(self, plan_id: str, action: Action, position: Position) -> StepOutcome:
        # Venues take whole leverages (Binance refuses 5.0 with -1100): round down, never up.
        target = None if action.leverage is None else max(1, math.floor(action.leverage))
        if target is None or position.leverage is None or not target < position.leverage:
            return StepOutcome(action.kind, action.symbol, "refused", error="would not lower")
        self._log("leverage_intent", plan_id=plan_id, symbol=position.symbol, leverage=target)
        if self.config.dry_run:
            return StepOutcome(action.kind, action.symbol, "dry_run")
        try:
            await self.port.set_leverage(target, position.symbol)
        except ccxt.BaseError as exc:
            self._log("leverage_failed", symbol=position.symbol, error=short_text(exc))
            return StepOutcome(action.kind, action.symbol, "failed", error=short_text(exc))
        self._log("leverage_set", symbol=position.symbol, leverage=target)
        return StepOutcome(action.kind, action.symbol, "sent")


def _find(snapshot: AccountSnapshot, action: Action) -> Position | None:
    for p in snapshot.positions:
        if p.symbol == action.symbol and p.side is action.side:
            return p
    return None


def _describe(action: Action, parts: Sequence[float]) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "symbol": action.symbol,
        "side": action.side.value if action.side else None,
        "rule": action.rule,
        "level": action.level.name,
        "reason": action.reason,
        "size_before": action.size_before,
        "target_size": action.target_size,
        "margin": action.margin,
        "leverage": action.leverage,
        "stop_price": action.stop_price,
        "orders_contracts": list(parts),
    }


def _order_fills(
    order: Mapping[str, Any], position: Position, contract_size: float
) -> Fills | None:
    """Size, value and fee of an order's fills, or ``None`` when the order does not say."""
    filled = _positive(order.get("filled"))
    average = _positive(order.get("average"))
    if filled is None or average is None:
        return None
    size = filled * contract_size
    return Fills(size, size * average, _fee(order, position, size, average))


def _fee(order: Mapping[str, Any], position: Position, size: float, average: float) -> float:
    """Fees paid in the settlement currency; the taker rate on the traded value when not
    reported (an inverse contract's value is in the base coin: its size over the price)."""
    settle = position.symbol.partition(":")[2]
    fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
    paid = [
        float(f["cost"])
        for f in fees
        if isinstance(f, Mapping) and f.get("cost") is not None and f.get("currency") == settle
    ]
    if paid:
        return sum(paid)
    value = size / average if position.inverse else size * average
    return value * position.taker_fee


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _add_fills(a: Fills, b: Fills) -> Fills:
    return Fills(a.size + b.size, a.value + b.value, a.fee + b.fee)


def _freed(position: Position, fills: Fills | None) -> float | None:
    """What a reduction of an isolated position moved to the wallet, at its actual fills."""
    if fills is None:
        return None
    if fills.size <= 0:
        return 0.0
    closed = min(fills.size, position.size)
    return closed_part_equity(position, closed, fills.average, fills.fee)
