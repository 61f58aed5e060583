"""The SQLite journal: what the guard decided and did, durable before anything is reported or sent.

:class:`SqliteJournal` implements the :class:`riskguard.guard.enforce.journal.Journal` protocol for
a daemon that runs for weeks and may be killed (``SIGKILL``, power loss) at any moment.

Durability
    One connection, WAL mode, one transaction per :meth:`SqliteJournal.append`: when ``append``
    returns, the entry (and the order row it updates) is committed. With ``synchronous="full"``
    (the default) every commit is fsynced, so it also survives power loss and OS crashes; with
    ``synchronous="normal"`` a commit survives the process being killed but the last commits may
    be lost on power loss (fine for replays and paper runs, which append thousands of times a
    second). Opening a file again after a crash is safe: SQLite replays the WAL on open.

Threads
    The daemon is single-threaded asyncio, and the journal is synchronous on purpose: the guard
    must not send an order before its intent is on disk, so blocking the loop for one fsync is
    the point. The connection keeps sqlite3's ``check_same_thread=True``: calling from another
    thread raises instead of interleaving two transactions on one connection. Another process
    (``riskguard journal`` export) may read the same file at the same time (WAL readers do not
    block the writer); ``readonly=True`` opens it without ever writing or creating it.

Schema (``PRAGMA user_version`` holds its version; :data:`MIGRATIONS` lists the steps)
    ``entries``  seq INTEGER PRIMARY KEY AUTOINCREMENT (never reused, even after pruning),
                 time_ms, kind, account, payload (JSON text); indexes (time_ms), (kind, time_ms),
                 (account, time_ms).
    ``orders``   one row per client order id, kept in step with the ``order_*`` entries in the
                 same transaction as the append (see "Orders" below).
    ``state``    (account, key) -> JSON value and the time it was written: rule memories, the
                 planner's state, volatility estimates, so that a restart carries on.
    ``outbox``   (step 2) one row per (alert, sink): status pending / delivered / dead, attempts,
                 next attempt time, last error and the alert itself (:mod:`riskguard.alerts.outbox`
                 explains the life of a row). Pending rows are never pruned.

    A new file gets every step; a file with an older version gets the missing ones, each in one
    transaction with its version bump; a file with a newer version than this code knows, a file
    that is not SQLite, or a SQLite file holding someone else's tables is refused with one
    :class:`JournalFileError` line naming the file. To add a table, append a
    :class:`Migration` with the next version.

Orders
    ``order_intent`` inserts (or, for a client id seen before, re-arms) a row with status
    ``intent``; then the latest event for that client id decides its status:
    ``order_sent`` -> ``sent`` (exchange id, exchange status, filled, average);
    ``order_found`` -> ``found`` (exchange id; exchange status and filled when given);
    ``order_failed`` -> ``failed`` (error); ``order_unknown`` -> ``unknown`` (error);
    ``order_dry_run`` -> ``dry_run``; ``stop_cancelled`` marks the row with
    that exchange order id ``cancelled``. Rows in ``intent`` or ``unknown`` are pending (their
    fate on the exchange is not known): :meth:`SqliteJournal.pending_orders` lists them for the
    daemon's restart recovery, which looks each up by client id and appends ``order_found`` or
    ``order_failed``. An intent without a symbol (the executor's half-size retry) takes symbol,
    side and kind from the latest intent of the same plan and account.

Non-finite numbers (one codec for payloads and state values)
    Payloads hold ``inf`` (e.g. the distance to a liquidation price that does not exist) and
    sometimes ``nan``. The stored text is strict JSON, so SQLite's JSON functions, ``jq`` and
    spreadsheets can read it: ``inf``, ``-inf`` and ``nan`` are written as the strings ``"inf"``,
    ``"-inf"`` and ``"nan"``. A genuine string that would read back as one of those (``"inf"``,
    or ``"'inf"``, ...: any number of ``'`` before a token) is written with one more leading
    ``'``. Reading undoes both, so every JSON-ready value round-trips exactly. JSON-ready means:
    dicts with ``str`` keys, lists and tuples (read back as lists), ``str``, ``int``, ``float``,
    ``bool`` and ``None``; anything else raises ``TypeError`` naming where it is, before the
    database is touched.

Retention
    :meth:`SqliteJournal.prune` deletes entries older than a cutoff, except the kinds asked to be
    kept and the intents of pending orders, and finished order rows older than the cutoff.
    Snapshot sampling is decided here, from the file, so it survives restarts:
    :meth:`SqliteJournal.should_sample_snapshot`.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from riskguard.alerts.outbox import (
    OutboxRow,
    alert_account,
    dead_payload,
    delivered_payload,
    queued_payload,
    severity_rank,
)
from riskguard.clock import Clock, SystemClock
from riskguard.errors import ConfigError, RiskguardError
from riskguard.guard.enforce.journal import JournalEntry

Synchronous = Literal["full", "normal"]

PENDING_STATUSES: Final = ("intent", "unknown")
"""Order statuses whose fate on the exchange is not known."""

_BUSY_TIMEOUT_MS: Final = 5_000
_FETCH_BATCH: Final = 500
_NON_FINITE: Final = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_ESCAPE: Final = "'"


class JournalFileError(ConfigError):
    """The journal file cannot be used (not SQLite, too new, not ours, cannot be opened)."""


class JournalWriteError(RiskguardError):
    """An append could not be committed: nothing after it may be sent or reported as done."""


# ---------------------------------------------------------------------------------------- schema


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: the statements that take a file from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "entries, orders and state",
        (
            """CREATE TABLE entries (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                time_ms INTEGER NOT NULL,
                kind TEXT NOT NULL,
                account TEXT NOT NULL,
                payload TEXT NOT NULL
            )""",
            "CREATE INDEX entries_time ON entries (time_ms)",
            "CREATE INDEX entries_kind_time ON entries (kind, time_ms)",
            "CREATE INDEX entries_account_time ON entries (account, time_ms)",
            """CREATE TABLE orders (
                client_id TEXT PRIMARY KEY,
                account TEXT NOT NULL,
                plan_id TEXT,
                symbol TEXT,
                side TEXT,
                contracts REAL,
                kind TEXT,
                stop_price REAL,
                status TEXT NOT NULL,
                exchange_id TEXT,
                exchange_status TEXT,
                filled REAL,
                average REAL,
                error TEXT,
                intent_seq INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                time_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            )""",
            "CREATE INDEX orders_status ON orders (status)",
            "CREATE INDEX orders_account_time ON orders (account, time_ms)",
            "CREATE INDEX orders_exchange_id ON orders (exchange_id)",
            """CREATE TABLE state (
                account TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                time_ms INTEGER NOT NULL,
                PRIMARY KEY (account, key)
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        2,
        "the alerts outbox",
        (
            """CREATE TABLE outbox (
                row_id INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id TEXT NOT NULL,
                sink TEXT NOT NULL,
                severity INTEGER NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                next_ms INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                last_error TEXT,
                alert TEXT NOT NULL,
                UNIQUE (alert_id, sink)
            )""",
            "CREATE INDEX outbox_due ON outbox (status, sink, next_ms)",
        ),
    ),
)
"""Every schema step in order; ``MIGRATIONS[-1].version`` is the version this code writes."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version


def migrate(conn: sqlite3.Connection, name: str, steps: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to the last of ``steps``.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction together with its
    ``PRAGMA user_version`` bump, so a failed or interrupted step leaves the previous version.
    Returns the version the file had before. ``name`` is the file, for error messages.
    """
    target = steps[-1].version if steps else 0
    before = _user_version(conn)
    _check_version(before, target, name)
    if before == 0:
        foreign = conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 1"
        ).fetchone()
        if foreign is not None:
            raise JournalFileError(
                f"journal {name}: not a riskguard journal (a SQLite file with table or index "
                f"{foreign[0]!r} and no schema version); choose another file"
            )
    for step in steps:
        if step.version <= before:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = _user_version(conn)  # another process may have migrated meanwhile
            if current < step.version:
                for statement in step.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return before


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _is_empty(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1")
    return row.fetchone() is None


def _check_version(found: int, known: int, name: str) -> None:
    if found > known:
        raise JournalFileError(
            f"journal {name}: schema version {found} is newer than this riskguard knows "
            f"({known}); upgrade riskguard or use another file"
        )


# ----------------------------------------------------------------------------------------- codec


def encode_json(value: Any, where: str = "payload") -> str:
    """``value`` as compact strict JSON, non-finite floats as tokens (see the module docstring)."""
    return json.dumps(
        _to_json(value, where), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def decode_json(text: str) -> Any:
    """The value :func:`encode_json` wrote."""
    return _from_json(json.loads(text))


def _to_json(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = str.__str__(value)  # a str enum's value, not its name
        return _ESCAPE + text if text.lstrip(_ESCAPE) in _NON_FINITE else text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string; the journal stores JSON")
            out[str(key)] = _to_json(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(
        f"{where}: {type(value).__name__} is not JSON-ready (dict, list, str, int, float, bool, "
        "None); convert it before journalling"
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        if value.startswith(_ESCAPE) and value.lstrip(_ESCAPE) in _NON_FINITE:
            return value[1:]
        return value
    if isinstance(value, dict):
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------- orders


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


_ENTRY_COLUMNS: Final = "seq, time_ms, kind, account, payload"
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


# --------------------------------------------------------------------------------------- journal


class SqliteJournal:
    """The journal in one SQLite file (see the module docstring for the design and schema)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "full",
        readonly: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """Open (creating and migrating unless ``readonly``) the journal at ``path``.

        ``":memory:"`` gives a private in-memory journal (tests). ``clock`` stamps state writes.
        Raises :class:`JournalFileError` when the file cannot be used.
        """
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        self.path = os.fspath(path)
        self.readonly = readonly
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._conn = self._connect(synchronous)

    def _connect(self, synchronous: Synchronous) -> sqlite3.Connection:
        name = self.path
        try:
            if self.readonly:
                if not Path(name).is_file():
                    raise JournalFileError(f"journal {name}: no such file")
                conn = sqlite3.connect(
                    Path(name).resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None
                )
            else:
                conn = sqlite3.connect(name, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalFileError(f"journal {name}: cannot open ({exc})") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if self.readonly:
                version = _user_version(conn)
                _check_version(version, SCHEMA_VERSION, name)
                if version == 0 and _is_empty(conn):
                    raise JournalFileError(
                        f"journal {name}: empty, no riskguard schema yet (a daemon starting "
                        "on it creates the schema; try again in a moment)"
                    )
                if version < SCHEMA_VERSION:
                    raise JournalFileError(
                        f"journal {name}: schema version {version} needs migrating to "
                        f"{SCHEMA_VERSION}; open it once without read-only (start the daemon)"
                    )
            else:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                migrate(conn, name)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalFileError(f"journal {name}: not a usable SQLite database ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the connection (idempotent); every committed append is already on disk."""
        self._conn.close()

    def __enter__(self) -> SqliteJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, action: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``action`` in one committed transaction, or roll back and raise."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                action(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalWriteError(f"journal {self.path}: cannot write ({exc})") from exc

    # ------------------------------------------------------------------ entries

    def append(
        self, kind: str, account: str, time_ms: int, payload: Mapping[str, Any]
    ) -> JournalEntry:
        """Record one entry (and its order-row change); committed when this returns.

        Raises ``TypeError`` for a payload that is not JSON-ready (nothing is written) and
        :class:`JournalWriteError` when the database refuses the write (nothing is written).
        """
        text = encode_json(payload, f"{kind} payload")
        seq = 0

        def insert(conn: sqlite3.Connection) -> None:
            nonlocal seq
            cursor = conn.execute(
                "INSERT INTO entries (time_ms, kind, account, payload) VALUES (?, ?, ?, ?)",
                (int(time_ms), kind, account, text),
            )
            seq = int(cursor.lastrowid or 0)
            self._track_order(conn, kind, account, time_ms, seq, payload)

        self._write(insert)
        return JournalEntry(seq, int(time_ms), kind, account, decode_json(text))

    def _track_order(
        self,
        conn: sqlite3.Connection,
        kind: str,
        account: str,
        time_ms: int,
        seq: int,
        payload: Mapping[str, Any],
    ) -> None:
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

    def entries(
        self,
        kind: str | None = None,
        account: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Entries in ``seq`` order, filtered (see :meth:`iter_entries`)."""
        return list(
            self.iter_entries(
                kind,
                account,
                since_ms=since_ms,
                until_ms=until_ms,
                after_seq=after_seq,
                limit=limit,
            )
        )

    def iter_entries(
        self,
        kind: str | None = None,
        account: str | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> Iterator[JournalEntry]:
        """Entries in ``seq`` order, read in batches (for exports of weeks of journal).

        ``since_ms`` is inclusive and ``until_ms`` exclusive (on the entry's ``time_ms``);
        ``after_seq`` keeps entries with a larger ``seq`` (to follow the journal);
        ``limit`` keeps the first ``limit`` matches.
        """
        where, args = _entry_filter(kind, account, since_ms, until_ms, after_seq)
        # Every f-string SQL here joins fixed clauses; values are always bound parameters.
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(int(limit), 0))
        cursor = self._conn.execute(sql, args)
        try:
            while rows := cursor.fetchmany(_FETCH_BATCH):
                for seq, time_ms, kind_, account_, payload in rows:
                    yield JournalEntry(seq, time_ms, kind_, account_, decode_json(payload))
        finally:
            cursor.close()

    def last_entry(
        self, kind: str | None = None, account: str | None = None
    ) -> JournalEntry | None:
        """The entry with the largest ``seq`` among those of ``kind`` and ``account``."""
        where, args = _entry_filter(kind, account, None, None, None)
        row = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM entries{where} ORDER BY seq DESC LIMIT 1",  # noqa: S608
            args,
        ).fetchone()
        if row is None:
            return None
        return JournalEntry(row[0], row[1], row[2], row[3], decode_json(row[4]))

    def last_seq(self) -> int:
        """The ``seq`` the latest append got (0 before the first); pruning does not lower it."""
        row = self._conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'entries'"
        ).fetchone()
        return 0 if row is None else int(row[0])

    def count(self, kind: str | None = None, account: str | None = None) -> int:
        """How many entries are stored (of ``kind``, for ``account``)."""
        where, args = _entry_filter(kind, account, None, None, None)
        sql = f"SELECT count(*) FROM entries{where}"  # noqa: S608
        row = self._conn.execute(sql, args).fetchone()
        return int(row[0])

    def should_sample_snapshot(self, account: str, now_ms: int, every_s: float) -> bool:
        """Whether a ``snapshot`` entry is due for ``account``: none yet, the latest is at least
        ``every_s`` old, or the clock went back past it. Read from the file, so it survives
        restarts; the caller appends the snapshot when this is true.
        """
        last = self.last_entry("snapshot", account)
        if last is None:
            return True
        elapsed_ms = now_ms - last.time_ms
        return elapsed_ms < 0 or elapsed_ms >= every_s * 1000.0

    # ------------------------------------------------------------------ orders

    def order(self, client_id: str) -> OrderRecord | None:
        """The order row for ``client_id``, if the journal has seen its intent."""
        row = self._conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?",  # noqa: S608
            (client_id,),
        ).fetchone()
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
        rows = self._conn.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders{where} ORDER BY intent_seq",  # noqa: S608
            args,
        ).fetchall()
        return [OrderRecord(*row) for row in rows]

    # ------------------------------------------------------------------ state

    def put_state(self, account: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-ready) under ``(account, key)``, replacing the previous one."""
        self.put_states(account, {key: value})

    def put_states(self, account: str, values: Mapping[str, Any]) -> None:
        """Store several keys of one account in one transaction (one fsync per cycle)."""
        now_ms = self._clock.now_ms()
        rows = [
            (account, key, encode_json(value, f"state {account}/{key}"), now_ms)
            for key, value in values.items()
        ]

        def upsert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO state (account, key, value, time_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account, key) DO UPDATE SET "
                "value = excluded.value, time_ms = excluded.time_ms",
                rows,
            )

        self._write(upsert)

    def get_state(self, account: str, key: str) -> Any | None:
        """The value stored under ``(account, key)``, or ``None``."""
        row = self._conn.execute(
            "SELECT value FROM state WHERE account = ? AND key = ?", (account, key)
        ).fetchone()
        return None if row is None else decode_json(row[0])

    def load_state(self, account: str) -> dict[str, Any]:
        """Every key stored for ``account`` (what a restarted daemon reloads)."""
        rows = self._conn.execute(
            "SELECT key, value FROM state WHERE account = ? ORDER BY key", (account,)
        ).fetchall()
        return {key: decode_json(value) for key, value in rows}

    def state_time_ms(self, account: str, key: str) -> int | None:
        """When ``(account, key)`` was last stored (by the journal's clock), or ``None``."""
        row = self._conn.execute(
            "SELECT time_ms FROM state WHERE account = ? AND key = ?", (account, key)
        ).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ alert outbox

    def queue_alert(
        self, alert: Mapping[str, Any], sinks: Sequence[str], time_ms: int
    ) -> JournalEntry:
        """Journal ``alert_queued`` and add a pending row per sink, in one transaction."""
        payload = queued_payload(alert, sinks)
        account = alert_account(alert)
        text = encode_json(dict(alert), "alert")
        body = encode_json(payload)
        rank = severity_rank(alert)
        seq = 0

        def insert(conn: sqlite3.Connection) -> None:
            nonlocal seq
            cursor = conn.execute(
                "INSERT INTO entries (time_ms, kind, account, payload) VALUES (?, ?, ?, ?)",
                (int(time_ms), "alert_queued", account, body),
            )
            seq = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (alert_id, sink, severity, status, attempts, "
                "next_ms, created_ms, updated_ms, last_error, alert) "
                "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, NULL, ?)",
                [
                    (str(alert["id"]), sink, rank, int(time_ms), int(time_ms), int(time_ms), text)
                    for sink in sinks
                ],
            )

        self._write(insert)
        return JournalEntry(seq, int(time_ms), "alert_queued", account, payload)

    def due_alerts(self, sink: str, now_ms: int, limit: int) -> list[OutboxRow]:
        """Pending rows of ``sink`` due by ``now_ms``: most severe first, then oldest."""
        rows = self._conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND sink = ? "  # noqa: S608
            "AND next_ms <= ? ORDER BY severity DESC, created_ms, row_id LIMIT ?",
            (sink, int(now_ms), int(limit)),
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def next_alert_due_ms(self, after_ms: int | None = None) -> int | None:
        """The earliest next attempt of any pending row (later than ``after_ms``), or ``None``."""
        row = self._conn.execute(
            "SELECT MIN(next_ms) FROM outbox WHERE status = 'pending' AND next_ms > ?",
            (-(2**62) if after_ms is None else int(after_ms),),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def alerts_delivered(self, row_ids: Sequence[int], time_ms: int) -> None:
        """Mark rows delivered (counting the attempt) and journal ``alert_delivered``."""
        rows = self._outbox_by_id(row_ids)
        payload = delivered_payload(rows)
        self._outbox_update(
            rows,
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, updated_ms = ? "
            "WHERE row_id = ?",
            [(int(time_ms), r.row_id) for r in rows],
            ("alert_delivered", alert_account(rows[0].alert), time_ms, payload),
        )

    def alerts_retry(self, row_ids: Sequence[int], time_ms: int, next_ms: int, error: str) -> None:
        """Count a failed attempt and set the next one."""
        rows = self._outbox_by_id(row_ids)
        self._outbox_update(
            rows,
            "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, updated_ms = ?, "
            "last_error = ? WHERE row_id = ?",
            [(int(next_ms), int(time_ms), error, r.row_id) for r in rows],
            None,
        )

    def alerts_dead(self, row_ids: Sequence[int], time_ms: int, error: str) -> None:
        """Count the last attempt, mark rows dead and journal ``alert_dead``."""
        rows = self._outbox_by_id(row_ids)
        payload = dead_payload(rows, error)
        self._outbox_update(
            rows,
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, updated_ms = ?, "
            "last_error = ? WHERE row_id = ?",
            [(int(time_ms), error, r.row_id) for r in rows],
            ("alert_dead", alert_account(rows[0].alert), time_ms, payload),
        )

    def outbox_rows(self, status: str | None = None) -> list[OutboxRow]:
        """Every outbox row (of ``status``), oldest first."""
        where, args = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY row_id",  # noqa: S608
            args,
        ).fetchall()
        return [_outbox_row(r) for r in rows]

    def _outbox_by_id(self, row_ids: Sequence[int]) -> list[OutboxRow]:
        ids = [int(i) for i in row_ids]
        marks = ", ".join("?" for _ in ids)
        rows = self._conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE row_id IN ({marks}) "  # noqa: S608
            "ORDER BY row_id",
            ids,
        ).fetchall()
        if len(rows) != len(set(ids)):
            raise KeyError(f"outbox: no rows {sorted(set(ids) - {r[0] for r in rows})}")
        return [_outbox_row(r) for r in rows]

    def _outbox_update(
        self,
        rows: Sequence[OutboxRow],
        statement: str,
        args: Sequence[tuple[Any, ...]],
        entry: tuple[str, str, int, Mapping[str, Any]] | None,
    ) -> None:
        body = None if entry is None else encode_json(entry[3])

        def update(conn: sqlite3.Connection) -> None:
            conn.executemany(statement, args)
            if entry is not None:
                conn.execute(
                    "INSERT INTO entries (time_ms, kind, account, payload) VALUES (?, ?, ?, ?)",
                    (int(entry[2]), entry[0], entry[1], body),
                )

        if rows:
            self._write(update)

    # ------------------------------------------------------------------ retention

    def prune(self, older_than_ms: int, *, keep_kinds: Sequence[str] = ()) -> int:
        """Delete entries with ``time_ms`` before ``older_than_ms``; return how many went.

        Kept whatever their age: entries of ``keep_kinds``, and the intent entries of pending
        orders. Order rows older than the cutoff go too, unless pending, and delivered or dead
        outbox rows last updated before it (pending ones stay). State is not pruned.
        """
        deleted = 0
        kinds = [str(k) for k in keep_kinds]
        marks = ", ".join("?" for _ in kinds)
        keep = f" AND kind NOT IN ({marks})" if kinds else ""

        def delete(conn: sqlite3.Connection) -> None:
            nonlocal deleted
            cursor = conn.execute(
                f"DELETE FROM entries WHERE time_ms < ?{keep} AND seq NOT IN "  # noqa: S608
                "(SELECT intent_seq FROM orders WHERE status IN ('intent', 'unknown'))",
                [int(older_than_ms), *kinds],
            )
            deleted = cursor.rowcount
            conn.execute(
                "DELETE FROM orders WHERE time_ms < ? AND status NOT IN ('intent', 'unknown')",
                (int(older_than_ms),),
            )
            conn.execute(
                "DELETE FROM outbox WHERE updated_ms < ? AND status != 'pending'",
                (int(older_than_ms),),
            )

        self._write(delete)
        return deleted

    def vacuum(self) -> None:
        """Give the space freed by :meth:`prune` back to the file system (rewrites the file)."""
        try:
            self._conn.execute("VACUUM")
        except sqlite3.Error as exc:
            raise JournalWriteError(f"journal {self.path}: cannot vacuum ({exc})") from exc


def _entry_filter(
    kind: str | None,
    account: str | None,
    since_ms: int | None,
    until_ms: int | None,
    after_seq: int | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("kind = ?", kind),
        ("account = ?", account),
        ("time_ms >= ?", since_ms),
        ("time_ms < ?", until_ms),
        ("seq > ?", after_seq),
    ):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args


_OUTBOX_COLUMNS: Final = (
    "row_id, alert_id, sink, severity, status, attempts, next_ms, created_ms, updated_ms, "
    "last_error, alert"
)


def _outbox_row(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        int(row[3]),
        str(row[4]),
        int(row[5]),
        int(row[6]),
        int(row[7]),
        int(row[8]),
        None if row[9] is None else str(row[9]),
        decode_json(str(row[10])),
    )
