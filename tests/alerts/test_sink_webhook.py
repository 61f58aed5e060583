"""The generic webhook sink: its strict JSON body, its headers and HMAC signature, its failures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import respx

from riskguard.alerts.config import WebhookSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.webhook import WebhookSink, message_id, signature, webhook_body
from riskguard.observability.logs import redact

URL = "https://hooks.example.net/riskguard/in/wh-path-5d1c9e7a"
SECRET = "whsec-test-7c1d2e3f4a5b"
NOW_S = 1_795_230_848.9
CONFIG = WebhookSinkConfig(name="ops-hook", url_env="RISKGUARD_HOOK_URL", timeout_s=2.5)
ALERT = Alert(
    id="3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6",
    time_ms=1_795_230_847_000,
    severity=Severity.CRITICAL,
    title="liquidation 4.2% away",
    message="Liquidation is 4.2% away (critical below 5%); reducing by half.",
    account="main",
    symbol="BTC/USDT:USDT",
    side="long",
    rule="liquidation_distance",
    kind="entered",
    figures=(("distance_pct", 4.2), ("mark_price", 60250.5), ("margin_ratio", float("inf"))),
)


def _alert(alert_id: str, severity: Severity, time_ms: int) -> Alert:
    return Alert(id=alert_id, time_ms=time_ms, severity=severity, title=f"alert {alert_id}")


def _deliver(alerts: Sequence[Alert], *, secret: str | None = None, url: str = URL) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            sink = WebhookSink(CONFIG, client, url=url, secret=secret, clock=lambda: NOW_S)
            await sink.send(alerts)

    asyncio.run(scenario())


def _failure(alerts: Sequence[Alert]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _deliver(alerts, secret=SECRET)
    return caught.value


def _sent(route: respx.Route) -> tuple[httpx.Request, dict[str, Any]]:
    request = route.calls.last.request
    return request, json.loads(request.content)


def test_webhook_sink_posts_one_alert_as_strict_json_with_id_and_timestamp_headers(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(204))

    _deliver([ALERT])

    request, body = _sent(route)
    assert body == {
        "type": "alert",
        "alerts": [
            {
                "id": "3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6",
                "time_ms": 1_795_230_847_000,
                "severity": "critical",
                "title": "liquidation 4.2% away",
                "message": "Liquidation is 4.2% away (critical below 5%); reducing by half.",
                "account": "main",
                "symbol": "BTC/USDT:USDT",
                "side": "long",
                "rule": "liquidation_distance",
                "kind": "entered",
                "figures": [
                    ["distance_pct", 4.2],
                    ["mark_price", 60250.5],
                    ["margin_ratio", "inf"],
                ],
            }
        ],
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Riskguard-Alert-Id"] == "3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6"
    assert request.headers["X-Riskguard-Timestamp"] == "1795230848"
    assert "X-Riskguard-Signature" not in request.headers


def test_webhook_sink_signs_timestamp_and_raw_body_with_hmac_sha256(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))

    _deliver([ALERT], secret=SECRET)

    request = route.calls.last.request
    timestamp = request.headers["X-Riskguard-Timestamp"]
    signed = timestamp.encode() + b"." + request.content
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Riskguard-Signature"], expected)


def test_webhook_sink_signature_goes_in_the_configured_header(
    respx_mock: respx.MockRouter,
) -> None:
    config = CONFIG.model_copy(update={"signature_header": "X-Hub-Signature-256"})
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))

    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            sink = WebhookSink(config, client, url=URL, secret=SECRET, clock=lambda: NOW_S)
            await sink.send([ALERT])

    asyncio.run(scenario())

    request = route.calls.last.request
    assert request.headers["X-Hub-Signature-256"] == signature(
        SECRET, 1_795_230_848, request.content
    )
    assert "X-Riskguard-Signature" not in request.headers


def test_signature_changes_with_the_timestamp_so_an_old_request_cannot_be_replayed() -> None:
    body = webhook_body([ALERT])

    first = signature(SECRET, 1_795_230_848, body)
    later = signature(SECRET, 1_795_231_148, body)

    assert first.startswith("sha256=")
    assert len(first) == len("sha256=") + 64
    assert first != later


def test_webhook_sink_sends_a_digest_most_severe_first_under_a_stable_digest_id(
    respx_mock: respx.MockRouter,
) -> None:
    warning = _alert("a1", Severity.WARNING, 1_000)
    critical = _alert("b2", Severity.CRITICAL, 2_000)
    info = _alert("c3", Severity.INFO, 500)
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))

    _deliver([warning, critical, info])

    request, body = _sent(route)
    assert body["type"] == "digest"
    assert [a["id"] for a in body["alerts"]] == ["b2", "a1", "c3"]
    assert [Alert.from_json(a) for a in body["alerts"]] == [critical, warning, info]
    expected_id = hashlib.sha256(b"a1,b2,c3").hexdigest()[:32]
    assert request.headers["X-Riskguard-Alert-Id"] == expected_id


def test_message_id_of_a_digest_ignores_order_and_differs_for_other_alerts() -> None:
    a, b, c = (_alert(i, Severity.WARNING, 0) for i in ("a1", "b2", "c3"))

    assert message_id([a, b, c]) == message_id([c, a, b])
    assert message_id([a, b]) != message_id([a, b, c])
    assert message_id([a]) == "a1"


def test_webhook_body_writes_non_finite_figures_as_strings_in_strict_json() -> None:
    alert = Alert(
        id="x1",
        time_ms=0,
        severity=Severity.WARNING,
        title="odd figures",
        figures=(("up", float("inf")), ("down", float("-inf")), ("unknown", float("nan"))),
    )

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    body = json.loads(webhook_body([alert]), parse_constant=refuse)

    assert body["alerts"][0]["figures"] == [["up", "inf"], ["down", "-inf"], ["unknown", "nan"]]


def test_webhook_body_refuses_an_empty_message() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        webhook_body([])


def test_webhook_sink_uses_the_configured_timeout_per_request(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200))

    _deliver([ALERT])

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


def test_webhook_sink_429_with_retry_after_is_retryable_after_that_wait(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 30.0


def test_webhook_sink_500_is_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500, text="upstream down"))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s is None
    assert "HTTP 500" in str(error)


@pytest.mark.parametrize("exception", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError])
def test_webhook_sink_timeout_or_connection_failure_is_retryable(
    respx_mock: respx.MockRouter, exception: type[httpx.HTTPError]
) -> None:
    respx_mock.post(URL).mock(side_effect=exception)

    error = _failure([ALERT])

    assert error.permanent is False
    assert exception.__name__ in str(error)
    assert isinstance(error.__cause__, exception)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_webhook_sink_4xx_answer_is_permanent(respx_mock: respx.MockRouter, status: int) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(status, text="no"))

    error = _failure([ALERT])

    assert error.permanent is True
    assert f"HTTP {status}" in str(error)


def test_webhook_sink_keeps_url_and_secret_out_of_errors_and_repr(
    respx_mock: respx.MockRouter,
) -> None:
    echo = f"unknown hook {URL} (signed with {SECRET})"
    respx_mock.post(URL).mock(return_value=httpx.Response(404, text=echo))

    error = _failure([ALERT])
    sink = WebhookSink(CONFIG, httpx.AsyncClient(), url=URL, secret=SECRET)

    assert URL not in str(error)
    assert SECRET not in str(error)
    assert "wh-path-5d1c9e7a" not in str(error)
    assert repr(sink) == "WebhookSink(name='ops-hook')"
    assert sink.name == "ops-hook"


def test_webhook_sink_registers_url_and_secret_with_the_log_redactor() -> None:
    url = "https://hooks.example.net/riskguard/in/registered-7a8b9c"
    secret = "whsec-registered-0d1e2f"

    WebhookSink(CONFIG, httpx.AsyncClient(), url=url, secret=secret)

    assert redact(f"posting to {url} with {secret}") == "posting to *** with ***"


def test_webhook_sink_with_an_invalid_url_fails_permanently_without_quoting_it(
    respx_mock: respx.MockRouter,
) -> None:
    url = "https://hooks.example.net:notaport/in/bad-9e8d7c"

    with pytest.raises(DeliveryError) as caught:
        _deliver([ALERT], url=url)

    assert caught.value.permanent is True
    assert "notaport" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_webhook_sink_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        WebhookSink(CONFIG, httpx.AsyncClient(), url=URL, secret="")
