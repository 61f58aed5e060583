"""At start, before any new decision about an account: orders journalled as intended whose fate
never reached the journal (the process died mid-request) are looked up by client id
(:func:`recover_orders`), and the stops the journal believes open are watched
(:func:`watch_journalled_stops`)."""

from __future__ import annotations

from typing import Any

from riskguard.daemon.wiring import Runtime, now_of
from riskguard.guard.enforce.order_fate import PendingOrder, look_up
from riskguard.guard.enforce.quirks import quirks_for
from riskguard.guard.enforce.stop_watch import WatchedStop, teller
from riskguard.guard.rules.base import Level


async def recover_orders(runtime: Runtime) -> int:
    """Look up every journalled order whose fate is unknown; journal and alert what the
    exchange says (issue 15, D4: an order settled at a restart is never left untold).

    Returns how many were looked up. An order the exchange knows is ``order_found`` (with its
    exchange id, status and fill); one it does not know never arrived and is ``order_failed``.
    Each is journalled with its alert in one transaction (the daemon's alert center), so a kill
    cannot fall between the fact and the telling. When the lookup itself fails the order stays
    pending: its position gets no new order until a later lookup settles it (the account's
    ``pending_orders``), and an alert says so. Stops are looked up where the venue keeps them;
    a stop found open is watched from then on (:func:`watch_journalled_stops`).
    """
    pending_orders = getattr(runtime.journal, "pending_orders", None)
    if pending_orders is None:
        return 0
    by_account = {a.account: a for a in runtime.accounts}
    looked = 0
    for order in pending_orders():
        acct = by_account.get(order.account)
        if acct is None or order.symbol is None:
            continue
        looked += 1
        trigger = order.kind == "stop"
        found = await look_up(
            acct.port,
            quirks_for(acct.exchange_id),
            order.symbol,
            order.client_id,
            trigger=trigger,
        )
        guard = runtime.guards[acct.account]
        tell = teller(guard.record, runtime.journal, guard.alert, guard.clock, acct.account)
        what = (
            f"{acct.account}: the {order.kind or 'order'} order for {order.symbol} sent before the "
            f"restart (order {order.client_id})"
        )
        payload: dict[str, Any] = {
            "account": acct.account,
            "symbol": order.symbol,
            "client_ids": order.client_id,
        }
        if found.state == "absent":
            failed = {
                "client_id": order.client_id,
                "error": "unknown to the exchange after a restart",
            }
            tell("order_failed", failed, Level.WARN, f"{what} never reached the venue", payload)
            continue
        if found.state == "failed":
            runtime.journal.append(
                "recovery_failed",
                acct.account,
                now_of(runtime, acct),
                {"client_id": order.client_id, "error": found.error},
            )
            side = _position_side(order.side)
            if side is not None:
                acct.pending_orders[order.client_id] = PendingOrder(
                    order.client_id, order.symbol, side, order.kind or "order", trigger
                )
            guard.alert(
                Level.CRITICAL,
                f"{what} cannot be looked up ({found.error}); nothing more is sent for that "
                "position until the venue says what became of it",
                payload,
            )
            continue
        got = found.order or {}
        fact = {
            "client_id": order.client_id,
            "after": "restart",
            "order_id": got.get("id"),
            "status": got.get("status"),
            "filled": got.get("filled"),
            "average": got.get("average"),
        }
        message = (
            f"{what} is on the venue: status {got.get('status')}, filled {got.get('filled')} "
            f"at {got.get('average')}"
        )
        figures = {"filled": got.get("filled"), "average": got.get("average")}
        tell("order_found", fact, Level.WARN, message, {**payload, "figures": figures})
    return looked


def watch_journalled_stops(runtime: Runtime) -> int:
    """Watch every stop the journal believes open (placed, found, not cancelled), so that one
    that fired or vanished while the daemon was down is told at its first cycle; one a newer
    stop replaced is marked as one the guard asked to cancel
    (:mod:`~riskguard.guard.enforce.stop_watch`). Returns how many are watched."""
    orders = getattr(runtime.journal, "orders", None)
    if orders is None:
        return 0
    by_account = {a.account: a for a in runtime.accounts}
    replaced = {
        (e.account, str(old))
        for e in runtime.journal.entries(kind="order_intent")
        for old in e.payload.get("replaces") or ()
    }
    watched = 0
    for order in orders():
        acct = by_account.get(order.account)
        if (
            acct is None
            or order.kind != "stop"
            or order.symbol is None
            or order.status not in ("sent", "found")
            or order.exchange_status != "open"
        ):
            continue
        side = _position_side(order.side)
        if side is None:
            continue
        acct.watched_stops.setdefault(
            order.client_id,
            WatchedStop(
                order.client_id,
                order.symbol,
                side,
                order.exchange_id,
                # A newer stop replaced it: the guard meant to cancel it (a kill came between).
                cancel_requested=(order.account, str(order.exchange_id)) in replaced,
            ),
        )
        watched += 1
    return watched


def _position_side(order_side: str | None) -> str | None:
    """The side of the position a guard order closes: a sell closes a long, a buy a short."""
    if order_side == "sell":
        return "long"
    if order_side == "buy":
        return "short"
    return None
