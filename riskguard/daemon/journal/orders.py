"""The orders' lifecycle: one row per client order id, kept in step with the ``order_*`` entries.

:func:`track_order` runs inside the transaction of the append that journals the event (see
:mod:`~riskguard.daemon.journal.entries`), so the row and the entry commit together.

``order_intent`` inserts (or, for a client id seen before, re-arms) a row with status
``intent``; then the latest event for that client id decides its status:
``order_sent`` -> ``sent`` (exchange id, exchange status, filled, average);
``order_found`` -> ``found`` (exchange id; exchange status and filled when given);
``order_failed`` -> ``failed`` (error); ``order_unknown`` -> ``unknown`` (error);
``order_dry_run`` -> ``dry_run``; ``stop_cancelled`` marks the row with
that exchange order id ``cancelled``. Rows in ``intent`` or ``unknown`` are pending (their
fate on the exchange is not known): :meth:`OrderBook.pending_orders` lists them for the
daemon's restart recovery, which looks each up by client id and appends ``order_found`` or
``order_failed``. An intent without a symbol (the executor's half-size retry) takes symbol,
side and kind from the latest intent of the same plan and account.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from riskguard.daemon.journal.connection import JournalConnection

PENDING_STATUSES: Final = ("intent", "unknown")
"""Order statuses whose fate on the exchange is not known."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order the guard meant to place, and what is known of its fate."""

    client_id: str
    account: str
    plan_id: str | None
    symbol: str | None
    side: str | None
    contracts: float | None
    kind: str | None
    stop_price: float | None
    status: str
    exchange_id: str | None
    exchange_status: str | None
    filled: float | None
    average: float | None
    error: str | None
    intent_seq: int
    last_seq: int
    time_ms: int
    updated_ms: int

    @property
    def pending(self) -> bool:
        """Whether the order's fate on the exchange is not known (recovery must look it up)."""
        return self.status in PENDING_STATUSES


_ORDER_COLUMNS: Final = (
    "client_id, account, plan_id, symbol, side, contracts, kind, stop_price, status, exchange_id, "
    "exchange_status, filled, average, error, intent_seq, last_seq, time_ms, updated_ms"
)

_INTENT_SQL: Final = """
INSERT INTO orders (client_id, account, plan_id, symbol, side, contracts, kind, stop_price,
                    status, intent_seq, last_seq, time_ms, updated_ms)
VALUES (:client_id, :account, :plan_id, :symbol, :side, :contracts, :kind, :stop_price,
        'intent', :seq, :seq, :time_ms, :time_ms)
ON CONFLICT (client_id) DO UPDATE SET
    account = excluded.account, plan_id = excluded.plan_id, symbol = excluded.symbol,
    side = excluded.side, contracts = excluded.contracts, kind = excluded.kind,
    stop_price = excluded.stop_price, status = 'intent', exchange_id = NULL,
    exchange_status = NULL, filled = NULL, average = NULL, error = NULL,
    intent_seq = excluded.intent_seq, last_seq = excluded.last_seq,
    time_ms = excluded.time_ms, updated_ms = excluded.updated_ms
"""

_INHERIT_SQL: Final = """
SELECT symbol, side, kind FROM orders
WHERE account = ? AND plan_id = ? AND symbol IS NOT NULL
ORDER BY intent_seq DESC LIMIT 1
"""

