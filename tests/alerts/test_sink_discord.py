"""The Discord sink: embeds within Discord's limits, no mentions, ?wait=true, its failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import respx

from riskguard.alerts.config import DiscordSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.discord import DiscordSink, discord_payload, embeds_size

URL = "https://discord.com/api/webhooks/123456789012345678/discordTokenPart-a1b2c3d4"
POSTED = URL + "?wait=true"
CONFIG = DiscordSinkConfig(
    name="ops-discord", url_env="RISKGUARD_DISCORD_URL", username="riskguard", timeout_s=4.0
)
ALERT = Alert(
    id="3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6",
    time_ms=1_795_230_847_250,
    severity=Severity.CRITICAL,
    title="liquidation 4.2% away",
    message="Liquidation is 4.2% away (critical below 5%); reducing by half. @everyone",
    account="main",
    symbol="BTC/USDT:USDT",
    side="long",
    rule="liquidation_distance",
    kind="entered",
    figures=(("distance_pct", 4.2), ("mark_price", 60250.5), ("liquidation_price", 57720.0)),
)
MESSAGE_ANSWER = {"id": "1300000000000000000", "type": 0, "content": "", "embeds": []}


def _alert(number: int, severity: Severity = Severity.WARNING, **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": f"id{number:04d}",
        "time_ms": 1_795_230_847_000 + number * 1000,
        "severity": severity,
        "title": f"condition {number}",
        "account": f"acct{number}",
        "rule": "margin_ratio",
        "kind": "entered",
        "figures": (("margin_ratio", 0.5),),
    }
    fields.update(changes)
    return Alert(**fields)


def _deliver(
    alerts: Sequence[Alert], *, config: DiscordSinkConfig = CONFIG, url: str = URL
) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            await DiscordSink(config, client, url=url).send(alerts)

    asyncio.run(scenario())


def _failure(alerts: Sequence[Alert]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _deliver(alerts)
    return caught.value


def test_discord_sink_posts_one_embed_with_wait_true_and_no_mentions(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(POSTED).mock(return_value=httpx.Response(200, json=MESSAGE_ANSWER))

    _deliver([ALERT])

    request = route.calls.last.request
    assert request.url.params["wait"] == "true"
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 4.0
    assert json.loads(request.content) == {
        "embeds": [
            {
                "title": "[CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away",
                "description": "Liquidation is 4.2% away (critical below 5%); reducing by half."
                " @everyone",
                "color": 0xD92D20,
                "fields": [
                    {"name": "distance_pct", "value": "4.2", "inline": True},
                    {"name": "mark_price", "value": "60,250.50", "inline": True},
                    {"name": "liquidation_price", "value": "57,720", "inline": True},
                ],
                "timestamp": "2026-11-21T03:14:07.250+00:00",
                "footer": {
                    "text": "rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC"
                    " · id 3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6"
                },
            }
        ],
        "allowed_mentions": {"parse": []},
        "username": "riskguard",
    }


def test_discord_sink_accepts_204_no_content(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(POSTED).mock(return_value=httpx.Response(204))

    _deliver([ALERT])

    assert route.call_count == 1


def test_discord_sink_keeps_the_webhooks_own_query_and_adds_wait(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(url__startswith=URL).mock(return_value=httpx.Response(204))

    _deliver([ALERT], url=URL + "?thread_id=42")

    assert dict(route.calls.last.request.url.params) == {"thread_id": "42", "wait": "true"}


def test_discord_payload_without_username_leaves_discords_default() -> None:
    payload = discord_payload([ALERT])

    assert "username" not in payload


def test_discord_sink_sends_a_digest_titled_in_content_with_embeds_most_severe_first(
    respx_mock: respx.MockRouter,
) -> None:
    alerts = [_alert(1), _alert(2, Severity.CRITICAL), _alert(3, Severity.INFO)]
    route = respx_mock.post(POSTED).mock(return_value=httpx.Response(200, json=MESSAGE_ANSWER))

    _deliver(alerts)

    payload = json.loads(route.calls.last.request.content)
    assert payload["content"] == "riskguard: 3 alerts (1 critical, 1 warning, 1 info)"
    assert payload["embeds"][1] == {
        "title": "[WARNING] acct1: condition 1",
        "color": 0xF79009,
        "fields": [{"name": "margin_ratio", "value": "0.5", "inline": True}],
        "timestamp": "2026-11-21T03:14:08.000+00:00",
        "footer": {"text": "rule margin_ratio · entered · 2026-11-21 03:14:08 UTC · id id0001"},
    }
    assert [e["title"] for e in payload["embeds"]] == [
        "[CRITICAL] acct2: condition 2",
        "[WARNING] acct1: condition 1",
        "[INFO] acct3: condition 3",
    ]
    assert [e["color"] for e in payload["embeds"]] == [0xD92D20, 0xF79009, 0x2E90FA]
    assert payload["allowed_mentions"] == {"parse": []}


def test_discord_payload_digest_of_60_alerts_keeps_10_embeds_within_6000_chars() -> None:
    alerts = [
        _alert(i, message="m" * 5000, figures=tuple((f"f{j}", "v" * 100) for j in range(30)))
        for i in range(60)
    ]

    payload = discord_payload(alerts, "riskguard")

    assert len(payload["embeds"]) == 10
    assert embeds_size(payload) <= 6000
    assert payload["content"] == (
        "riskguard: 60 alerts (60 warning)\n"
        "…and 50 more alerts not shown (Discord allows 10 embeds per message)"
    )
    for embed in payload["embeds"]:
        assert embed["title"].startswith("[WARNING] acct")
        assert embed["footer"]["text"].startswith("rule margin_ratio")
        assert embed["fields"][-1]["value"].endswith("more figures not shown")


def test_discord_payload_keeps_25_fields_and_counts_the_other_figures() -> None:
    alert = _alert(1, figures=tuple((f"figure_{i}", float(i)) for i in range(40)))

    payload = discord_payload([alert])

    fields = payload["embeds"][0]["fields"]
    assert len(fields) == 25
    assert fields[:24] == [
        {"name": f"figure_{i}", "value": str(i), "inline": True} for i in range(24)
    ]
    assert fields[24] == {"name": "…", "value": "16 more figures not shown", "inline": False}


def test_discord_payload_cuts_long_title_message_and_figures_to_discords_limits() -> None:
    alert = _alert(
        1,
        title="T" * 400,
        message="M" * 10_000,
        figures=(("n" * 300, "v" * 2000),),
    )

    payload = discord_payload([alert])

    embed = payload["embeds"][0]
    assert len(embed["title"]) == 256
    assert embed["title"].endswith("…")
    assert len(embed["description"]) <= 4096
    assert embed["description"].endswith("…")
    assert len(embed["fields"][0]["name"]) <= 256
    assert len(embed["fields"][0]["value"]) <= 1024
    assert embeds_size(payload) <= 6000


def test_discord_payload_counts_characters_outside_the_bmp_twice() -> None:
    alert = _alert(1, message="\U0001f6a8" * 5000)

    payload = discord_payload([alert])

    description = payload["embeds"][0]["description"]
    assert len(description.encode("utf-16-le")) // 2 <= 4096


def test_discord_sink_429_with_only_a_json_body_waits_the_bodys_retry_after(
    respx_mock: respx.MockRouter,
) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    respx_mock.post(POSTED).mock(return_value=httpx.Response(429, json=body))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 2.5


def test_discord_sink_429_with_retry_after_header_is_retryable_after_that_wait(
    respx_mock: respx.MockRouter,
) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 7.25, "global": True}
    respx_mock.post(POSTED).mock(
        return_value=httpx.Response(429, json=body, headers={"Retry-After": "8"})
    )

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 8.0


def test_discord_sink_429_from_a_proxy_without_json_is_retryable_without_a_wait(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(POSTED).mock(return_value=httpx.Response(429, text="<html>slow down</html>"))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s is None


def test_discord_sink_500_is_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(POSTED).mock(return_value=httpx.Response(502, text="bad gateway"))

    error = _failure([ALERT])

    assert error.permanent is False


@pytest.mark.parametrize("exception", [httpx.ReadTimeout, httpx.ConnectTimeout])
def test_discord_sink_timeout_is_retryable(
    respx_mock: respx.MockRouter, exception: type[httpx.HTTPError]
) -> None:
    respx_mock.post(POSTED).mock(side_effect=exception)

    error = _failure([ALERT])

    assert error.permanent is False
    assert "timed out" in str(error)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"code": 50035, "message": "Invalid Form Body"}),
        (401, {"code": 50027, "message": "Invalid Webhook Token"}),
        (404, {"code": 10015, "message": "Unknown Webhook"}),
    ],
)
def test_discord_sink_client_errors_are_permanent(
    respx_mock: respx.MockRouter, status: int, body: dict[str, Any]
) -> None:
    respx_mock.post(POSTED).mock(return_value=httpx.Response(status, json=body))

    error = _failure([ALERT])

    assert error.permanent is True
    assert body["message"] in str(error)


def test_discord_sink_keeps_the_url_out_of_errors_and_repr(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(POSTED).mock(side_effect=httpx.ConnectError(f"cannot reach {URL}"))

    error = _failure([ALERT])
    sink = DiscordSink(CONFIG, httpx.AsyncClient(), url=URL)

    assert "discordTokenPart-a1b2c3d4" not in str(error)
    assert "discordTokenPart-a1b2c3d4" not in repr(sink)
    assert repr(sink) == "DiscordSink(name='ops-discord')"
