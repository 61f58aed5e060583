"""The alert center: routing, the quiet window for events, journal first, hysteresis state."""

from __future__ import annotations

from structlog.testing import capture_logs

from riskguard.alerts.center import (
    LEGACY_STATE_ACCOUNT,
    STATE_KEY,
    AlertCenter,
    Route,
    restore_saved,
)
from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.hysteresis import Condition
from riskguard.alerts.model import Severity
from riskguard.alerts.outbox import MemoryOutbox
from riskguard.guard.rules.base import Level
from tests.alerts.conftest import T0, Clock, make_alert

ROUTES = [
    Route("ops-slack", Severity.WARNING),
    Route("pager", Severity.CRITICAL),
    Route("binance-only", Severity.INFO, ("binance-*",)),
]


def _center(clock: Clock, woken: list[int] | None = None) -> tuple[AlertCenter, MemoryOutbox]:
    outbox = MemoryOutbox()
    center = AlertCenter(
        outbox,
        ROUTES,
        AlertingConfig(event_quiet_s=300, recovery_hold_s=60),
        now_ms=clock,
        queue_ms=clock,
        on_queued=(lambda: woken.append(len(outbox.outbox_rows()))) if woken is not None else None,
    )
    return center, outbox


def _sinks(outbox: MemoryOutbox, alert_id: str) -> list[str]:
    return [r.sink for r in outbox.outbox_rows() if r.alert_id == alert_id]


def test_routing_by_severity_and_account_pattern(clock: Clock) -> None:
    center, outbox = _center(clock)

    center.send(make_alert(1, severity=Severity.WARNING, account="main"))
    center.send(make_alert(2, severity=Severity.CRITICAL, account="main"))
    center.send(make_alert(3, severity=Severity.INFO, account="binance-perp"))
    center.send(make_alert(4, severity=Severity.CRITICAL, account="binance-perp"))

    assert _sinks(outbox, "alert-1") == ["ops-slack"]
    assert _sinks(outbox, "alert-2") == ["ops-slack", "pager"]
    assert _sinks(outbox, "alert-3") == ["binance-only"]
    assert _sinks(outbox, "alert-4") == ["ops-slack", "pager", "binance-only"]


def test_alerts_about_no_account_go_to_every_sink_that_takes_their_severity(clock: Clock) -> None:
    center, outbox = _center(clock)

    center.send(make_alert(1, severity=Severity.CRITICAL, account=None))

    assert _sinks(outbox, "alert-1") == ["ops-slack", "pager", "binance-only"]


def test_every_alert_is_journalled_before_the_dispatcher_is_woken(clock: Clock) -> None:
    woken: list[int] = []
    center, outbox = _center(clock, woken)

    center.send(make_alert(1))
    center.send(make_alert(2, severity=Severity.INFO, account="elsewhere"))  # no sink takes it

    assert woken == [1]  # woken once, after the row was stored; not for the unrouted alert
    queued = outbox.journal.entries(kind="alert_queued")
    assert [(e.payload["id"], e.payload["sinks"]) for e in queued] == [
        ("alert-1", ["ops-slack"]),
        ("alert-2", []),
    ]


def test_the_same_event_within_the_quiet_window_is_not_repeated(clock: Clock) -> None:
    center, outbox = _center(clock)
    alert = center.alert_fn()

    alert(Level.CRITICAL, "could not place a stop", {"account": "main", "symbol": "BTC"})
    clock.advance(299)
    alert(Level.CRITICAL, "could not place a stop", {"account": "main", "symbol": "BTC"})
    alert(Level.CRITICAL, "could not place a stop", {"account": "main", "symbol": "ETH"})
    clock.advance(1)
    alert(Level.CRITICAL, "could not place a stop", {"account": "main", "symbol": "BTC"})

    queued = outbox.journal.entries(kind="alert_queued")
    assert [(e.payload["symbol"], e.time_ms - T0) for e in queued] == [
        ("BTC", 0),
        ("ETH", 299_000),
        ("BTC", 300_000),
    ]


def test_event_payload_becomes_the_alert_fields_and_figures(clock: Clock) -> None:
    center, outbox = _center(clock)

    center.alert_fn()(
        Level.WARN,
        "guard reduce from 2 to 1.2",
        {
            "account": "main",
            "symbol": "BTC/USDT:USDT",
            "side": "long",
            "rule": "liquidation_distance",
            "figures": {"distance_pct": 3.1, "act_pct": 5.0},
            "client_ids": "rg-1",
        },
    )

    (row,) = outbox.outbox_rows()
    assert row.alert["severity"] == "warning"
    assert (row.alert["account"], row.alert["symbol"], row.alert["side"], row.alert["rule"]) == (
        "main",
        "BTC/USDT:USDT",
        "long",
        "liquidation_distance",
    )
    assert row.alert["figures"] == [["distance_pct", 3.1], ["act_pct", 5.0], ["client_ids", "rg-1"]]


