"""The Slack sink: its Block Kit message within Slack's limits, mrkdwn escaping, its failures."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
import respx

from riskguard.alerts.config import SlackSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.slack import SlackSink, slack_payload
from riskguard.alerts.text import digest_title
from riskguard.observability.logs import redact

URL = "https://hooks.slack.com/services/T0TEST/B0TEST/slackSecretPart4f5e6d"
CONFIG = SlackSinkConfig(name="ops-slack", url_env="RISKGUARD_SLACK_URL", timeout_s=3.0)
ALERT = Alert(
    id="3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6",
    time_ms=1_795_230_847_000,
    severity=Severity.CRITICAL,
    title="liquidation 4.2% away",
    message="Liquidation is 4.2% away (<5% is critical) & the guard reduces by half.",
    account="main",
    symbol="BTC/USDT:USDT",
    side="long",
    rule="liquidation_distance",
    kind="entered",
    figures=(("distance_pct", 4.2), ("mark_price", 60250.5), ("liquidation_price", 57720.0)),
)


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


def _deliver(alerts: Sequence[Alert]) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            await SlackSink(CONFIG, client, url=URL).send(alerts)

    asyncio.run(scenario())


def _failure(alerts: Sequence[Alert]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _deliver(alerts)
    return caught.value


def _sections(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in payload["blocks"] if b["type"] == "section" and "text" in b]


def test_slack_sink_posts_one_alert_as_header_section_with_figures_and_context(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, text="ok"))

    _deliver([ALERT])

    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "text": "riskguard [CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "[CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":rotating_light: *CRITICAL* main BTC/USDT:USDT long\n"
                    "*liquidation 4.2% away*\n"
                    "Liquidation is 4.2% away (&lt;5% is critical) &amp; the guard reduces "
                    "by half.",
                },
                "fields": [
                    {"type": "mrkdwn", "text": "*distance_pct*\n4.2"},
                    {"type": "mrkdwn", "text": "*mark_price*\n60,250.50"},
                    {"type": "mrkdwn", "text": "*liquidation_price*\n57,720"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC"
                        " · id 3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6",
                    }
                ],
            },
        ],
    }
    assert route.calls.last.request.extensions["timeout"]["read"] == 3.0


def test_slack_sink_sends_a_digest_with_one_section_per_alert_most_severe_first(
    respx_mock: respx.MockRouter,
) -> None:
    alerts = [_alert(1), _alert(2, Severity.CRITICAL), _alert(3, Severity.INFO)]
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, text="ok"))

    _deliver(alerts)

    payload = json.loads(route.calls.last.request.content)
    assert payload["text"] == "[CRITICAL] riskguard: 3 alerts (1 critical, 1 warning, 1 info)"
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "riskguard: 3 alerts (1 critical, 1 warning, 1 info)",
        },
    }
    assert payload["blocks"][1:] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":rotating_light: *CRITICAL* acct2\n*condition 2*\n"
                "rule margin_ratio · entered · 2026-11-21 03:14:09 UTC · id id0002",
            },
            "fields": [{"type": "mrkdwn", "text": "*margin_ratio*\n0.5"}],
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":warning: *WARNING* acct1\n*condition 1*\n"
                "rule margin_ratio · entered · 2026-11-21 03:14:08 UTC · id id0001",
            },
            "fields": [{"type": "mrkdwn", "text": "*margin_ratio*\n0.5"}],
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":information_source: *INFO* acct3\n*condition 3*\n"
                "rule margin_ratio · entered · 2026-11-21 03:14:10 UTC · id id0003",
            },
            "fields": [{"type": "mrkdwn", "text": "*margin_ratio*\n0.5"}],
        },
    ]


def test_slack_payload_escapes_mrkdwn_so_alert_text_cannot_mention_or_link() -> None:
    alert = _alert(
        1,
        account="<!channel>",
        title="<https://evil.example|click> & run",
        message="<!here> ping <@U123>",
        figures=(("<b>", "<!everyone>"),),
    )

    payload = slack_payload([alert])

    section = _sections(payload)[0]
    mrkdwn = json.dumps([payload["text"], section, payload["blocks"][-1]])
    assert "<" not in mrkdwn
    assert payload["text"] == (
        "riskguard [WARNING] &lt;!channel&gt;: &lt;https://evil.example|click&gt; &amp; run"
    )
    assert "&lt;!channel&gt;" in section["text"]["text"]
    assert "&lt;https://evil.example|click&gt; &amp; run" in section["text"]["text"]
    assert section["fields"] == [{"type": "mrkdwn", "text": "*&lt;b&gt;*\n&lt;!everyone&gt;"}]


def test_slack_payload_spreads_40_figures_over_sections_of_at_most_10_fields() -> None:
    alert = _alert(1, figures=tuple((f"figure_{i}", float(i)) for i in range(40)))

    payload = slack_payload([alert])

    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 10, 10, 10]
    texts = [f["text"] for s in sections for f in s["fields"]]
    assert texts == [f"*figure_{i}*\n{i}" for i in range(40)]
    assert payload["blocks"][-1]["type"] == "context"


def test_slack_payload_counts_figures_that_do_not_fit_in_50_blocks() -> None:
    alert = _alert(1, figures=tuple((f"f{i}", i) for i in range(600)))

    payload = slack_payload([alert])

    blocks = payload["blocks"]
    assert len(blocks) == 50
    fields = [f["text"] for b in blocks if b["type"] == "section" for f in b["fields"]]
    assert all(len(b["fields"]) <= 10 for b in blocks if b["type"] == "section")
    assert fields[-1] == "_121 more figures not shown_"
    assert len(fields) - 1 + 121 == 600


def test_slack_payload_digest_of_60_alerts_stays_within_50_blocks_and_counts_the_rest() -> None:
    alerts = [_alert(i) for i in range(60)]

    payload = slack_payload(alerts)

    blocks = payload["blocks"]
    assert len(blocks) == 50
    assert blocks[0]["text"]["text"] == digest_title(alerts)
    shown = len(_sections(payload))
    assert shown == 48
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "…and 12 more alerts not shown (Slack allows 50 blocks per message)",
            }
        ],
    }


def test_slack_payload_cuts_long_texts_to_slacks_limits() -> None:
    alert = _alert(
        1,
        title="T" * 400,
        message="<&>" * 5000,
        figures=(("long", "v" * 5000),),
    )

    payload = slack_payload([alert])

    header, section, _context = payload["blocks"]
    assert len(header["text"]["text"]) == 150
    assert header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert re.search(r"&(lt|gt|amp);…$", section["text"]["text"])  # never inside an entity
    assert len(section["fields"][0]["text"]) <= 2000
    assert len(payload["text"]) <= 3000


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, "invalid_payload"),
        (403, "invalid_token"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
def test_slack_sink_error_answers_are_permanent(
    respx_mock: respx.MockRouter, status: int, body: str
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(status, text=body))

    error = _failure([ALERT])

    assert error.permanent is True
    assert body in str(error)


def test_slack_sink_429_with_retry_after_is_retryable_after_that_wait(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "12"}, text="rate_limited")
    )

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 12.0


def test_slack_sink_500_is_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500, text="internal_error"))

    error = _failure([ALERT])

    assert error.permanent is False


@pytest.mark.parametrize("exception", [httpx.ReadTimeout, httpx.ConnectTimeout])
def test_slack_sink_timeout_is_retryable(
    respx_mock: respx.MockRouter, exception: type[httpx.HTTPError]
) -> None:
    respx_mock.post(URL).mock(side_effect=exception)

    error = _failure([ALERT])

    assert error.permanent is False
    assert "timed out" in str(error)


def test_slack_sink_keeps_the_url_out_of_errors_repr_and_logs(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(404, text=f"no_service for {URL}"))

    error = _failure([ALERT])
    sink = SlackSink(CONFIG, httpx.AsyncClient(), url=URL)

    assert URL not in str(error)
    assert "slackSecretPart4f5e6d" not in str(error)
    assert repr(sink) == "SlackSink(name='ops-slack')"
    assert "slackSecretPart4f5e6d" not in redact(f"sending to {URL}")
