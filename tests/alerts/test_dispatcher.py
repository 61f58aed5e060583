"""The delivery loop: retries with backoff, Retry-After, dead letters, digests, rate limits."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.dispatcher import Dispatcher, TokenBucket
from riskguard.alerts.model import Severity
from riskguard.alerts.outbox import MemoryOutbox, Outbox
from riskguard.daemon.journal import GroupCommitJournal, SqliteJournal
from tests.alerts.conftest import (
    Clock,
    ScriptedSink,
    make_alert,
    permanent,
    retryable,
    sink_config,
)


@pytest.fixture(params=["memory", "sqlite", "sqlite-writer-thread"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outbox]:
    if request.param == "memory":
        yield MemoryOutbox()
        return
    kind = GroupCommitJournal if request.param == "sqlite-writer-thread" else SqliteJournal
    with kind(tmp_path / "journal.sqlite3", synchronous="normal") as journal:
        yield journal


def _dispatcher(
    outbox: Outbox, sink: ScriptedSink, policy: AlertingConfig, clock: Clock, **config: object
) -> Dispatcher:
    return Dispatcher(
        outbox,
        [(sink, sink_config(**config))],
        policy,
        now_ms=clock,
        rng=random.Random(7),
    )


def test_a_queued_alert_is_delivered_and_marked(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink()
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())

    attempts = asyncio.run(_dispatcher(outbox, sink, policy, clock).deliver_due())

    assert sink.received == [["alert-1"]]
    assert [a.outcome for a in attempts] == ["delivered"]
    (row,) = outbox.outbox_rows()
    assert (row.status, row.attempts) == ("delivered", 1)


def test_a_failure_is_retried_after_a_doubling_backoff(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink(script=[retryable(), retryable(), retryable(), None])
    dispatcher = _dispatcher(outbox, sink, policy, clock)
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())

    waits = []
    for _ in range(3):
        asyncio.run(dispatcher.deliver_due())
        (row,) = outbox.outbox_rows("pending")
        waits.append((row.next_ms - clock()) / 1000)
        assert asyncio.run(dispatcher.deliver_due()) == []  # not due yet: nothing is sent
        clock.now = row.next_ms
    asyncio.run(dispatcher.deliver_due())

    assert waits[0] == pytest.approx(2, rel=0.2)
    assert waits[1] == pytest.approx(4, rel=0.2)
    assert waits[2] == pytest.approx(8, rel=0.2)
    (row,) = outbox.outbox_rows()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 4, "hook answered HTTP 500")


def test_retry_after_is_honoured_exactly_and_pauses_the_whole_sink(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink(script=[retryable(retry_after_s=37)])
    dispatcher = _dispatcher(outbox, sink, policy, clock)
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())
    asyncio.run(dispatcher.deliver_due())

    outbox.queue_alert(make_alert(2).to_json(), ["hook"], clock())  # due now, but the sink waits
    clock.advance(36.9)
    assert asyncio.run(dispatcher.deliver_due()) == []
    clock.advance(0.1)
    asyncio.run(dispatcher.deliver_due())

    (first,) = [r for r in outbox.outbox_rows() if r.alert_id == "alert-1"]
    assert first.next_ms == clock()
    assert first.status == "delivered"
    assert sorted(i for message in sink.received for i in message) == ["alert-1", "alert-2"]


def test_after_max_attempts_the_alert_is_dead_lettered_with_an_error_log(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink(script=[retryable() for _ in range(3)])
    dispatcher = _dispatcher(outbox, sink, policy, clock, max_attempts=3)
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())

    with capture_logs() as logs:
        for _ in range(3):
            asyncio.run(dispatcher.deliver_due())
            clock.advance(600)

    (row,) = outbox.outbox_rows()
    assert (row.status, row.attempts) == ("dead", 3)
    dead = [e for e in logs if e["event"] == "alert_dead"]
    assert len(dead) == 1
    assert dead[0]["log_level"] == "error"
    assert dead[0]["alert_ids"] == ["alert-1"]
    assert "attempt 3" in dead[0]["error"]
    assert asyncio.run(dispatcher.deliver_due()) == []


def test_a_permanent_failure_goes_to_the_dead_letters_at_once(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink(script=[permanent()])
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())

    attempts = asyncio.run(_dispatcher(outbox, sink, policy, clock).deliver_due())

    assert [(a.outcome, a.error) for a in attempts] == [
        ("dead", "hook answered HTTP 404: no_service")
    ]
    (row,) = outbox.outbox_rows()
    assert (row.status, row.attempts) == ("dead", 1)


def test_many_alerts_at_once_go_as_one_digest_most_severe_first(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink()
    for n in range(1, 8):
        severity = Severity.CRITICAL if n == 5 else Severity.WARNING
        outbox.queue_alert(make_alert(n, severity=severity).to_json(), ["hook"], clock())

    asyncio.run(_dispatcher(outbox, sink, policy, clock, digest_after=3).deliver_due())

    assert sink.received == [
        ["alert-5", "alert-1", "alert-2", "alert-3", "alert-4", "alert-6", "alert-7"]
    ]
    assert {r.status for r in outbox.outbox_rows()} == {"delivered"}


def test_a_few_alerts_go_one_by_one(outbox: Outbox, policy: AlertingConfig, clock: Clock) -> None:
    sink = ScriptedSink()
    for n in (1, 2, 3):
        outbox.queue_alert(make_alert(n).to_json(), ["hook"], clock())

    asyncio.run(_dispatcher(outbox, sink, policy, clock, digest_after=3).deliver_due())

    assert sink.received == [["alert-1"], ["alert-2"], ["alert-3"]]


def test_the_rate_limit_holds_messages_back_until_tokens_refill(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink()
    dispatcher = _dispatcher(
        outbox, sink, policy, clock, rate_per_minute=6, burst=1, digest_after=1
    )
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())
    asyncio.run(dispatcher.deliver_due())
    outbox.queue_alert(make_alert(2).to_json(), ["hook"], clock())

    assert asyncio.run(dispatcher.deliver_due()) == []  # bucket empty: one token per 10 s
    assert dispatcher.seconds_to_next() == pytest.approx(10)
    clock.advance(10)
    asyncio.run(dispatcher.deliver_due())

    assert sink.received == [["alert-1"], ["alert-2"]]


def test_when_tokens_are_short_the_backlog_goes_as_a_digest(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink()
    dispatcher = _dispatcher(outbox, sink, policy, clock, burst=1, digest_after=5)
    for n in (1, 2):
        outbox.queue_alert(make_alert(n).to_json(), ["hook"], clock())

    asyncio.run(dispatcher.deliver_due())

    assert sink.received == [["alert-1", "alert-2"]]


def test_rows_for_a_sink_no_longer_configured_are_dead_lettered_not_kept_forever(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    outbox.queue_alert(make_alert(1).to_json(), ["old-sink", "hook"], clock())
    dispatcher = _dispatcher(outbox, ScriptedSink(), policy, clock)

    with capture_logs() as logs:
        retired = dispatcher.retire_unknown_sinks()

    assert retired == 1
    assert [(r.sink, r.status) for r in outbox.outbox_rows()] == [
        ("old-sink", "dead"),
        ("hook", "pending"),
    ]
    assert any(e["event"] == "alert_dead" and e["sink"] == "old-sink" for e in logs)


def test_a_sink_that_raises_something_unexpected_is_retried_not_fatal(
    outbox: Outbox, policy: AlertingConfig, clock: Clock
) -> None:
    sink = ScriptedSink(script=[RuntimeError("bug in a sink")])
    outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())

    with capture_logs():
        attempts = asyncio.run(_dispatcher(outbox, sink, policy, clock).deliver_due())

    assert [a.outcome for a in attempts] == ["retry"]
    assert "RuntimeError: bug in a sink" in (attempts[0].error or "")


def test_run_delivers_when_woken_and_flush_drains_before_stop(outbox: Outbox, clock: Clock) -> None:
    policy = AlertingConfig(gather_s=0.01)
    sink = ScriptedSink()
    dispatcher = _dispatcher(outbox, sink, policy, clock)

    async def scenario() -> None:
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(0.01)
        outbox.queue_alert(make_alert(1).to_json(), ["hook"], clock())
        dispatcher.wake()
        for _ in range(100):
            if sink.received:
                break
            await asyncio.sleep(0.01)
        outbox.queue_alert(make_alert(2).to_json(), ["hook"], clock())
        assert await dispatcher.flush(1.0)
        dispatcher.stop()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(scenario())

    assert sink.received == [["alert-1"], ["alert-2"]]


def test_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(capacity=2, rate_per_s=0.5)

    assert bucket.take(0)
    assert bucket.take(0)
    assert not bucket.take(0)
    assert bucket.ready_ms(0) == 2000
    assert bucket.available(1000) == 0
    assert bucket.available(2000) == 1
    assert bucket.available(60_000) == 2


def test_retry_after_reads_seconds_and_http_dates_and_ignores_garbage() -> None:
    from riskguard.alerts.delivery import MAX_RETRY_AFTER_S, parse_retry_after

    now = 1_763_700_000.0

    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Fri, 21 Nov 2025 04:40:30 GMT", now_s=now) == pytest.approx(30.0)
    assert parse_retry_after("Fri, 21 Nov 2025 04:39:00 GMT", now_s=now) == 0.0  # in the past
    assert parse_retry_after("999999") == MAX_RETRY_AFTER_S
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None