def test_conditions_pass_through_hysteresis_and_are_logged(clock: Clock) -> None:
    center, outbox = _center(clock)
    warn = Condition("main", "liquidation_distance", "finding", Level.WARN, "distance 7.9%")

    with capture_logs() as logs:
        for _ in range(10):
            center.conditions("main", [warn])
            clock.advance(5)

    assert len(outbox.outbox_rows()) == 1
    assert [e["event"] for e in logs if e["event"] == "alert"] == ["alert"]
    assert logs[0]["log_level"] == "warning"
    assert center.dirty


class _CountedScans(dict[tuple[str, ...], int]):
    """The center's memory of recent events, counting how often all of it is read."""

    scans = 0

    def items(self):  # type: ignore[no-untyped-def]
        self.scans += 1
        return super().items()


def test_events_of_many_accounts_do_not_each_scan_every_accounts_events(clock: Clock) -> None:
    center, outbox = _center(clock)
    seen = _CountedScans()
    center._last_event_ms = seen

    for i in range(3000):  # all within the quiet window: none can be forgotten
        center.event(make_alert(i, account=f"acct{i}", time_ms=clock() + i))

    assert len(outbox.journal.entries(kind="alert_queued")) == 3000
    assert seen.scans <= 2  # at 1,024 and 2,048 remembered events, not at every event after


def test_events_older_than_the_quiet_window_are_forgotten_as_the_memory_doubles(
    clock: Clock,
) -> None:
    center, _ = _center(clock)
    for i in range(1100):  # a pass at 1,024 forgets nothing (all recent): next at 2,048
        center.event(make_alert(i, account=f"old{i}", time_ms=clock()))
    clock.advance(300)

    for i in range(1000):
        center.event(make_alert(i, account=f"new{i}", time_ms=clock()))

    assert len(center._last_event_ms) == 1000
    assert {key[0] for key in center._last_event_ms} == {f"new{i}" for i in range(1000)}


def _warn(account: str, rule: str = "liquidation_distance") -> Condition:
    return Condition(account, rule, "finding", Level.WARN, "distance 7.9%")


def test_saved_episodes_stop_a_restarted_center_from_repeating_itself(clock: Clock) -> None:
    center, _ = _center(clock)
    center.conditions("main", [_warn("main")])
    saved = center.take_state("main")

    restarted, outbox = _center(clock)
    restarted.restore("main", saved)
    restarted.conditions("main", [_warn("main")])

    assert outbox.outbox_rows() == []
    assert not restarted.dirty


def test_a_change_marks_only_its_account_and_its_saved_state_holds_only_its_episodes(
    clock: Clock,
) -> None:
    center, _ = _center(clock)
    for i in range(20):
        center.conditions(f"acct{i}", [_warn(f"acct{i}")])
    center.take_changed()

    center.conditions("acct7", [_warn("acct7"), _warn("acct7", "shortfall")])

    assert [a for a in (f"acct{i}" for i in range(20)) if center.changed(a)] == ["acct7"]
    saved = center.take_state("acct7")
    assert {row["key"][0] for row in saved} == {"acct7"}
    assert len(saved) == 2
    assert not center.dirty


def test_an_account_whose_episodes_all_ended_is_saved_empty(clock: Clock) -> None:
    center, _ = _center(clock)
    center.conditions("main", [_warn("main")])
    center.take_state("main")

    clock.advance(3600)
    center.conditions("main", [])
    clock.advance(3600)
    center.conditions("main", [])

    assert center.take_changed() == {"main": []}


def test_the_old_single_row_is_split_by_account_and_an_accounts_own_row_wins(
    clock: Clock,
) -> None:
    before, _ = _center(clock)
    for account in ("a", "b", "c"):
        before.conditions(account, [_warn(account)])
    rows = before.take_changed()
    legacy = [*rows["a"], *rows["b"], *rows["c"]]
    own = {"b": []}  # b's episodes ended after it got a row of its own

    center, outbox = _center(clock)
    center.restore("b", own["b"])
    center.restore_legacy(legacy, saved=["b"])

    assert center.legacy_pending
    assert center.take_changed() == {"a": rows["a"], "c": rows["c"]}
    for account in ("a", "c"):
        center.conditions(account, [_warn(account)])
    assert outbox.outbox_rows() == []  # a and c carried on; nothing said twice


def test_restore_saved_reads_each_accounts_row_then_the_old_row_for_the_rest(
    clock: Clock,
) -> None:
    before, _ = _center(clock)
    for account in ("a", "b"):
        before.conditions(account, [_warn(account)])
    rows = before.take_changed()
    table = {("a", STATE_KEY): rows["a"], (LEGACY_STATE_ACCOUNT, STATE_KEY): rows["b"]}
    asked: list[tuple[str, str]] = []

    def get_state(account: str, key: str) -> object:
        asked.append((account, key))
        return table.get((account, key))

    center, _ = _center(clock)
    restore_saved(center, get_state, ["a", "b"])

    assert asked == [("a", STATE_KEY), ("b", STATE_KEY), (LEGACY_STATE_ACCOUNT, STATE_KEY)]
    assert center.take_changed() == {"b": rows["b"]}
    assert center.take_state("a") == rows["a"]
    assert center.legacy_pending


def test_no_old_row_means_nothing_to_migrate(clock: Clock) -> None:
    center, _ = _center(clock)

    restore_saved(center, lambda account, key: None, ["a"])

    assert not center.legacy_pending
    assert not center.dirty
