"""Sending one order and knowing its fate: placed, rejected, or unknown; never guessed.

An order is sent once. What comes back decides what happens next:

- an answer with the order: **placed** (``order_sent``);
- a refusal from the venue (``InvalidOrder`` or another exchange error with a code): the order
  is looked up by its client id, since a venue can refuse a duplicate of an order it holds;
  not there: **rejected**, a definite answer (``order_failed``), and only then may the caller
  try a smaller order; there: **placed** (``order_found``);
- no answer (a timeout, a network error, a 5xx): the venue may have applied it. It is looked up
  by client id, a few times with a growing pause (an answer that arrives after the client gave
  up needs a moment to be visible). Found: **placed**. Not found in a lookup that worked, after
  the pause: the venue does not have it, and it is sent again once with the same client id.
  Every lookup failed: **unknown** (``order_unknown``): it is not sent again and no smaller
  order follows; the caller alerts and sends nothing more for that position until a later
  lookup settles it (:func:`look_up`, at the next cycle or the next start).

Lookups go where that kind of order lives: trigger (stop) orders through the venue's trigger
lookup (:attr:`~riskguard.guard.enforce.quirks.OrderQuirks.trigger_lookup_params`; Binance keeps
them on its algo-order endpoints, a plain lookup says "not found" for a stop it holds), plain
orders through the plain one. A lookup that fails is never taken for "not there".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import ccxt.async_support as ccxt

from riskguard.clock import Clock
from riskguard.exchange.errors import short_text
from riskguard.guard.enforce.quirks import OrderQuirks

LOOKUP_PAUSES_S: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Pauses before each lookup of an order whose send got no answer (about 2 s in all)."""


