"""Saved state (JSON values per account and key) and snapshot sampling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from riskguard.clock import VirtualClock
from riskguard.daemon.journal import SqliteJournal
from tests.daemon.journal.helpers import T0


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
