"""Carry out a plan through the exchange port, journalling every step before it is taken.

Guarantees:
- **Journal first.** The plan, then each order's intent (with its client id), is written and
  durable (``await journal.durable()`` before every order, cancel, margin or leverage call)
  before anything is sent; the outcome is written as soon as it is known.
- **Deterministic client ids** (:mod:`riskguard.guard.enforce.order_ids`): the same planned order
  always carries the same id, so a resend after a timeout cannot create a second order.
- **An order is sent again only when it is known not to exist**
  (:mod:`~riskguard.guard.enforce.order_fate`): after a timeout it is looked up by its id where
  that kind of order lives (stops on the venue's trigger endpoints); a lookup that fails leaves it
  ``unknown``, and then nothing more is sent for that position (an alert says so) until a later
  lookup, at the start of a later plan, settles it; a position whose order was settled in this
  plan is not reduced further until the next snapshot counts what filled.
- **Never add exposure.** Orders are reduce-only market orders in the closing direction of a
  position that exists in the snapshot; anything else is refused before it reaches the port.
- **Rejections**: a reduction the venue definitely refused (and does not hold) is retried once at
  half the size, then a critical alert; an unknown outcome is never followed by another order.
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
- **Facts are told as they are journalled**: an order sent or found, margin added, leverage
  lowered, an order in doubt settled: each entry is written with its alert queued in the same
  journal transaction (``record``, the daemon's alert center), so no kill falls between a fill
  and its alert; orders settled at a restart are told by the recovery
  (:func:`riskguard.daemon.recovery.recover_orders`).
- **Dry run** journals and alerts everything and sends nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import ccxt.async_support as ccxt
import structlog

from riskguard.clock import Clock
from riskguard.domain import AccountSnapshot, MarginMode, OpenStop, Position, Side
from riskguard.exchange.errors import short_text
from riskguard.guard.enforce.fills import Fills, add_fills, freed_by, order_fills
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.margin_steps import MarginSteps
from riskguard.guard.enforce.order_fate import (
    OrderPort,
    OrderSender,
    PendingOrder,
    Placement,
    look_up,
)
from riskguard.guard.enforce.order_ids import client_order_id
from riskguard.guard.enforce.outcomes import StepOutcome
from riskguard.guard.enforce.quirks import OrderQuirks, quirks_for, reduce_params, stop_params
from riskguard.guard.enforce.stop_watch import WatchedStop, unwatch
from riskguard.guard.rules.base import Action, ActionKind, Level

AlertFn = Callable[[Level, str, Mapping[str, Any]], None]
RecordFn = Callable[[str, str, int, Mapping[str, Any], Level, str, Mapping[str, Any]], None]
"""``(kind, account, time_ms, payload, level, message, alert_payload)``: journal a fact and
queue its alert in one transaction (:meth:`riskguard.alerts.center.AlertCenter.record`)."""
DescribeFn = Callable[[Action, str, Mapping[str, Any]], tuple[str, dict[str, Any]]]
"""``(action, fact kind, fact payload) -> (message, alert payload)`` of a fact's alert."""

_LOG = structlog.get_logger("riskguard.executor")


