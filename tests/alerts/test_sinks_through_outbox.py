"""Each HTTP sink through the outbox and the dispatcher, against respx: success, 500 then success,
429 with Retry-After, a timeout, and a permanent 4xx that ends in the dead letters.

The sinks' own tests (``test_sink_*.py``) pin the exact bodies and headers; these pin what the
outbox does with each service's answers.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from riskguard.alerts.config import (
    AlertingConfig,
    DiscordSinkConfig,
    SinkConfigBase,
    SlackSinkConfig,
    TelegramSinkConfig,
    WebhookSinkConfig,
)
from riskguard.alerts.delivery import Sink
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.alerts.sinks.discord import DiscordSink
from riskguard.alerts.sinks.slack import SlackSink
from riskguard.alerts.sinks.telegram import TelegramSink
from riskguard.alerts.sinks.webhook import WebhookSink
from riskguard.daemon.journal import SqliteJournal
from tests.alerts.conftest import Clock, make_alert

TELEGRAM_TOKEN = "987654:outboxTestToken"
TELEGRAM_URL = f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage"


@dataclass(frozen=True)
class Service:
    """How one service answers, and how to build its sink."""

    name: str
    url: str
    ok: httpx.Response
    rate_limited: Callable[[float], httpx.Response]
    refused: httpx.Response
    build: Callable[[httpx.AsyncClient], tuple[Sink, SinkConfigBase]]

    def route(self, mock: respx.MockRouter) -> respx.Route:
        return mock.post(url__startswith=self.url)


def _webhook(client: httpx.AsyncClient) -> tuple[Sink, SinkConfigBase]:
    config = WebhookSinkConfig(name="hook", url_env="X", secret_env="Y")
    return WebhookSink(config, client, url="https://hooks.example.com/rg", secret="k3y"), config


def _slack(client: httpx.AsyncClient) -> tuple[Sink, SinkConfigBase]:
    config = SlackSinkConfig(name="hook", url_env="X")
    return SlackSink(config, client, url="https://hooks.slack.com/services/T1/B1/abc"), config


def _discord(client: httpx.AsyncClient) -> tuple[Sink, SinkConfigBase]:
    config = DiscordSinkConfig(name="hook", url_env="X")
    return DiscordSink(config, client, url="https://discord.com/api/webhooks/1/tok"), config


def _telegram(client: httpx.AsyncClient) -> tuple[Sink, SinkConfigBase]:
    config = TelegramSinkConfig(name="hook", token_env="X", chat_id="-100123")
    return TelegramSink(config, client, token=TELEGRAM_TOKEN), config


SERVICES = [
    Service(
        "webhook",
        "https://hooks.example.com/rg",
        httpx.Response(204),
        lambda s: httpx.Response(429, headers={"Retry-After": f"{s:g}"}),
        httpx.Response(404, text="no such hook"),
        _webhook,
    ),
    Service(
        "slack",
        "https://hooks.slack.com/services/T1/B1/abc",
        httpx.Response(200, text="ok"),
        lambda s: httpx.Response(429, headers={"Retry-After": f"{s:g}"}, text="rate_limited"),
        httpx.Response(403, text="invalid_token"),
        _slack,
    ),
    Service(
        "discord",
        "https://discord.com/api/webhooks/1/tok",
        httpx.Response(200, json={"id": "1", "channel_id": "2"}),
        lambda s: httpx.Response(
            429,
            json={"message": "You are being rate limited.", "retry_after": s, "global": False},
        ),
        httpx.Response(404, json={"message": "Unknown Webhook", "code": 10015}),
        _discord,
    ),
    Service(
        "telegram",
        TELEGRAM_URL,
        httpx.Response(200, json={"ok": True, "result": {"message_id": 7}}),
        lambda s: httpx.Response(
            429,
            json={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {s:g}",
                "parameters": {"retry_after": s},
            },
        ),
        httpx.Response(
            400,
            json={"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        ),
        _telegram,
    ),
]


@pytest.fixture(params=SERVICES, ids=[s.name for s in SERVICES])
def service(request: pytest.FixtureRequest) -> Service:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    with SqliteJournal(tmp_path / "journal.sqlite3", synchronous="normal") as journal:
        yield journal


def _deliver(
    service: Service, journal: SqliteJournal, clock: Clock, rounds: list[float]
) -> list[Any]:
    """Queue alert-1, then run a delivery pass after each wait in ``rounds`` (seconds)."""

    async def scenario() -> list[Any]:
        async with httpx.AsyncClient() as client:
            sink, config = service.build(client)
            dispatcher = Dispatcher(
                journal,
                [(sink, config)],
                AlertingConfig(retry_base_s=2, retry_max_s=60),
                now_ms=clock,
                rng=random.Random(1),
            )
            journal.queue_alert(make_alert(1).to_json(), ["hook"], clock())
            attempts = []
            for wait in rounds:
                clock.advance(wait)
                attempts.extend(await dispatcher.deliver_due())
            return attempts

    return asyncio.run(scenario())


def test_a_500_then_success_delivers_on_the_retry_with_the_same_alert(
    service: Service, journal: SqliteJournal, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    route = service.route(respx_mock).mock(side_effect=[httpx.Response(500), service.ok])

    attempts = _deliver(service, journal, clock, [0, 1, 2.5])

    assert [a.outcome for a in attempts] == ["retry", "delivered"]  # not before the backoff
    assert "HTTP 500" in (attempts[0].error or "")
    assert route.call_count == 2
    first, second = (call.request for call in route.calls)
    assert first.content == second.content  # the same message, the same alert id
    (row,) = journal.outbox_rows()
    assert (row.status, row.attempts) == ("delivered", 2)


def test_a_429_waits_exactly_the_retry_after_the_service_gave(
    service: Service, journal: SqliteJournal, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    route = service.route(respx_mock).mock(side_effect=[service.rate_limited(17), service.ok])

    attempts = _deliver(service, journal, clock, [0, 16.9, 0.1])

    assert [(a.outcome, a.retry_after_s) for a in attempts] == [("retry", 17), ("delivered", None)]
    assert route.call_count == 2
    (row,) = journal.outbox_rows()
    assert row.status == "delivered"


def test_a_timeout_is_retried(
    service: Service, journal: SqliteJournal, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    route = service.route(respx_mock).mock(side_effect=[httpx.ReadTimeout("slow"), service.ok])

    attempts = _deliver(service, journal, clock, [0, 3])

    assert [a.outcome for a in attempts] == ["retry", "delivered"]
    assert "timed out" in (attempts[0].error or "")
    assert route.call_count == 2


def test_a_permanent_4xx_goes_to_the_dead_letters_with_an_error_log_and_no_retry(
    service: Service, journal: SqliteJournal, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    route = service.route(respx_mock).mock(return_value=service.refused)

    with capture_logs() as logs:
        attempts = _deliver(service, journal, clock, [0, 60, 600])

    assert [a.outcome for a in attempts] == ["dead"]
    assert route.call_count == 1
    (row,) = journal.outbox_rows()
    assert (row.status, row.attempts) == ("dead", 1)
    (entry,) = journal.entries(kind="alert_dead")
    assert entry.payload["alert_ids"] == ["alert-1"]
    assert str(service.refused.status_code) in entry.payload["error"]
    (log,) = [e for e in logs if e["event"] == "alert_dead"]
    assert log["log_level"] == "error"
    assert service.url not in json.dumps(log)
    assert TELEGRAM_TOKEN not in json.dumps(log)


def test_failures_up_to_max_attempts_end_in_the_dead_letters(
    service: Service, journal: SqliteJournal, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    route = service.route(respx_mock).mock(return_value=httpx.Response(503))

    attempts = _deliver(service, journal, clock, [0] + [120] * 9)

    assert [a.outcome for a in attempts] == ["retry"] * 7 + ["dead"]  # max_attempts defaults to 8
    assert route.call_count == 8
    assert journal.outbox_rows()[0].status == "dead"


def test_a_url_with_a_bad_scheme_is_a_permanent_failure_not_retried(
    journal: SqliteJournal, clock: Clock
) -> None:
    async def scenario() -> list[Any]:
        async with httpx.AsyncClient() as client:
            config = WebhookSinkConfig(name="hook", url_env="X")
            sink = WebhookSink(config, client, url="htps://hooks.example.com/rg-typo")
            dispatcher = Dispatcher(journal, [(sink, config)], AlertingConfig(), now_ms=clock)
            journal.queue_alert(make_alert(1).to_json(), ["hook"], clock())
            return await dispatcher.deliver_due()

    (attempt,) = asyncio.run(scenario())

    assert attempt.outcome == "dead"
    assert "is not an http:// or https:// URL" in (attempt.error or "")
    assert "rg-typo" not in (attempt.error or "")
