"""An account's state is written when what decides actions changes, not on every cycle.

The stale-data rule's ``last_good_at`` moves with every consistent snapshot, like the volatility
estimates and the cycle counter: a change in it alone is saved with the rest at most every
``STATE_SAVE_EVERY_S``; a change of a rule's level is written at once. Counted, not timed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.scheduler import STATE_SAVE_EVERY_S, Daemon
from riskguard.daemon.wiring import STATE_KEY, build_runtime
from riskguard.guard.cycle import STALE_RULE
from tests.daemon.conftest import paper_config, write_config

ENV = {"RG_K": "key-0123456789", "RG_S": "secret-0123456789"}


def _no_alert(*_: Any) -> None:
    return None


def test_a_moving_last_good_time_alone_is_not_written_but_a_level_change_is(
    tmp_path: Path,
) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite", synchronous="normal")
    config = write_config(tmp_path, paper_config(journal.path, accounts=1))
    runtime = build_runtime(config, alert=_no_alert, environ=ENV, journal=journal)
    daemon = Daemon(runtime, alert=_no_alert)
    run = daemon.runs["acct0"]
    acct = run.acct
    acct.memories[STALE_RULE] = {"first_seen_at": 100.0, "last_good_at": 100.0, "level": 0}
    daemon._save_state(run, force=True)
    writes: list[str] = []
    put_states = journal.put_states

    def spy(account: str, values: dict[str, Any]) -> None:
        writes.extend(k for k in values if k == STATE_KEY)
        put_states(account, values)

    journal.put_states = spy  # type: ignore[method-assign]

    for second in range(1, 31):  # thirty fresh snapshots: only last_good_at and cycles move
        acct.memories[STALE_RULE] = {**acct.memories[STALE_RULE], "last_good_at": 100.0 + second}
        acct.cycles += 1
        daemon._save_state(run)
    assert writes == []

    acct.memories[STALE_RULE] = {**acct.memories[STALE_RULE], "level": 1}
    daemon._save_state(run)
    assert writes == [STATE_KEY]

    run.last_state_saved -= STATE_SAVE_EVERY_S  # a minute later the moving figures go too
    acct.memories[STALE_RULE] = {**acct.memories[STALE_RULE], "last_good_at": 200.0}
    daemon._save_state(run)
    assert writes == [STATE_KEY, STATE_KEY]
    saved = journal.get_state("acct0", STATE_KEY)
    assert saved["memories"][STALE_RULE]["last_good_at"] == 200.0

    asyncio.run(runtime.aclose())
    journal.close()
