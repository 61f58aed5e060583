"""The SQLite journal: durable appends, a versioned schema, order tracking, state and retention."""

from __future__ import annotations

import asyncio
import enum
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    JournalFileError,
    JournalWriteError,
    Migration,
    SqliteJournal,
    decode_json,
    encode_json,
    migrate,
)
from riskguard.domain import Side
from riskguard.errors import ConfigError
from riskguard.exchange.ccxt_account import open_stops_from_ccxt
from riskguard.guard.enforce.executor import Executor, ExecutorConfig
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, MethodFaults
from tests.guard.enforce.test_executor import SYMBOL, _reduce, _snapshot, _venue

T0 = 1_700_000_000_000
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal(path, clock=VirtualClock(T0)) as opened:
        yield opened


def _intent(journal: SqliteJournal, cid: str, *, account: str = "main", t: int = T0) -> None:
    journal.append(
        "order_intent",
        account,
        t,
        {
            "plan_id": "p1",
            "client_id": cid,
            "symbol": SYMBOL,
            "side": "sell",
            "contracts": 1.5,
            "kind": "reduce",
            "rule": "liquidation_distance",
            "figures": {"distance_pct": 2.5},
        },
    )


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# ------------------------------------------------------------------------------ opening, schema


def test_new_file_gets_the_current_schema_version_in_wal_mode(path: Path) -> None:
    SqliteJournal(path).close()

    conn = _raw(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert version == SCHEMA_VERSION == MIGRATIONS[-1].version
    assert mode == "wal"
    assert {"entries", "orders", "state"} <= tables


def test_synchronous_full_is_the_default_and_normal_can_be_chosen(path: Path) -> None:
    with SqliteJournal(path) as full:
        assert full._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with SqliteJournal(path, synchronous="normal") as normal:
        assert normal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_unknown_synchronous_setting_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'full' or 'normal'"):
        SqliteJournal(path, synchronous="off")  # type: ignore[arg-type]
    assert not path.exists()


def test_reopened_journal_keeps_its_entries_and_continues_the_sequence(path: Path) -> None:
    with SqliteJournal(path) as first:
        first.append("plan", "main", T0, {"plan_id": "p1"})
        first.append("finding", "main", T0 + 1, {"rule": "r"})

    with SqliteJournal(path) as again:
        entry = again.append("alert", "main", T0 + 2, {"message": "m"})
        kinds = [e.kind for e in again.entries()]

    assert kinds == ["plan", "finding", "alert"]
    assert entry.seq == 3


def test_file_with_a_newer_schema_is_refused_in_one_line_naming_it(path: Path) -> None:
    SqliteJournal(path).close()
    conn = _raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()

    with pytest.raises(JournalFileError) as caught:
        SqliteJournal(path)

    message = str(caught.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in message
    assert "\n" not in message
    assert isinstance(caught.value, ConfigError)


def test_file_that_is_not_sqlite_is_refused_in_one_line_naming_it(path: Path) -> None:
    path.write_text("equity,margin\n" * 200)

    with pytest.raises(JournalFileError) as caught:
        SqliteJournal(path)

    message = str(caught.value)
    assert message.startswith(f"journal {path}: not a usable SQLite database")
    assert "\n" not in message
    assert path.read_text() == "equity,margin\n" * 200


def test_file_in_a_missing_directory_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "journal.sqlite"

    with pytest.raises(JournalFileError, match=r"cannot open \(unable to open database file\)"):
        SqliteJournal(missing)


def test_sqlite_file_with_someone_elses_tables_is_refused_and_left_alone(path: Path) -> None:
    conn = _raw(path)
    conn.execute("CREATE TABLE trades (id INTEGER)")
    conn.close()

    with pytest.raises(JournalFileError, match=r"not a riskguard journal .*'trades'"):
        SqliteJournal(path)

    conn = _raw(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    finally:
        conn.close()
    assert names == ["trades"]


V3 = Migration(3, "a future table", ("CREATE TABLE later (id INTEGER PRIMARY KEY, body TEXT)",))


def test_migrate_brings_an_older_file_up_to_date_and_keeps_its_entries(path: Path) -> None:
    conn = _raw(path)
    try:
        migrate(conn, str(path), MIGRATIONS[:1])  # a file written before the outbox existed
        conn.execute(
            "INSERT INTO entries (time_ms, kind, account, payload) "
            "VALUES (?, 'plan', 'main', '{}')",
            (T0,),
        )
    finally:
        conn.close()

    with SqliteJournal(path) as journal:  # opening migrates to the current version
        journal.queue_alert({"id": "a1", "severity": "warning", "title": "t"}, ["slack"], T0)
        kinds = [e.kind for e in journal.entries()]
        pending = journal.outbox_rows("pending")
    conn = _raw(path)
    try:
        before = migrate(conn, str(path), (*MIGRATIONS, V3))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute("INSERT INTO later (body) VALUES ('x')")
    finally:
        conn.close()

    assert kinds == ["plan", "alert_queued"]
    assert [r.alert_id for r in pending] == ["a1"]
    assert (before, version) == (2, 3)


def test_migrate_applies_every_step_to_an_empty_file_in_order(path: Path) -> None:
    conn = _raw(path)
    try:
        before = migrate(conn, str(path), (*MIGRATIONS, V3))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()

    assert (before, version) == (0, 3)


def test_migrate_with_no_steps_leaves_an_empty_file_at_version_zero(path: Path) -> None:
    conn = _raw(path)
    try:
        assert migrate(conn, str(path), ()) == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    finally:
        conn.close()


def test_failed_migration_step_leaves_the_previous_version_and_schema(path: Path) -> None:
    SqliteJournal(path).close()
    broken = Migration(3, "broken", ("CREATE TABLE later (id INTEGER)", "CREATE TABLE entries (x)"))
    conn = _raw(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn, str(path), (*MIGRATIONS, broken))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        later = conn.execute("SELECT name FROM sqlite_master WHERE name = 'later'").fetchall()
    finally:
        conn.close()

    assert version == SCHEMA_VERSION
    assert later == []


class _RacingConnection(sqlite3.Connection):
    """Lets another connection migrate the file just before this one takes the write lock."""

    other_path = ""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self.other_path:
            other = sqlite3.connect(self.other_path, isolation_level=None)
            try:
                migrate(other, self.other_path)
            finally:
                other.close()
            self.other_path = ""
        return super().execute(sql, *args)


def test_migrate_skips_a_step_another_process_applied_meanwhile(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None, factory=_RacingConnection)
    conn.other_path = str(path)
    try:
        before = migrate(conn, str(path))
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()

    assert (before, version) == (0, SCHEMA_VERSION)


def test_readonly_journal_reads_a_file_and_never_writes_it(path: Path) -> None:
    with SqliteJournal(path) as writer:
        writer.append("plan", "main", T0, {"plan_id": "p1"})

    with SqliteJournal(path, readonly=True) as reader:
        kinds = [e.kind for e in reader.entries()]
        with pytest.raises(JournalWriteError, match="readonly"):
            reader.append("plan", "main", T0, {})

    assert kinds == ["plan"]


def test_readonly_journal_of_a_missing_file_is_refused_and_not_created(path: Path) -> None:
    with pytest.raises(JournalFileError, match="no such file"):
        SqliteJournal(path, readonly=True)

    assert not path.exists()


def test_readonly_journal_of_an_older_schema_asks_for_a_migration(path: Path) -> None:
    _raw(path).close()
    conn = _raw(path)
    conn.execute("CREATE TABLE legacy (x)")
    conn.close()

    with pytest.raises(JournalFileError, match=f"version 0 needs migrating to {SCHEMA_VERSION}"):
        SqliteJournal(path, readonly=True)


@pytest.mark.parametrize("header", [False, True], ids=["zero-bytes", "wal-header-only"])
def test_readonly_journal_of_a_file_still_being_created_says_so(path: Path, header: bool) -> None:
    # What a reader sees between a daemon creating the file and committing its schema.
    if header:
        conn = _raw(path)
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.close()
    else:
        path.touch()

    with pytest.raises(JournalFileError, match="empty, no riskguard schema yet") as raised:
        SqliteJournal(path, readonly=True)

    assert "\n" not in str(raised.value)
    SqliteJournal(path).close()  # the writer then creates the schema as usual
    with SqliteJournal(path, readonly=True) as reader:
        assert reader.entries() == []


def test_readonly_journal_of_a_newer_schema_is_refused(path: Path) -> None:
    conn = _raw(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    with pytest.raises(JournalFileError, match="version 99 is newer"):
        SqliteJournal(path, readonly=True)


def test_in_memory_journal_works_for_tests() -> None:
    with SqliteJournal(":memory:") as memory:
        memory.append("plan", "main", T0, {})
        assert memory.count() == 1


def test_closed_journal_refuses_further_use(path: Path) -> None:
    with SqliteJournal(path) as opened:
        pass
    opened.close()  # closing twice is harmless

    with pytest.raises(sqlite3.ProgrammingError):
        opened.entries()


# ------------------------------------------------------------------------------ crash safety

_CHILD = """
import sys
from riskguard.daemon.journal import SqliteJournal

journal = SqliteJournal(sys.argv[1])
i = 0
while True:
    cid = f"c{i}"
    journal.append("order_intent", "main", i, {"client_id": cid, "symbol": "X", "plan_id": "p"})
    sent = journal.append("order_sent", "main", i, {"client_id": cid, "order_id": str(i)})
    print(sent.seq, flush=True)
    i += 1
"""


def test_every_append_that_returned_survives_sigkill_and_the_file_reopens(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    returned = []
    for line in child.stdout:
        returned.append(int(line))
        if len(returned) == 40:
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait()
    child.stdout.close()

    with SqliteJournal(path) as reopened:
        integrity = reopened._conn.execute("PRAGMA integrity_check").fetchone()[0]
        seqs = [e.seq for e in reopened.entries()]
        sent = {e.payload["client_id"] for e in reopened.entries("order_sent")}
        statuses = {o.client_id: o.status for o in reopened.orders()}

    assert child.returncode == -signal.SIGKILL
    assert integrity == "ok"
    assert set(returned) <= set(seqs)
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(statuses[c] == "sent" for c in sent)
    assert all(status == "intent" for c, status in statuses.items() if c not in sent)


# ------------------------------------------------------------------------------ entries


def test_sqlite_journal_satisfies_the_journal_protocol(journal: SqliteJournal) -> None:
    port: Journal = journal

    entry = port.append("plan", "main", T0, {"plan_id": "p1"})

    assert port.entries("plan", "main") == [entry]


def test_append_returns_the_stored_entry_with_increasing_seq(journal: SqliteJournal) -> None:
    first = journal.append("plan", "main", T0, {"steps": ({"kind": "reduce"},)})
    second = journal.append("finding", "alt", T0 + 5, {"rule": "drawdown"})

    assert (first.seq, second.seq) == (1, 2)
    assert first.payload == {"steps": [{"kind": "reduce"}]}
    assert journal.entries() == [first, second]
    assert journal.last_seq() == 2


def test_entries_filter_by_kind_account_time_seq_and_limit(journal: SqliteJournal) -> None:
    for i, (kind, account) in enumerate(
        [("plan", "a"), ("finding", "a"), ("finding", "b"), ("alert", "a"), ("finding", "a")]
    ):
        journal.append(kind, account, T0 + i * 1000, {"i": i})

    def seqs(**query: Any) -> list[int]:
        return [e.seq for e in journal.entries(**query)]

    assert [e.seq for e in journal.entries("finding", "a")] == [2, 5]
    assert seqs(account="b") == [3]
    assert seqs(since_ms=T0 + 1000, until_ms=T0 + 3000) == [2, 3]
    assert seqs(after_seq=3) == [4, 5]
    assert seqs(kind="finding", limit=2) == [2, 3]
    assert seqs(limit=0) == []


def test_iter_entries_streams_more_entries_than_one_batch() -> None:
    with SqliteJournal(":memory:") as memory:
        for i in range(1_234):
            memory.append("cycle", "main", T0 + i, {"i": i})

        payloads = [e.payload["i"] for e in memory.iter_entries("cycle")]

    assert payloads == list(range(1_234))


def test_last_entry_and_count_follow_kind_and_account(journal: SqliteJournal) -> None:
    assert journal.last_entry() is None
    journal.append("snapshot", "a", T0, {"equity": 1.0})
    journal.append("snapshot", "b", T0 + 1, {"equity": 2.0})
    journal.append("cycle", "a", T0 + 2, {})

    last_a = journal.last_entry("snapshot", "a")

    assert last_a is not None
    assert last_a.payload == {"equity": 1.0}
    assert journal.count() == 3
    assert journal.count("snapshot") == 2
    assert journal.count(account="a") == 2


def test_write_the_database_refuses_raises_one_line_and_keeps_nothing(
    journal: SqliteJournal, path: Path
) -> None:
    journal.append("plan", "main", T0, {"plan_id": "p1"})
    pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
    journal._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = {"blob": "x" * 100_000}

    with pytest.raises(JournalWriteError) as caught:
        journal.append("snapshot", "main", T0, big)

    assert str(caught.value) == f"journal {path}: cannot write (database or disk is full)"
    assert journal.count() == 1
    journal._conn.execute("PRAGMA max_page_count = 1073741823")
    assert journal.append("snapshot", "main", T0, big).seq == 2


def test_entry_and_its_order_change_commit_together_or_not_at_all(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "c1")
    journal._conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON orders BEGIN SELECT RAISE(ABORT, 'no'); END"
    )

    with pytest.raises(JournalWriteError, match=r"cannot write \(no\)"):
        journal.append("order_sent", "main", T0 + 1, {"client_id": "c1", "order_id": "9"})

    assert journal.count("order_sent") == 0
    record = journal.order("c1")
    assert record is not None
    assert record.status == "intent"


# ------------------------------------------------------------------------------ JSON codec


def test_non_finite_numbers_round_trip_and_are_stored_as_strict_json(
    journal: SqliteJournal,
) -> None:
    payload = {"figures": {"distance_pct": math.inf, "short": -math.inf, "sigma": math.nan}}

    journal.append("finding", "main", T0, payload)

    (entry,) = journal.entries()
    figures = entry.payload["figures"]
    assert figures["distance_pct"] == math.inf
    assert figures["short"] == -math.inf
    assert math.isnan(figures["sigma"])
    stored = journal._conn.execute(
        "SELECT json_extract(payload, '$.figures.distance_pct'), payload FROM entries"
    ).fetchone()
    assert stored[0] == "inf"
    json.loads(stored[1], parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "'inf", "''nan", "'", "Inf", "", "x'inf"])
def test_strings_that_look_like_number_tokens_round_trip(text: str) -> None:
    assert decode_json(encode_json({"s": text, "l": [text]})) == {"s": text, "l": [text]}


def test_genuine_string_inf_is_stored_with_one_escape_quote() -> None:
    assert encode_json({"reason": "inf"}) == '{"reason":"\'inf"}'


class _Colour(str, enum.Enum):  # noqa: UP042 - the mixin str() gives the name
    RED = "red"


class _Rank(enum.IntEnum):
    ONE = 1


def test_str_and_int_enums_are_stored_as_their_values() -> None:
    assert decode_json(encode_json({"c": _Colour.RED, "r": _Rank.ONE})) == {"c": "red", "r": 1}


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"figures": {"when": object()}}, "plan payload.figures.when: object"),
        ({"ids": {1, 2}}, "plan payload.ids: set"),
        ({"by_side": {(1, 2): 3}}, "plan payload.by_side: key (1, 2) is not a string"),
    ],
)
def test_payload_that_is_not_json_ready_is_refused_before_writing(
    journal: SqliteJournal, payload: dict[str, Any], where: str
) -> None:
    with pytest.raises(TypeError, match=rf"^{re.escape(where)}"):
        journal.append("plan", "main", T0, payload)

    assert journal.count() == 0
    assert journal.last_seq() == 0


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["inf", "-inf", "nan", "'inf", "''-inf", "'nan'"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(_values)
def test_every_json_ready_value_round_trips_through_the_codec(value: Any) -> None:
    text = encode_json(value)

    assert _same(decode_json(text), value)
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))


