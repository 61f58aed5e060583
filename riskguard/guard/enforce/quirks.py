"""What each venue needs in ``params`` for protective orders, in one place (CCXT_NOTES.md).

Looked up by ccxt exchange id; unknown venues get the generic ccxt form. The executor merges these
into every order it sends.

- Binance USDⓈ-M: stops trigger on the contract (last) price unless ``workingType`` is
  ``MARK_PRICE``; never pass a ``stopLoss`` dict (it is forwarded raw and becomes a market order).
- Bybit: ``triggerBy: MarkPrice``.
- OKX: ``slTriggerPxType: mark`` (default last) and ``marginMode: isolated`` for isolated
  positions (tdMode defaults to cross); stop-loss orders are listed with
  ``{'trigger': True, 'ordType': 'conditional'}``.
- Hedge mode: ``{'hedged': True}`` (ccxt then sets positionSide and drops reduceOnly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskguard.domain import MarginMode


@dataclass(frozen=True, slots=True)
class OrderQuirks:
    """Extra params one venue needs."""

    mark_trigger: dict[str, Any] = field(default_factory=dict)
    isolated_params: dict[str, Any] = field(default_factory=dict)
    open_stops_params: dict[str, Any] = field(default_factory=lambda: {"trigger": True})
    cancel_stop_params: dict[str, Any] = field(default_factory=lambda: {"trigger": True})
    trigger_lookup_params: dict[str, Any] = field(default_factory=lambda: {"trigger": True})
    """Looks a stop up by client id where the venue keeps stops (ccxt's ``trigger`` flag:
    Binance's algo-order endpoints, OKX's algo orders, Bybit's conditional orders); a plain
    lookup would answer "not found" for a stop the venue holds."""
    client_id_param: str = "clientOrderId"
    fired_order_id_field: str | None = None
    """The raw field (in a fired stop's ``info``) naming the plain order it placed, fetched for
    the fill when the stop itself reports none (Binance's algo orders: ``actualOrderId``)."""


_QUIRKS: dict[str, OrderQuirks] = {
    "binanceusdm": OrderQuirks(
        mark_trigger={"workingType": "MARK_PRICE"}, fired_order_id_field="actualOrderId"
    ),
    "binance": OrderQuirks(
        mark_trigger={"workingType": "MARK_PRICE"}, fired_order_id_field="actualOrderId"
    ),
    "bybit": OrderQuirks(mark_trigger={"triggerBy": "MarkPrice"}),
    "okx": OrderQuirks(
        mark_trigger={"slTriggerPxType": "mark"},
        isolated_params={"marginMode": "isolated"},
        open_stops_params={"trigger": True, "ordType": "conditional"},
    ),
    "paper": OrderQuirks(),
}


def quirks_for(exchange_id: str) -> OrderQuirks:
    """The quirks of ``exchange_id`` (ccxt id), or the generic form."""
    return _QUIRKS.get(exchange_id, OrderQuirks())


def reduce_params(
    quirks: OrderQuirks, client_id: str, margin_mode: MarginMode, hedged: bool
) -> dict[str, Any]:
    """Params of a reduce-only market order."""
    params: dict[str, Any] = {"reduceOnly": True, quirks.client_id_param: client_id}
    if margin_mode is MarginMode.ISOLATED:
        params.update(quirks.isolated_params)
    if hedged:
        params["hedged"] = True
    return params


def stop_params(
    quirks: OrderQuirks,
    client_id: str,
    stop_price: float,
    margin_mode: MarginMode,
    hedged: bool,
) -> dict[str, Any]:
    """Params of a reduce-only stop-market triggered on the mark price."""
    params = reduce_params(quirks, client_id, margin_mode, hedged)
    params["stopLossPrice"] = stop_price
    params.update(quirks.mark_trigger)
    return params
