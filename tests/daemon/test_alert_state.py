"""The daemon saves each account's alert episodes in a row of its own, with the account's state.

What one account's save writes is counted (rows and bytes handed to the journal), not timed: it
must not grow with the number of accounts. A journal written by an older version keeps every
account's episodes in one row, account ``*``: it is split into per-account rows and emptied.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from riskguard.alerts.center import LEGACY_STATE_ACCOUNT, STATE_KEY
from riskguard.alerts.hysteresis import Condition
from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.journal.codec import encode_json
from riskguard.daemon.scheduler import Daemon
from riskguard.daemon.wiring import STATE_KEY as ACCOUNT_STATE_KEY
from riskguard.daemon.wiring import Runtime, build_runtime
from riskguard.guard.rules.base import Level
from tests.daemon.conftest import paper_config, write_config

ENV = {"RG_K": "key-0123456789", "RG_S": "secret-0123456789"}

Write = tuple[str, str, int]
"""(account, key, bytes of the JSON value) of one row handed to the journal."""


def _no_alert(*_: Any) -> None:
    return None


def _warn(account: str, rule: str = "liquidation_distance") -> Condition:
    return Condition(account, rule, "finding", Level.WARN, f"{rule} warns", symbol="BTC/USDT:USDT")


def _spy(journal: SqliteJournal) -> list[Write]:
    """Record every row the daemon writes to ``journal`` (and still write it)."""
    writes: list[Write] = []
    put_states = journal.put_states

    def spy_states(account: str, values: dict[str, Any]) -> None:
        writes.extend((account, k, len(encode_json(v))) for k, v in values.items())
        put_states(account, values)

    def spy_state(account: str, key: str, value: Any) -> None:
        spy_states(account, {key: value})

    journal.put_states = spy_states  # type: ignore[method-assign]
    journal.put_state = spy_state  # type: ignore[method-assign]
    return writes


def _runtime(tmp_path: Path, journal: SqliteJournal, document: dict[str, Any]) -> Runtime:
    config = write_config(tmp_path, document)
    return build_runtime(config, alert=_no_alert, environ=ENV, journal=journal)


def _one_accounts_save(tmp_path: Path, accounts: int) -> list[Write]:
    """What acct0's save writes when its episodes change while ``accounts`` accounts hold some."""
    journal = SqliteJournal(tmp_path / f"journal-{accounts}.sqlite", synchronous="normal")
    runtime = _runtime(tmp_path, journal, paper_config(journal.path, accounts=accounts))
    daemon = Daemon(runtime, alert=_no_alert)
    for name, run in daemon.runs.items():
        runtime.alerts.conditions(name, [_warn(name)])
        daemon._save_state(run, force=True)
    writes = _spy(journal)

    runtime.alerts.conditions("acct0", [_warn("acct0"), _warn("acct0", "shortfall")])
    daemon._save_state(daemon.runs["acct0"])

    asyncio.run(runtime.aclose())
    journal.close()
    return writes


def test_one_accounts_save_writes_its_own_episodes_and_nothing_that_grows_with_the_accounts(
    tmp_path: Path,
) -> None:
    few = _one_accounts_save(tmp_path, 2)
    many = _one_accounts_save(tmp_path, 40)

    assert [(a, k) for a, k, _ in few] == [("acct0", STATE_KEY)]
    assert many == few


def test_an_unchanged_account_writes_no_episodes(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
    runtime = _runtime(tmp_path, journal, paper_config(journal.path, accounts=2))
    daemon = Daemon(runtime, alert=_no_alert)
    runtime.alerts.conditions("acct1", [_warn("acct1")])
    writes = _spy(journal)

    daemon._save_state(daemon.runs["acct0"], force=True)

    assert [(a, k) for a, k, _ in writes] == [("acct0", ACCOUNT_STATE_KEY)]
    assert runtime.alerts.changed("acct1")
    asyncio.run(runtime.aclose())
    journal.close()


def _live(journal: Path) -> dict[str, Any]:
    """acct0 on the paper venue and ``live`` on bybit: a runtime that restores saved episodes."""
    document = paper_config(journal)
    document["accounts"].append(
        {"id": "live", "exchange": "bybit", "api_key_env": "RG_K", "secret_env": "RG_S"}
    )
    return document


def test_an_older_versions_single_row_is_split_into_rows_per_account_once(
    tmp_path: Path, journal_path: Path
) -> None:
    journal = SqliteJournal(journal_path, synchronous="normal")
    runtime = _runtime(tmp_path, journal, _live(journal_path))
    for account in ("acct0", "live", "gone"):
        runtime.alerts.conditions(account, [_warn(account)])
    before = runtime.alerts.take_changed()
    asyncio.run(runtime.aclose())
    legacy = [*before["acct0"], *before["gone"], *before["live"]]
    journal.put_state(LEGACY_STATE_ACCOUNT, STATE_KEY, legacy)

    runtime = _runtime(tmp_path, journal, _live(journal_path))
    daemon = Daemon(runtime, alert=_no_alert)
    writes = _spy(journal)
    daemon._save_state(daemon.runs["live"])
    asyncio.run(runtime.aclose())

    # The first save writes every account's episodes to its own row (an account no longer in
    # the config too), then empties the old row; nothing after writes the old row again.
    assert [(a, k) for a, k, _ in writes] == [
        ("acct0", STATE_KEY),
        ("gone", STATE_KEY),
        ("live", STATE_KEY),
        (LEGACY_STATE_ACCOUNT, STATE_KEY),
        ("live", ACCOUNT_STATE_KEY),
    ]
    assert journal.get_state(LEGACY_STATE_ACCOUNT, STATE_KEY) is None
    for account in ("acct0", "gone", "live"):
        assert journal.get_state(account, STATE_KEY) == before[account]

    restarted = _runtime(tmp_path, journal, _live(journal_path))
    assert not restarted.alerts.legacy_pending
    assert restarted.alerts.take_state("live") == before["live"]
    asyncio.run(restarted.aclose())
    journal.close()


def test_a_stopping_daemon_saves_the_episodes_no_cycle_saved(
    tmp_path: Path, journal_path: Path
) -> None:
    journal = SqliteJournal(journal_path, synchronous="normal")
    runtime = _runtime(tmp_path, journal, _live(journal_path))
    daemon = Daemon(runtime, alert=_no_alert)
    runtime.alerts.conditions("live", [_warn("live")])

    asyncio.run(daemon.shutdown())

    with SqliteJournal(journal_path, readonly=True) as saved:
        (row,) = saved.get_state("live", STATE_KEY)
        assert row["key"][:2] == ["live", "BTC/USDT:USDT"]
        assert saved.get_state(LEGACY_STATE_ACCOUNT, STATE_KEY) is None
