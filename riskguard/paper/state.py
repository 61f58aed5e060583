"""Save a paper venue to a file and restore it, so a paper account survives a restart.

The file holds the venue's mutable state (accounts, positions, orders, trades, liquidations,
ledger, and where each price feed had got to). Markets and feeds come from the configuration:
restore into a venue built from the same config. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from riskguard.domain import MarginMode, Side
from riskguard.errors import InputError
from riskguard.paper.engine import (
    Ledger,
    LiquidationRecord,
    PaperAccount,
    PaperOrder,
    PaperPosition,
    PaperTrade,
    PaperVenue,
)

FORMAT_VERSION = 1


def venue_state(venue: PaperVenue) -> dict[str, Any]:
    """The venue's mutable state as JSON-ready data."""
    symbols = {}
    for symbol, st in venue._symbols.items():
        symbols[symbol] = {
            "bar": st.bar,
            "tick": st.tick,
            "ticks": list(st.ticks),
            "tick_times": list(st.tick_times),
            "last": st.last,
            "mark": st.mark,
            "mark_time": st.mark_time,
            "prev_close": st.prev_close,
            "next_funding_ms": st.next_funding_ms,
            "started": st.started,
        }
    accounts = [
        {
            "id": acc.id,
            "wallet": acc.wallet,
            "hedge_mode": acc.hedge_mode,
            "deposits": acc.deposits,
            "leverage": acc.leverage,
            "margin_mode": {s: m.value for s, m in acc.margin_mode.items()},
            "positions": [
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "size": p.size,
                    "entry_price": p.entry_price,
                    "margin_mode": p.margin_mode.value,
                    "leverage": p.leverage,
                    "isolated_margin": p.isolated_margin,
                }
                for p in acc.positions.values()
            ],
            "orders": [
                {**asdict(o), "position_side": o.position_side and o.position_side.value}
                for o in acc.orders.values()
            ],
            "trades": [asdict(t) for t in acc.trades],
        }
        for acc in venue.accounts.values()
    ]
    return {
        "format": FORMAT_VERSION,
        "venue": venue.profile.name,
        "markets": sorted(venue.markets),
        "now_ms": venue.now_ms,
        "ids": venue._ids,
        "symbols": symbols,
        "accounts": accounts,
        "liquidations": [asdict(r) for r in venue.liquidations],
        "ledger": asdict(venue.ledger),
    }


def save_state(venue: PaperVenue, path: Path | str) -> None:
    """Write the venue's state to ``path`` atomically."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(venue_state(venue)), encoding="utf-8")
    os.replace(tmp, target)


def restore_state(venue: PaperVenue, data: dict[str, Any]) -> None:
    """Replace ``venue``'s mutable state with saved ``data`` (from the same configuration)."""
    if data.get("format") != FORMAT_VERSION:
        raise InputError(f"paper state: unknown format {data.get('format')!r}")
    if data.get("markets") != sorted(venue.markets) or data.get("venue") != venue.profile.name:
        raise InputError("paper state: saved for other markets or another venue profile")
    for symbol, saved in data["symbols"].items():
        st = venue._symbols[symbol]
        st.bar = saved["bar"]
        st.tick = saved["tick"]
        st.ticks = tuple(saved["ticks"])
        st.tick_times = tuple(saved["tick_times"])
        st.last = saved["last"]
        st.mark = saved["mark"]
        st.mark_time = saved["mark_time"]
        st.prev_close = saved["prev_close"]
        st.next_funding_ms = saved["next_funding_ms"]
        st.started = saved["started"]
    venue.accounts.clear()
    for holders in venue._holders.values():
        holders.clear()
    for book in (venue._triggers, venue._limits):
        for orders in book.values():
            orders.clear()
    order_fields = {f.name for f in fields(PaperOrder)}
    for saved in data["accounts"]:
        acc = PaperAccount(
            id=saved["id"],
            wallet=saved["wallet"],
            hedge_mode=saved["hedge_mode"],
            deposits=saved["deposits"],
            leverage=dict(saved["leverage"]),
            margin_mode={s: MarginMode(m) for s, m in saved["margin_mode"].items()},
        )
        for p in saved["positions"]:
            pos = PaperPosition(
                symbol=p["symbol"],
                side=Side(p["side"]),
                size=p["size"],
                entry_price=p["entry_price"],
                margin_mode=MarginMode(p["margin_mode"]),
                leverage=p["leverage"],
                isolated_margin=p["isolated_margin"],
            )
            acc.positions[(pos.symbol, pos.side)] = pos
            venue._holders[pos.symbol].add(acc.id)
        for o in saved["orders"]:
            values = {k: v for k, v in o.items() if k in order_fields}
            values["position_side"] = Side(o["position_side"]) if o["position_side"] else None
            order = PaperOrder(**values)
            acc.orders[order.id] = order
            if order.status == "open":
                book = venue._triggers if order.is_trigger else venue._limits
                book[order.symbol].append(order)
        acc.trades = [PaperTrade(**t) for t in saved["trades"]]
        venue.accounts[acc.id] = acc
    venue.liquidations = [LiquidationRecord(**r) for r in data["liquidations"]]
    venue.ledger = Ledger(**data["ledger"])
    venue._ids = data["ids"]
    venue.now_ms = data["now_ms"]


def load_state(venue: PaperVenue, path: Path | str) -> None:
    """Restore ``venue`` from a file written by :func:`save_state`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read paper state: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: paper state is not valid JSON: {exc.msg}") from None
    try:
        restore_state(venue, data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: paper state is damaged: {exc}") from None