class Port(OrderPort, Protocol):
    """The ccxt methods the executor uses: an order's two (:class:`OrderPort`) and these."""

    async def cancel_order(
        self,
        id: str,
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


@dataclass
class ExecutorConfig:
    """Settings of the executor."""

    prefix: str = "rg"
    dry_run: bool = False
    contract_sizes: Mapping[str, float] = field(default_factory=dict)
    amount_steps: Mapping[str, float] = field(default_factory=dict)
    max_market_amounts: Mapping[str, float] = field(default_factory=dict)
    """The largest market order per symbol, in contracts (a stop is no larger)."""


class Executor(MarginSteps):
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
        pending: MutableMapping[str, PendingOrder] | None = None,
        watched: MutableMapping[str, WatchedStop] | None = None,
        record: RecordFn | None = None,
        describe: DescribeFn | None = None,
    ) -> None:
        """``pending``: the account's orders of unknown fate, kept by the caller between plans
        (settled at the start of :meth:`execute`, and added to when an outcome is unknown).
        ``watched``: the account's stops believed open; a stop the venue takes is added, one the
        guard cancels removed (:mod:`~riskguard.guard.enforce.stop_watch`).

        Facts (an order sent or found, margin added, leverage lowered) are told as they are
        journalled: with ``record``, the entry and its alert are one journal transaction, so a
        kill cannot fall between them; without it, the entry is journalled and then ``alert``
        called. ``describe`` words a fact's alert (:func:`default_description` without it)."""
        self.port = port
        self.account = account
        self.journal = journal
        self.clock = clock
        self.alert = alert
        self.config = config
        self.quirks: OrderQuirks = quirks_for(exchange_id)
        self.hedged = hedged
        self.record = record
        self.describe = describe or default_description
        self.sender = OrderSender(port, self.quirks, clock, self._log)
        self.pending: MutableMapping[str, PendingOrder] = {} if pending is None else pending
        self.watched: MutableMapping[str, WatchedStop] = {} if watched is None else watched
        self._blocked: set[tuple[str, str]] = set()

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
        """Carry out ``actions`` (each with its order sizes in contracts, when it has orders),
        after settling the orders of unknown fate. With no actions only that is done."""
        if not actions:
            if not self.config.dry_run:
                await self._settle_pending(plan_id)
            return []
        self._log(
            "plan",
            plan_id=plan_id,
            dry_run=self.config.dry_run,
            steps=[_describe(a, parts) for a, parts in actions],
        )
        if not self.config.dry_run:
            await self._settle_pending(plan_id)
        outcomes = []
        freed: dict[tuple[str, Side], float | None] = {}
        for action, parts in actions:
            position = _find(snapshot, action)
            if (
                position is not None
                and action.kind is not ActionKind.ALERT
                and (position.symbol, position.side.value) in self._blocked
            ):
                outcomes.append(self._blocked_step(plan_id, action, position))
                continue
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
                    0.0 if outcome.status == "refused" else freed_by(position, outcome.fills)
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

    def _fact(self, kind: str, action: Action, **payload: Any) -> None:
        """Journal a fact of ``action`` and tell it (one transaction with ``record``)."""
        message, alert_payload = self.describe(action, kind, payload)
        self._tell(kind, payload, action.level, message, alert_payload)

    def _tell(
        self,
        kind: str,
        payload: Mapping[str, Any],
        level: Level,
        message: str,
        alert_payload: Mapping[str, Any],
    ) -> None:
        if self.record is not None:
            now = self.clock.now_ms()
            self.record(kind, self.account, now, payload, level, message, alert_payload)
            _LOG.info(kind, **{"account": self.account, **payload})
            return
        self._log(kind, **payload)
        self.alert(level, message, alert_payload)

    def _announcer(self, action: Action) -> Callable[[str, dict[str, Any]], None]:
        return lambda kind, payload: self._fact(kind, action, **payload)

    # ------------------------------------------------------------------ orders in doubt

    def _unknown(
        self, action: Action, position: Position, cid: str, placed: Placement, *, trigger: bool
    ) -> None:
        """An order's fate is unknown: remember it, block its position, say so."""
        side = position.side.value
        pending = PendingOrder(cid, position.symbol, side, action.kind.value, trigger)
        self.pending[cid] = pending
        self._blocked.add(pending.position)
        self._alert(
            Level.CRITICAL,
            f"the outcome of a {action.kind.value} order for {position.symbol} "
            f"{position.side.value} is unknown ({placed.error}); nothing more is sent for this "
            "position until the venue says what became of it",
            action,
        )

    async def _settle_pending(self, plan_id: str) -> None:
        """Look up each order of unknown fate. Found or known absent: journalled and alerted,
        and its position is not reduced further in this plan (the snapshot may predate its
        fill). Still unknown: its position stays blocked."""
        for cid, pending in list(self.pending.items()):
            found = await look_up(
                self.port, self.quirks, pending.symbol, cid, trigger=pending.trigger
            )
            self._blocked.add(pending.position)
            if found.state == "failed":
                self._log("lookup_failed", client_id=cid, error=found.error, plan_id=plan_id)
                continue
            del self.pending[cid]
            where = f"{pending.symbol} {pending.side}"
            told = {"account": self.account, "symbol": pending.symbol, "side": pending.side}
            if found.state == "absent":
                self._tell(
                    "order_failed",
                    {"client_id": cid, "error": "the venue does not have it"},
                    Level.WARN,
                    f"the {pending.kind} order for {where} in doubt never arrived",
                    told,
                )
                continue
            order = found.order or {}
            if pending.trigger and order.get("status") == "open":
                self.watched[cid] = WatchedStop(
                    cid, pending.symbol, pending.side, str(order.get("id"))
                )
            fact = {
                "client_id": cid,
                "after": "lookup",
                "order_id": order.get("id"),
                "status": order.get("status"),
                "filled": order.get("filled"),
                "average": order.get("average"),
            }
            self._tell(
                "order_found",
                fact,
                Level.WARN,
                f"the {pending.kind} order for {where} in doubt (order {cid}) is on the venue: "
                f"status {order.get('status')}, filled {order.get('filled')}",
                {
                    **told,
                    "figures": {"filled": order.get("filled"), "average": order.get("average")},
                },
            )

    def _blocked_step(self, plan_id: str, action: Action, position: Position) -> StepOutcome:
        why = "an order for this position is in doubt or was just settled; waiting for the venue"
        self._log(
            "step_blocked",
            plan_id=plan_id,
            symbol=position.symbol,
            side=position.side.value,
            kind=action.kind.value,
            reason=why,
        )
        return StepOutcome(action.kind, action.symbol, "blocked", error=why)

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
            await self.journal.durable()
            placed = await self.sender.place(
                request.symbol,
                request.side,
                request.contracts,
                cid,
                params,
                announce=self._announcer(action),
            )
            if placed.state == "rejected":
                placed = await self._smaller(plan_id, action, request, position, cids)
            if placed.state == "unknown":
                self._unknown(action, position, cids[-1], placed, trigger=False)
                return StepOutcome(
                    action.kind,
                    action.symbol,
                    "unknown",
                    tuple(cids),
                    tuple(ids),
                    filled,
                    error=placed.error,
                    fills=None,
                )
            if placed.state == "rejected" or placed.order is None:
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
            order = placed.order
            ids.append(str(order.get("id")))
            filled += float(order.get("filled") or 0.0)
            if fills is not None:
                got = await self._fills_of(order, position, contract_size)
                fills = None if got is None else add_fills(fills, got)
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
        got = order_fills(order, position, contract_size)
        if got is None and order.get("id") is not None:
            try:
                fetched = await self.port.fetch_order(str(order["id"]), position.symbol)
            except ccxt.BaseError as exc:
                self._log("fill_unknown", order_id=order.get("id"), error=short_text(exc))
                return None
            got = order_fills(fetched, position, contract_size)
        if got is None:
            self._log("fill_unknown", order_id=order.get("id"), error="no fill in the order")
        return got

    async def _smaller(
        self,
        plan_id: str,
        action: Action,
        request: OrderRequest,
        position: Position,
        cids: list[str],
    ) -> Placement:
        """After a definite rejection only: one try at half the size."""
        step = self.config.amount_steps.get(request.symbol, 0.0)
        half = request.contracts / 2
        if step > 0:
            half = math.floor(half / step + 1e-9) * step
        if half <= 0:
            return Placement("rejected", error="half the size rounds to nothing")
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
        cids.append(cid)
        params = reduce_params(self.quirks, cid, position.margin_mode, self.hedged)
        await self.journal.durable()
        return await self.sender.place(
            request.symbol, request.side, half, cid, params, announce=self._announcer(action)
        )

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
        largest = self.config.max_market_amounts.get(position.symbol)
        capped = False
        if largest is not None and contracts > largest:
            contracts, capped = largest, True
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
            capped_at=largest if capped else None,
            replaces=[s.order_id for s in own_old],
            rule=action.rule,
            reason=action.reason,
            figures=dict(action.figures),
        )
        if self.config.dry_run:
            self._log("order_dry_run", client_id=cid)
            return StepOutcome(action.kind, action.symbol, "dry_run", (cid,))
        params = stop_params(self.quirks, cid, price, position.margin_mode, self.hedged)
        await self.journal.durable()
        placed = await self.sender.place(
            position.symbol,
            closing_side,
            contracts,
            cid,
            params,
            trigger=True,
            announce=self._announcer(action),
        )
        if placed.state == "unknown":
            # The guard's old stop stays: it still protects while the new one is in doubt.
            self._unknown(action, position, cid, placed, trigger=True)
            return StepOutcome(action.kind, action.symbol, "unknown", (cid,), error=placed.error)
        if placed.state == "rejected" or placed.order is None:
            self._alert(Level.CRITICAL, f"could not place a stop for {position.symbol}", action)
            return StepOutcome(action.kind, action.symbol, "failed", (cid,), error=placed.error)
        order = placed.order
        if order.get("status") in ("open", None):
            side = position.side.value
            self.watched[cid] = WatchedStop(cid, position.symbol, side, str(order.get("id")))
        for old in own_old:
            unwatch(self.watched, old.order_id, cancel_requested=True)  # a kill may come next
            await self.journal.durable()  # the new stop's intent and placement, which replace it
            try:
                await self.port.cancel_order(
                    old.order_id, old.symbol, dict(self.quirks.cancel_stop_params)
                )
                self._log("stop_cancelled", order_id=old.order_id, replaced_by=cid)
                unwatch(self.watched, old.order_id)
            except ccxt.BaseError as exc:
                self._log("stop_cancel_failed", order_id=old.order_id, error=short_text(exc))
        return StepOutcome(action.kind, action.symbol, "sent", (cid,), (str(order.get("id")),))


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


def default_description(
    action: Action, kind: str, payload: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A fact's alert in plain words: what the guard did, why, and what the venue said."""
    where = " ".join(p for p in (action.symbol, action.side.value if action.side else None) if p)
    said = ", ".join(
        f"{k} {payload[k]}"
        for k in ("status", "filled", "average", "amount", "leverage")
        if payload.get(k) is not None
    )
    message = f"guard {action.kind.value} {where} [{action.rule}]: {kind.replace('_', ' ')}"
    message += f" ({said})" if said else ""
    alert_payload: dict[str, Any] = {
        "account": action.account,
        "symbol": action.symbol,
        "side": action.side.value if action.side else None,
        "rule": action.rule,
        "figures": {k: v for k, v in payload.items() if isinstance(v, int | float | str)},
    }
    return message, alert_payload
