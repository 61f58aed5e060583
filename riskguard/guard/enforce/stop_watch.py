"""The guard's own stops after they were placed: a stop that fired, or vanished, is told.

A reduce-only stop rests on the venue and fills when nobody is looking: the guard may be between
cycles, or down. Selling part of a position in a crash is a fact the user must hear of, like any
order the guard sends (issue 15: no path from "order filled" to "nobody told").

Every stop the guard placed is *watched* (by client id) from the moment the venue took it: the
executor adds it, the cycle adds any guard-owned stop it sees open (a restart), and the daemon adds
the journal's stops still believed open at start (one that fired while the daemon was down). Each
cycle, a watched stop missing from the open trigger orders is looked up where the venue keeps stops:

=====================  =======================================================================
still open             kept (the open-orders list lagged)
closed with a fill     ``order_found`` with ``after: fired``, the fill and its average price,
                       alerted at ACT: the stop sold (bought) part of the position
closed, no fill        ``order_found`` with ``after: gone``: cancelled or expired on the venue
                       (alerted at WARN unless the guard asked to cancel it)
not found              ``order_failed``: the venue does not have it (WARN)
lookup failed          kept, looked up again next cycle
=====================  =======================================================================

Where a venue reports a fired stop without its fill (Binance's algo orders name the plain order
they placed, ``actualOrderId``, and carry no executed quantity), that order is fetched for it
(:attr:`OrderQuirks.fired_order_id_field`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt

from riskguard.clock import Clock
from riskguard.domain import OpenStop
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_fate import OrderPort, look_up
from riskguard.guard.enforce.quirks import OrderQuirks
from riskguard.guard.rules.base import Level

__all__ = ["Tell", "WatchedStop", "settle_stops", "teller", "unwatch", "watch_open_stops"]

Tell = Callable[[str, Mapping[str, Any], Level, str, Mapping[str, Any]], None]
"""Journals a fact (kind, payload) with its alert (level, message, alert payload)."""


def teller(
    record: Callable[..., None] | None,
    journal: Journal,
    alert: Callable[[Level, str, Mapping[str, Any]], None],
    clock: Clock,
    account: str,
) -> Tell:
    """A :data:`Tell` for ``account``: with ``record`` (the daemon's alert center), the fact and
    its alert are one journal transaction; without, the fact is journalled, then alerted."""

    def tell(
        kind: str,
        payload: Mapping[str, Any],
        level: Level,
        message: str,
        alert_payload: Mapping[str, Any],
    ) -> None:
        now = clock.now_ms()
        if record is not None:
            record(kind, account, now, payload, level, message, alert_payload)
            return
        journal.append(kind, account, now, payload)
        alert(level, message, alert_payload)

    return tell


@dataclass(slots=True)
class WatchedStop:
    """A stop the guard placed and believes open."""

    client_id: str
    symbol: str
    side: str
    """The position side it protects (``long``/``short``)."""
    order_id: str | None = None
    cancel_requested: bool = False
    """The guard asked to cancel it and did not hear back: its going is no surprise."""


def watch_open_stops(watched: MutableMapping[str, WatchedStop], stops: Iterable[OpenStop]) -> None:
    """Watch every guard-owned stop seen open (after a restart the cycle sees them first)."""
    for stop in stops:
        cid = stop.client_order_id
        if stop.guard_owned and cid and cid not in watched:
            watched[cid] = WatchedStop(cid, stop.symbol, stop.protects.value, stop.order_id)


def unwatch(
    watched: MutableMapping[str, WatchedStop], order_id: str, *, cancel_requested: bool = False
) -> None:
    """The guard cancelled its stop ``order_id`` (or asked to, and did not hear back)."""
    for cid, stop in list(watched.items()):
        if stop.order_id == order_id:
            if cancel_requested:
                stop.cancel_requested = True
            else:
                del watched[cid]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _FillUnreadError(Exception):
    """The order a fired stop placed could not be read this time (try again next cycle)."""


async def _fill_of(
    port: OrderPort, quirks: OrderQuirks, order: Mapping[str, Any], symbol: str
) -> tuple[float | None, float | None]:
    """What a closed stop filled and at what average price (None where the venue won't say).
    Raises :class:`_FillUnreadError` when the placed order's lookup itself failed."""
    filled, average = _number(order.get("filled")), _number(order.get("average"))
    if filled:
        return filled, average
    field = quirks.fired_order_id_field
    placed = (order.get("info") or {}).get(field) if field else None
    if not placed:
        return filled, average
    try:
        plain = await port.fetch_order(str(placed), symbol, {})
    except ccxt.OrderNotFound:
        return None, None
    except ccxt.BaseError as exc:
        raise _FillUnreadError(str(exc)) from None
    return _number(plain.get("filled")), _number(plain.get("average"))


async def settle_stops(
    port: OrderPort,
    quirks: OrderQuirks,
    watched: MutableMapping[str, WatchedStop],
    open_client_ids: set[str],
    account: str,
    tell: Tell,
    log: Callable[..., None],
) -> None:
    """Look up every watched stop that is not among ``open_client_ids``; tell its fate."""
    for cid, stop in list(watched.items()):
        if cid in open_client_ids:
            continue
        found = await look_up(port, quirks, stop.symbol, cid, trigger=True)
        where = f"{account}: the guard's stop for {stop.symbol} {stop.side} (order {cid})"
        told: dict[str, Any] = {
            "account": account,
            "symbol": stop.symbol,
            "side": stop.side,
            "client_ids": cid,
        }
        if found.state == "failed":
            log("stop_lookup_failed", client_id=cid, error=found.error)
            continue
        if found.state == "absent":
            del watched[cid]
            gone = {"client_id": cid, "error": "the venue does not have the stop any more"}
            tell("order_failed", gone, Level.WARN, f"{where} is gone from the venue", told)
            continue
        order = found.order or {}
        status = str(order.get("status") or "")
        if status == "open":
            continue
        try:
            filled, average = await _fill_of(port, quirks, order, stop.symbol)
        except _FillUnreadError as exc:
            # A failed lookup is not "no fill": told once the venue answers (issue 15, D2).
            log("stop_fill_unread", client_id=cid, error=str(exc)[:200])
            continue
        del watched[cid]
        payload: dict[str, Any] = {
            "client_id": cid,
            "order_id": order.get("id"),
            "status": status,
            "filled": filled,
            "average": average,
            "after": "fired" if filled else "gone",
        }
        if filled:
            at = f" at {average:g}" if average else ""
            message = f"{where} fired: {filled:g} filled{at}"
            figures = {"filled": filled, **({"average": average} if average else {})}
            tell("order_found", payload, Level.ACT, message, {**told, "figures": figures})
        elif stop.cancel_requested:
            log("stop_cancelled_late", client_id=cid, status=status)
            tell("order_found", payload, Level.OK, f"{where} is cancelled", told)
        elif status == "closed":
            message = f"{where} closed; the venue does not say how much it filled"
            tell("order_found", payload, Level.WARN, message, told)
        else:
            message = f"{where} is {status or 'no longer open'} on the venue: not by the guard"
            tell("order_found", payload, Level.WARN, message, told)
