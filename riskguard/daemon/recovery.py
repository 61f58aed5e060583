"""Orders journalled as intended whose fate never reached the journal (the process died
mid-request), looked up by client id at start, before any new decision about their account."""

from __future__ import annotations

from typing import Any

from riskguard.daemon.wiring import Runtime, now_of
from riskguard.guard.enforce.order_fate import PendingOrder, look_up
from riskguard.guard.enforce.quirks import quirks_for
from riskguard.guard.rules.base import Level


async def recover_orders(runtime: Runtime) -> int:
    """Look up every journalled order whose fate is unknown; journal and alert what the
    exchange says (issue 15, D4: an order settled at a restart is never left untold).

    Returns how many were looked up. An order the exchange knows is ``order_found`` (with its
    exchange id, status and fill) and alerted; one it does not know never arrived and is
    ``order_failed``, alerted too. When the lookup itself fails the order stays pending: its
    position gets no new order until a later lookup settles it (the account's
    ``pending_orders``), and an alert says so. Stops are looked up where the venue keeps them.
    """
    pending_orders = getattr(runtime.journal, "pending_orders", None)
    if pending_orders is None:
        return 0
    by_account = {a.account: a for a in runtime.accounts}
    alert = runtime.alerts.alert_fn()
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
        now = now_of(runtime, acct)
        what = f"the {order.kind or 'order'} order for {order.symbol} sent before the restart"
        payload: dict[str, Any] = {"account": acct.account, "symbol": order.symbol}
        if found.state == "absent":
            runtime.journal.append(
                "order_failed",
                acct.account,
                now,
                {"client_id": order.client_id, "error": "unknown to the exchange after a restart"},
            )
            alert(Level.WARN, f"{acct.account}: {what} never reached the venue", payload)
            continue
        if found.state == "failed":
            runtime.journal.append(
                "recovery_failed",
                acct.account,
                now,
                {"client_id": order.client_id, "error": found.error},
            )
            side = _position_side(order.side)
            if side is not None:
                acct.pending_orders[order.client_id] = PendingOrder(
                    order.client_id, order.symbol, side, order.kind or "order", trigger
                )
            alert(
                Level.CRITICAL,
                f"{acct.account}: {what} cannot be looked up ({found.error}); nothing more is "
                "sent for that position until the venue says what became of it",
                payload,
            )
            continue
        got = found.order or {}
        runtime.journal.append(
            "order_found",
            acct.account,
            now,
            {
                "client_id": order.client_id,
                "after": "restart",
                "order_id": got.get("id"),
                "status": got.get("status"),
                "filled": got.get("filled"),
                "average": got.get("average"),
            },
        )
        alert(
            Level.WARN,
            f"{acct.account}: {what} is on the venue: status {got.get('status')}, filled "
            f"{got.get('filled')} at {got.get('average')}",
            {**payload, "figures": {"filled": got.get("filled"), "average": got.get("average")}},
        )
    return looked


def _position_side(order_side: str | None) -> str | None:
    """The side of the position a guard order closes: a sell closes a long, a buy a short."""
    if order_side == "sell":
        return "long"
    if order_side == "buy":
        return "short"
    return None