# ------------------------------------------------------------------------------ orders


def test_order_intent_then_sent_records_the_acknowledged_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")
    journal.append(
        "order_sent",
        "main",
        T0 + 50,
        {"client_id": "c1", "order_id": "77", "status": "closed", "filled": 1.5, "average": 99.5},
    )

    record = journal.order("c1")

    assert record is not None
    assert (record.status, record.exchange_id, record.exchange_status) == ("sent", "77", "closed")
    assert (record.filled, record.average) == (1.5, 99.5)
    assert (record.symbol, record.side, record.contracts, record.kind) == (
        SYMBOL,
        "sell",
        1.5,
        "reduce",
    )
    assert (record.plan_id, record.intent_seq, record.last_seq) == ("p1", 1, 2)
    assert (record.time_ms, record.updated_ms) == (T0, T0 + 50)
    assert not record.pending
    assert journal.pending_orders() == []


@pytest.mark.parametrize(
    ("kind", "payload", "status", "error", "pending"),
    [
        ("order_found", {"after": "timeout", "order_id": "55"}, "found", None, False),
        ("order_failed", {"error": "rejected", "attempt": 0}, "failed", "rejected", False),
        ("order_unknown", {"error": "timed out", "attempt": 1}, "unknown", "timed out", True),
        ("order_dry_run", {}, "dry_run", None, False),
        ("lookup_failed", {"error": "busy"}, "intent", None, True),
    ],
)
def test_order_outcome_sets_the_order_status(
    journal: SqliteJournal,
    kind: str,
    payload: dict[str, Any],
    status: str,
    error: str | None,
    pending: bool,
) -> None:
    _intent(journal, "c1")

    journal.append(kind, "main", T0 + 1, {"client_id": "c1", **payload})

    record = journal.order("c1")
    assert record is not None
    assert record.status == status
    assert record.pending is pending
    assert record.exchange_id == payload.get("order_id")
    assert record.error == error
    assert [o.client_id for o in journal.pending_orders()] == (["c1"] if pending else [])


