"""The journal's entries: appending, filtering, streaming, the latest and the count."""

from __future__ import annotations

from typing import Any

from riskguard.daemon.journal import SqliteJournal
from tests.daemon.journal.helpers import T0


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


def test_last_times_gives_each_accounts_latest_entry_of_a_kind_in_seq_order(
    journal: SqliteJournal,
) -> None:
    journal.append("snapshot", "a", T0 + 5, {})
    journal.append("snapshot", "a", T0 + 3, {})  # the clock went back: still the latest
    journal.append("snapshot", "b", T0 + 1, {})
    journal.append("cycle", "c", T0 + 9, {})

    assert journal.last_times("snapshot") == {"a": T0 + 3, "b": T0 + 1}
    assert journal.last_times("plan") == {}