_OUTCOME_SQL: Final = {
    "order_sent": (
        "UPDATE orders SET status = 'sent', exchange_id = :exchange_id, "
        "exchange_status = :exchange_status, filled = :filled, average = :average, "
        "error = NULL, last_seq = :seq, updated_ms = :time_ms WHERE client_id = :client_id"
    ),
    "order_found": (
        "UPDATE orders SET status = 'found', exchange_id = :exchange_id, "
        "exchange_status = coalesce(:exchange_status, exchange_status), "
        "filled = coalesce(:filled, filled), error = NULL, "
        "last_seq = :seq, updated_ms = :time_ms WHERE client_id = :client_id"
    ),
    "order_failed": (
        "UPDATE orders SET status = 'failed', error = :error, last_seq = :seq, "
        "updated_ms = :time_ms WHERE client_id = :client_id"
    ),
    "order_unknown": (
        "UPDATE orders SET status = 'unknown', error = :error, last_seq = :seq, "
        "updated_ms = :time_ms WHERE client_id = :client_id"
    ),
    "order_dry_run": (
        "UPDATE orders SET status = 'dry_run', last_seq = :seq, updated_ms = :time_ms "
        "WHERE client_id = :client_id"
    ),
    "stop_cancelled": (
        "UPDATE orders SET status = 'cancelled', last_seq = :seq, updated_ms = :time_ms "
        "WHERE exchange_id = :exchange_id AND account = :account"
    ),
}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def track_order(
    conn: sqlite3.Connection,
    kind: str,
    account: str,
    time_ms: int,
    seq: int,
    payload: Mapping[str, Any],
) -> None:
    """Bring the order row up to date with the entry ``seq`` just inserted, in its transaction."""
    if kind == "order_intent":
        if payload.get("client_id") is None:
            return
        row = {
            "client_id": str(payload["client_id"]),
            "account": account,
            "plan_id": _text(payload.get("plan_id")),
            "symbol": _text(payload.get("symbol")),
            "side": _text(payload.get("side")),
            "contracts": _number(payload.get("contracts")),
            "kind": _text(payload.get("kind")),
            "stop_price": _number(payload.get("stop_price")),
            "seq": seq,
            "time_ms": int(time_ms),
        }
        if row["symbol"] is None and row["plan_id"] is not None:
            parent = conn.execute(_INHERIT_SQL, (account, row["plan_id"])).fetchone()
            if parent is not None:
                row["symbol"] = parent[0]
                row["side"] = row["side"] or parent[1]
                row["kind"] = row["kind"] or parent[2]
        conn.execute(_INTENT_SQL, row)
        return
    sql = _OUTCOME_SQL.get(kind)
    if sql is None:
        return
    conn.execute(
        sql,
        {
            "client_id": _text(payload.get("client_id")),
            "account": account,
            "exchange_id": _text(payload.get("order_id")),
            "exchange_status": _text(payload.get("status")),
            "filled": _number(payload.get("filled")),
            "average": _number(payload.get("average")),
            "error": _text(payload.get("error")),
            "seq": seq,
            "time_ms": int(time_ms),
        },
    )


class OrderBook(JournalConnection):
    """The order rows as the journal's appends left them."""

    def order(self, client_id: str) -> OrderRecord | None:
        """The order row for ``client_id``, if the journal has seen its intent."""
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?"  # noqa: S608
        row = self._read(lambda conn: conn.execute(sql, (client_id,)).fetchone())
        return None if row is None else OrderRecord(*row)

    def orders(self, account: str | None = None, since_ms: int | None = None) -> list[OrderRecord]:
        """Order rows in intent order, for ``account``, with an intent at or after ``since_ms``."""
        clauses: list[str] = []
        args: list[Any] = []
        if account is not None:
            clauses.append("account = ?")
            args.append(account)
        if since_ms is not None:
            clauses.append("time_ms >= ?")
            args.append(int(since_ms))
        return self._orders(clauses, args)

    def pending_orders(self, account: str | None = None) -> list[OrderRecord]:
        """Orders whose fate is not known (``intent`` or ``unknown``), oldest first."""
        clauses = ["status IN ('intent', 'unknown')"]
        args: list[Any] = []
        if account is not None:
            clauses.append("account = ?")
            args.append(account)
        return self._orders(clauses, args)

    def _orders(self, clauses: list[str], args: Sequence[Any]) -> list[OrderRecord]:
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_ORDER_COLUMNS} FROM orders{where} ORDER BY intent_seq"  # noqa: S608
        rows = self._read(lambda conn: conn.execute(sql, args).fetchall())
        return [OrderRecord(*row) for row in rows]