def test_stop_cancelled_marks_the_order_with_that_exchange_id(journal: SqliteJournal) -> None:
    _intent(journal, "old")
    journal.append("order_sent", "main", T0, {"client_id": "old", "order_id": "s1"})
    _intent(journal, "new")
    journal.append("order_sent", "main", T0, {"client_id": "new", "order_id": "s2"})

    journal.append("stop_cancelled", "main", T0 + 1, {"order_id": "s1", "replaced_by": "new"})

    statuses = {o.client_id: o.status for o in journal.orders()}
    assert statuses == {"old": "cancelled", "new": "sent"}


def test_pending_orders_are_unknown_fates_of_one_account_oldest_first(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "a1", account="a")
    _intent(journal, "b1", account="b")
    _intent(journal, "a2", account="a")
    journal.append("order_unknown", "a", T0, {"client_id": "a1", "error": "timeout"})
    journal.append("order_sent", "a", T0, {"client_id": "a2", "order_id": "9"})

    assert [o.client_id for o in journal.pending_orders()] == ["a1", "b1"]
    assert [o.client_id for o in journal.pending_orders("a")] == ["a1"]


def test_recovery_lookup_settles_a_pending_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append("order_found", "main", T0 + 9, {"client_id": "c1", "after": "restart"})

    assert journal.pending_orders() == []