class OrderPort(Protocol):
    """The two calls an order needs."""

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    async def fetch_order(
        self,
        id: str | None,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a lookup by client id said: ``found`` (with the order), ``absent`` (the venue
    answered that it does not know it) or ``failed`` (no usable answer: not a "no")."""

    state: Literal["found", "absent", "failed"]
    order: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """The fate of one order: ``placed`` (with the venue's order), ``rejected`` (the venue
    said no and does not hold it) or ``unknown`` (nobody can tell yet)."""

    state: Literal["placed", "rejected", "unknown"]
    order: dict[str, Any] | None = None
    error: str | None = None


def lookup_params(quirks: OrderQuirks, client_id: str, *, trigger: bool) -> dict[str, Any]:
    """Params of a lookup by client id, on the endpoint that holds that kind of order."""
    params: dict[str, Any] = {quirks.client_id_param: client_id}
    if trigger:
        params.update(quirks.trigger_lookup_params)
    return params


async def look_up(
    port: OrderPort, quirks: OrderQuirks, symbol: str, client_id: str, *, trigger: bool
) -> Lookup:
    """Ask the venue for the order with ``client_id`` (once)."""
    try:
        order = await port.fetch_order(
            None, symbol, lookup_params(quirks, client_id, trigger=trigger)
        )
    except ccxt.OrderNotFound as exc:
        return Lookup("absent", error=short_text(exc))
    except ccxt.BaseError as exc:
        return Lookup("failed", error=short_text(exc))
    if not isinstance(order, dict) or order.get("id") is None:
        return Lookup("failed", error="the lookup answered without an order id")
    return Lookup("found", dict(order))


Log = Callable[..., None]
Announce = Callable[[str, dict[str, Any]], None]
"""Records a fact (``order_sent``, ``order_found``) with its alert, in one journal transaction."""


@dataclass
class OrderSender:
    """Sends orders of one account and settles their fate (see the module)."""

    port: OrderPort
    quirks: OrderQuirks
    clock: Clock
    log: Log
    pauses_s: Sequence[float] = LOOKUP_PAUSES_S

    async def place(
        self,
        symbol: str,
        side: str,
        contracts: float,
        client_id: str,
        params: dict[str, Any],
        *,
        trigger: bool = False,
        announce: Announce | None = None,
    ) -> Placement:
        """Send a market order (a stop-market when ``trigger``) and settle its fate.

        ``announce`` records the order's placement (sent, or found after a silence or a
        refusal) together with its alert; without it the placement is only journalled."""
        tell: Announce = announce or (lambda kind, payload: self.log(kind, **payload))
        for attempt in range(2):
            try:
                order = await self.port.create_order(
                    symbol, "market", side, contracts, None, dict(params)
                )
            except (ccxt.RequestTimeout, ccxt.NetworkError) as exc:
                # No answer: the venue may hold it.
                settled = await self._settle_silent(symbol, client_id, trigger, exc, attempt, tell)
                if settled is None:
                    continue  # known not to exist: send again, same client id
                return settled
            except ccxt.BaseError as exc:
                return await self._settle_refused(symbol, client_id, trigger, exc, attempt, tell)
            tell(
                "order_sent",
                {
                    "client_id": client_id,
                    "order_id": order.get("id"),
                    "status": order.get("status"),
                    "filled": order.get("filled"),
                    "average": order.get("average"),
                },
            )
            return Placement("placed", order)
        error = "sent twice without an answer; the venue does not show it"
        self.log("order_failed", client_id=client_id, error=error, attempt=2)
        return Placement("rejected", error=error)

    async def _settle_refused(
        self,
        symbol: str,
        client_id: str,
        trigger: bool,
        exc: ccxt.BaseError,
        attempt: int,
        tell: Announce,
    ) -> Placement:
        found = await look_up(self.port, self.quirks, symbol, client_id, trigger=trigger)
        if found.state == "found":
            return self._found(client_id, "rejection", found, tell)
        if found.state == "absent":
            self.log("order_failed", client_id=client_id, error=short_text(exc), attempt=attempt)
            return Placement("rejected", error=short_text(exc))
        return self._unknown(client_id, exc, found, attempt)

    async def _settle_silent(
        self,
        symbol: str,
        client_id: str,
        trigger: bool,
        exc: ccxt.BaseError,
        attempt: int,
        tell: Announce,
    ) -> Placement | None:
        """The fate of an order sent without an answer; None when the venue, asked after a
        pause, answered that it does not hold it (the caller may send it again)."""
        last = Lookup("failed", error="not looked up")
        for pause in self.pauses_s:
            await self.clock.sleep(pause)
            last = await look_up(self.port, self.quirks, symbol, client_id, trigger=trigger)
            if last.state == "found":
                return self._found(client_id, "timeout", last, tell)
            if last.state == "absent":
                self.log(
                    "order_absent",
                    client_id=client_id,
                    error=short_text(exc),
                    attempt=attempt,
                    lookup=last.error,
                )
                return None
            self.log("lookup_failed", client_id=client_id, error=last.error, attempt=attempt)
        return self._unknown(client_id, exc, last, attempt)

    def _found(self, client_id: str, after: str, found: Lookup, tell: Announce) -> Placement:
        order = found.order or {}
        tell(
            "order_found",
            {
                "client_id": client_id,
                "after": after,
                "order_id": order.get("id"),
                "status": order.get("status"),
                "filled": order.get("filled"),
                "average": order.get("average"),
            },
        )
        return Placement("placed", order)

    def _unknown(
        self, client_id: str, exc: ccxt.BaseError, lookup: Lookup, attempt: int
    ) -> Placement:
        error = f"{short_text(exc)}; lookup: {lookup.error}"
        self.log("order_unknown", client_id=client_id, error=error, attempt=attempt)
        return Placement("unknown", error=error)


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """An order whose fate is unknown: nothing more is sent for its position until a lookup
    settles it (the guard keeps these between cycles; the journal keeps them across restarts)."""

    client_id: str
    symbol: str
    side: str
    """The position's side (``long`` / ``short``)."""
    kind: str
    trigger: bool = False

    @property
    def position(self) -> tuple[str, str]:
        return (self.symbol, self.side)