def test_recovery_lookup_records_the_exchange_status_and_fill(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append(
        "order_found",
        "main",
        T0 + 9,
        {"client_id": "c1", "after": "restart", "order_id": "8", "status": "closed", "filled": 1.5},
    )

    record = journal.order("c1")
    assert record is not None
    assert (record.status, record.exchange_id, record.exchange_status, record.filled) == (
        "found",
        "8",
        "closed",
        1.5,
    )


def test_orders_lists_by_account_and_intent_time(journal: SqliteJournal) -> None:
    _intent(journal, "a1", account="a", t=T0)
    _intent(journal, "b1", account="b", t=T0 + 10)
    _intent(journal, "a2", account="a", t=T0 + 20)

    assert [o.client_id for o in journal.orders()] == ["a1", "b1", "a2"]
    assert [o.client_id for o in journal.orders("a")] == ["a1", "a2"]
    assert [o.client_id for o in journal.orders(since_ms=T0 + 10)] == ["b1", "a2"]
    assert [o.client_id for o in journal.orders("a", since_ms=T0 + 10)] == ["a2"]


def test_intent_for_a_known_client_id_rearms_the_order(journal: SqliteJournal) -> None:
    _intent(journal, "c1")
    journal.append("order_failed", "main", T0, {"client_id": "c1", "error": "rejected"})

    _intent(journal, "c1", t=T0 + 100)

    record = journal.order("c1")
    assert record is not None
    assert (record.status, record.error, record.intent_seq) == ("intent", None, 3)
    assert len(journal.orders()) == 1


def test_half_size_retry_intent_inherits_symbol_side_and_kind_from_its_plan(
    journal: SqliteJournal,
) -> None:
    _intent(journal, "c1")
    journal.append("order_failed", "main", T0, {"client_id": "c1", "error": "rejected"})

    journal.append(
        "order_intent",
        "main",
        T0,
        {"plan_id": "p1", "client_id": "c1h", "contracts": 0.75, "retry": "half"},
    )

    record = journal.order("c1h")
    assert record is not None
    assert (record.symbol, record.side, record.kind, record.contracts) == (
        SYMBOL,
        "sell",
        "reduce",
        0.75,
    )


def test_intent_without_symbol_or_parent_keeps_the_fields_empty(journal: SqliteJournal) -> None:
    journal.append("order_intent", "main", T0, {"plan_id": "p9", "client_id": "x"})
    journal.append("order_intent", "main", T0, {"client_id": "y", "contracts": math.inf})

    x, y = journal.orders()
    assert (x.symbol, x.side, x.kind) == (None, None, None)
    assert (y.plan_id, y.contracts) == (None, None)


def test_events_without_an_order_row_are_journalled_and_change_no_order(
    journal: SqliteJournal,
) -> None:
    journal.append("order_intent", "main", T0, {"symbol": SYMBOL})
    journal.append("order_sent", "main", T0, {"client_id": "ghost", "order_id": "1"})
    journal.append("stop_cancelled", "main", T0, {"order_id": "unseen"})

    assert journal.orders() == []
    assert journal.count() == 3


def test_order_numbers_that_are_not_numbers_are_stored_empty(journal: SqliteJournal) -> None:
    _intent(journal, "c1")

    journal.append("order_sent", "main", T0, {"client_id": "c1", "filled": True, "average": "1"})

    record = journal.order("c1")
    assert record is not None
    assert (record.filled, record.average, record.exchange_id) == (None, None, None)


def _executor(client: PaperExchange, clock: VirtualClock, journal: Journal) -> Executor:
    return Executor(
        client,
        account="main",
        exchange_id="paper",
        journal=journal,
        clock=clock,
        alert=lambda _level, _message, _payload: None,
        config=ExecutorConfig(prefix="rg", amount_steps={SYMBOL: 0.001}),
    )


def test_executor_reduction_leaves_a_sent_order_matching_the_venue(journal: SqliteJournal) -> None:
    venue, clock = _venue()
    client = PaperExchange(venue, "main", clock=clock)
    snapshot = asyncio.run(_snapshot(client))

    outcomes = asyncio.run(
        _executor(client, clock, journal).execute("p1", [(_reduce(0.5), [1.5])], snapshot)
    )

    (record,) = journal.orders("main")
    assert record.status == "sent"
    assert record.client_id == outcomes[0].client_ids[0]
    assert record.exchange_id == outcomes[0].exchange_ids[0]
    assert record.filled == pytest.approx(1.5)
    assert (record.symbol, record.side, record.kind) == (SYMBOL, "sell", "reduce")


def test_executor_rejected_reduction_and_its_half_retry_both_fail(
    journal: SqliteJournal,
) -> None:
    venue, clock = _venue()
    faults = FaultConfig(seed=1, methods={"create_order": MethodFaults(reject=1.0)})
    client = PaperExchange(venue, "main", clock=clock, faults=faults)
    snapshot = asyncio.run(_snapshot(client))

    asyncio.run(_executor(client, clock, journal).execute("p1", [(_reduce(1.0), [1.0])], snapshot))

    orders = [(o.status, o.symbol, o.contracts) for o in journal.orders()]
    assert orders == [("failed", SYMBOL, 1.0), ("failed", SYMBOL, 0.5)]
    assert journal.pending_orders() == []


def test_executor_stop_replacement_cancels_the_old_stop_row(journal: SqliteJournal) -> None:
    venue, clock = _venue()
    client = PaperExchange(venue, "main", clock=clock)
    snapshot = asyncio.run(_snapshot(client))
    executor = _executor(client, clock, journal)
    stop = Action(
        kind=ActionKind.PLACE_STOP,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="stop_loss",
        level=Level.WARN,
        reason="keep a stop",
        target_size=2.0,
        stop_price=91_000.0,
    )
    asyncio.run(executor.execute("p1", [(stop, [])], snapshot))
    markets = asyncio.run(client.load_markets())
    open_orders = asyncio.run(client.fetch_open_orders(SYMBOL, params={"trigger": True}))
    stops = open_stops_from_ccxt(open_orders, markets, lambda c: is_guard_client_id(c, "rg"))
    safer = Action(**{**{f: getattr(stop, f) for f in stop.__slots__}, "stop_price": 93_000.0})

    asyncio.run(executor.execute("p2", [(safer, [])], snapshot, stops))

    old, new = journal.orders()
    assert (old.status, old.stop_price) == ("cancelled", 91_000.0)
    assert (new.status, new.stop_price, new.kind) == ("sent", 93_000.0, "stop")


# ------------------------------------------------------------------------------ state


def test_state_round_trips_json_values_with_non_finite_numbers(journal: SqliteJournal) -> None:
    memory = {"armed": True, "peak_equity": 10_500.0, "sigma": [math.inf, 0.01]}

    journal.put_state("main", "rule:drawdown", memory)

    assert journal.get_state("main", "rule:drawdown") == memory
    assert journal.get_state("main", "planner") is None
    assert journal.get_state("other", "rule:drawdown") is None


def test_state_is_replaced_and_stamped_with_the_journals_clock(path: Path) -> None:
    clock = VirtualClock(T0)
    with SqliteJournal(path, clock=clock) as opened:
        opened.put_state("main", "planner", {"cooldowns": {}})
        clock.advance_to(T0 + 5_000)

        opened.put_state("main", "planner", {"cooldowns": {"BTC": T0}})

        assert opened.get_state("main", "planner") == {"cooldowns": {"BTC": T0}}
        assert opened.state_time_ms("main", "planner") == T0 + 5_000
        assert opened.state_time_ms("main", "nothing") is None


def test_state_survives_a_restart_and_loads_per_account(path: Path) -> None:
    with SqliteJournal(path) as first:
        first.put_states("main", {"planner": {"n": 1}, "vol:BTC": 0.02})
        first.put_state("alt", "planner", {"n": 2})

    with SqliteJournal(path) as again:
        loaded = again.load_state("main")

    assert loaded == {"planner": {"n": 1}, "vol:BTC": 0.02}


def test_state_value_that_is_not_json_ready_is_refused_and_nothing_is_stored(
    journal: SqliteJournal,
) -> None:
    with pytest.raises(TypeError, match="state main/planner: set"):
        journal.put_states("main", {"vol": 0.1, "planner": {1.5, 2.5}})

    assert journal.load_state("main") == {}


# ------------------------------------------------------------------------------ retention


def test_prune_deletes_old_entries_and_returns_how_many(journal: SqliteJournal) -> None:
    for i in range(5):
        journal.append("cycle", "main", T0 + i * 1000, {"i": i})

    deleted = journal.prune(T0 + 3000)

    assert deleted == 3
    assert [e.payload["i"] for e in journal.entries()] == [3, 4]


def test_prune_keeps_the_kinds_asked_for(journal: SqliteJournal) -> None:
    journal.append("cycle", "main", T0, {})
    journal.append("alert", "main", T0, {})
    journal.append("order_sent", "main", T0, {})

    deleted = journal.prune(T0 + 1, keep_kinds=("alert", "order_sent"))

    assert deleted == 1
    assert [e.kind for e in journal.entries()] == ["alert", "order_sent"]


def test_prune_never_deletes_pending_orders_or_their_intents(journal: SqliteJournal) -> None:
    _intent(journal, "pending")
    _intent(journal, "done")
    journal.append("order_sent", "main", T0, {"client_id": "done", "order_id": "1"})

    deleted = journal.prune(T0 + 1)

    assert deleted == 2
    (kept,) = journal.entries()
    assert (kept.kind, kept.payload["client_id"]) == ("order_intent", "pending")
    assert [o.client_id for o in journal.orders()] == ["pending"]


def test_seq_keeps_rising_after_everything_is_pruned(journal: SqliteJournal) -> None:
    journal.append("cycle", "main", T0, {})
    journal.append("cycle", "main", T0, {})
    journal.prune(T0 + 1)

    entry = journal.append("cycle", "main", T0 + 2, {})

    assert entry.seq == 3
    assert journal.last_seq() == 3
    assert journal.count() == 1


def test_vacuum_shrinks_the_file_after_a_prune(path: Path) -> None:
    with SqliteJournal(path, synchronous="normal") as opened:
        for i in range(300):
            opened.append("snapshot", "main", T0 + i, {"blob": "x" * 2_000})
        opened.prune(T0 + 300)
        opened._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.stat().st_size

        opened.vacuum()

        opened._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert path.stat().st_size < before / 10


def test_vacuum_of_a_readonly_journal_raises_a_write_error(path: Path) -> None:
    SqliteJournal(path).close()

    with (
        SqliteJournal(path, readonly=True) as reader,
        pytest.raises(JournalWriteError, match=r"cannot vacuum \(attempt to write a readonly"),
    ):
        reader.vacuum()


# ------------------------------------------------------------------------------ sampling


def test_snapshot_is_sampled_when_none_is_recent(journal: SqliteJournal) -> None:
    every_s = 60.0
    assert journal.should_sample_snapshot("main", T0, every_s)
    journal.append("snapshot", "main", T0, {"equity": 1.0})

    assert not journal.should_sample_snapshot("main", T0 + 59_999, every_s)
    assert journal.should_sample_snapshot("main", T0 + 60_000, every_s)
    assert journal.should_sample_snapshot("other", T0 + 1, every_s)


def test_snapshot_is_sampled_when_the_clock_went_back(journal: SqliteJournal) -> None:
    journal.append("snapshot", "main", T0, {"equity": 1.0})

    assert journal.should_sample_snapshot("main", T0 - 1, 60.0)
