"""The Telegram sink: its HTML message within Telegram's limit, silent alerts, its failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import respx

from riskguard.alerts.config import TelegramSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.telegram import TelegramSink, telegram_html
from riskguard.observability.logs import redact

TOKEN = "123456789:AAtelegramTestToken-9z8y7x6w"
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
CONFIG = TelegramSinkConfig(
    name="ops-telegram",
    token_env="RISKGUARD_TELEGRAM_TOKEN",
    chat_id="-1001234567890",
)
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
SENT = {"ok": True, "result": {"message_id": 42, "chat": {"id": -1001234567890}}}
ALLOWED_TAGS = {"b", "i", "code", "pre"}


class _TelegramView(HTMLParser):
    """What Telegram would see: the tags (checked for nesting) and the text after entities."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.open: list[str] = []
        self.text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert attrs == []
        self.tags.add(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text += data

    @property
    def length(self) -> int:
        return len(self.text.encode("utf-16-le")) // 2


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


def _deliver(alerts: Sequence[Alert], config: TelegramSinkConfig = CONFIG) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient() as client:
            await TelegramSink(config, client, token=TOKEN).send(alerts)

    asyncio.run(scenario())


def _failure(alerts: Sequence[Alert]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _deliver(alerts)
    return caught.value


def test_telegram_sink_sends_one_alert_as_html_to_the_chat(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=SENT))

    _deliver([ALERT])

    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 10.0
    assert json.loads(request.content) == {
        "chat_id": "-1001234567890",
        "text": "<b>[CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away</b>\n"
        "Liquidation is 4.2% away (&lt;5% is critical) &amp; the guard reduces by half.\n"
        "<pre>distance_pct: 4.2\n"
        "mark_price: 60,250.50\n"
        "liquidation_price: 57,720</pre>\n"
        "<i>rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC · "
        "id 3f2a9c0d5e6b47a8b9c0d1e2f3a4b5c6</i>",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "disable_notification": False,
    }


def test_telegram_sink_sends_alerts_below_silent_below_without_notification(
    respx_mock: respx.MockRouter,
) -> None:
    config = CONFIG.model_copy(update={"silent_below": "critical"})
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=SENT))

    _deliver([_alert(1, Severity.WARNING)], config)
    _deliver([_alert(2, Severity.WARNING), _alert(3, Severity.CRITICAL)], config)

    first, second = (json.loads(call.request.content) for call in route.calls)
    assert first["disable_notification"] is True
    assert second["disable_notification"] is False


def test_telegram_sink_sends_a_digest_most_severe_first(respx_mock: respx.MockRouter) -> None:
    alerts = [_alert(1), _alert(2, Severity.CRITICAL), _alert(3, Severity.INFO)]
    route = respx_mock.post(URL).mock(return_value=httpx.Response(200, json=SENT))

    _deliver(alerts)

    payload = json.loads(route.calls.last.request.content)
    assert payload["text"] == (
        "<b>riskguard: 3 alerts (1 critical, 1 warning, 1 info)</b>\n\n"
        "<b>[CRITICAL] acct2: condition 2</b>\n"
        "<pre>margin_ratio: 0.5</pre>\n"
        "<i>rule margin_ratio · entered · 2026-11-21 03:14:09 UTC · id id0002</i>\n\n"
        "<b>[WARNING] acct1: condition 1</b>\n"
        "<pre>margin_ratio: 0.5</pre>\n"
        "<i>rule margin_ratio · entered · 2026-11-21 03:14:08 UTC · id id0001</i>\n\n"
        "<b>[INFO] acct3: condition 3</b>\n"
        "<pre>margin_ratio: 0.5</pre>\n"
        "<i>rule margin_ratio · entered · 2026-11-21 03:14:10 UTC · id id0003</i>"
    )
    assert payload["disable_notification"] is False


def test_telegram_html_escapes_alert_text_so_it_cannot_add_markup() -> None:
    alert = _alert(
        1,
        title='<a href="https://evil.example">click</a>',
        message="<script>&amp;</script>",
        figures=(("<b>", "</pre>"),),
    )

    view = _TelegramView(telegram_html([alert]))

    assert view.tags <= ALLOWED_TAGS
    assert '<a href="https://evil.example">click</a>' in view.text
    assert "<script>&amp;</script>" in view.text
    assert "<b>: </pre>" in view.text


def test_telegram_html_digest_of_60_long_alerts_fits_4096_and_counts_the_rest() -> None:
    alerts = [
        _alert(i, message="<&>" * 900, figures=tuple((f"f{j}", j) for j in range(40)))
        for i in range(60)
    ]

    markup = telegram_html(alerts)

    view = _TelegramView(markup)
    assert len(markup) <= 4096
    assert view.length <= 4096
    assert view.tags <= ALLOWED_TAGS
    assert view.text.startswith("riskguard: 60 alerts (60 warning)")
    shown = view.text.count("[WARNING] acct")
    assert shown >= 3
    assert view.text.endswith(
        f"…and {60 - shown} more alerts not shown (Telegram allows 4096 characters per message)"
    )


def test_telegram_html_keeps_all_40_figures_and_cuts_a_very_long_message() -> None:
    alert = _alert(1, message="x" * 20_000, figures=tuple((f"figure_{i}", i) for i in range(40)))

    view = _TelegramView(telegram_html([alert]))

    assert view.length <= 4096
    for i in range(40):
        assert f"figure_{i}: {i}\n" in view.text + "\n"
    assert "x" * 100 + "…" in view.text


def test_telegram_html_cuts_huge_figures_and_message_each_to_about_half() -> None:
    alert = _alert(
        1, message="m" * 20_000, figures=tuple((f"figure_{i}", "v" * 50) for i in range(500))
    )

    view = _TelegramView(telegram_html([alert]))

    assert view.length <= 4096
    assert view.text.count("m") > 1000
    assert view.text.count("figure_") > 20
    assert "more figures not shown" in view.text


def test_telegram_html_counts_characters_outside_the_bmp_twice() -> None:
    alert = _alert(1, message="\U0001f6a8" * 5000)

    view = _TelegramView(telegram_html([alert]))

    assert view.length <= 4096


def test_telegram_sink_429_waits_the_retry_after_in_the_body(respx_mock: respx.MockRouter) -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    respx_mock.post(URL).mock(return_value=httpx.Response(429, json=body))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 7.0
    assert "Too Many Requests" in str(error)


def test_telegram_sink_429_with_retry_after_header_is_retryable_after_that_wait(
    respx_mock: respx.MockRouter,
) -> None:
    body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3"}
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, json=body, headers={"Retry-After": "3"})
    )

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 3.0


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (400, "Bad Request: chat not found"),
        (401, "Unauthorized"),
        (403, "Forbidden: bot was blocked by the user"),
    ],
)
def test_telegram_sink_bot_api_client_errors_are_permanent(
    respx_mock: respx.MockRouter, status: int, description: str
) -> None:
    body = {"ok": False, "error_code": status, "description": description}
    respx_mock.post(URL).mock(return_value=httpx.Response(status, json=body))

    error = _failure([ALERT])

    assert error.permanent is True
    assert description in str(error)


def test_telegram_sink_200_with_ok_false_is_a_permanent_failure(
    respx_mock: respx.MockRouter,
) -> None:
    body = {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))

    error = _failure([ALERT])

    assert error.permanent is True
    assert "can't parse entities" in str(error)


def test_telegram_sink_200_with_ok_false_and_error_code_429_is_retryable(
    respx_mock: respx.MockRouter,
) -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s == 5.0


def test_telegram_sink_200_with_ok_false_and_a_5xx_error_code_is_retryable(
    respx_mock: respx.MockRouter,
) -> None:
    body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))

    error = _failure([ALERT])

    assert error.permanent is False
    assert error.retry_after_s is None


def test_telegram_sink_200_without_a_bot_api_result_is_retryable(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(200, text="<html>portal</html>"))

    error = _failure([ALERT])

    assert error.permanent is False


def test_telegram_sink_500_is_retryable(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(500, text="Internal Server Error"))

    error = _failure([ALERT])

    assert error.permanent is False


@pytest.mark.parametrize("exception", [httpx.ReadTimeout, httpx.ConnectTimeout])
def test_telegram_sink_timeout_is_retryable(
    respx_mock: respx.MockRouter, exception: type[httpx.HTTPError]
) -> None:
    respx_mock.post(URL).mock(side_effect=exception)

    error = _failure([ALERT])

    assert error.permanent is False
    assert "timed out" in str(error)


def test_telegram_sink_posts_to_a_local_bot_api_server(respx_mock: respx.MockRouter) -> None:
    config = CONFIG.model_copy(update={"api_base": "http://localhost:8081/"})
    route = respx_mock.post(f"http://localhost:8081/bot{TOKEN}/sendMessage").mock(
        return_value=httpx.Response(200, json=SENT)
    )

    _deliver([ALERT], config)

    assert route.call_count == 1


def test_telegram_sink_keeps_the_token_out_of_errors_repr_and_logs(
    respx_mock: respx.MockRouter,
) -> None:
    echo = {"ok": False, "error_code": 404, "description": f"Not Found: {URL}"}
    respx_mock.post(URL).mock(return_value=httpx.Response(404, json=echo))

    error = _failure([ALERT])
    sink = TelegramSink(CONFIG, httpx.AsyncClient(), token=TOKEN)

    assert TOKEN not in str(error)
    assert "AAtelegramTestToken" not in str(error)
    assert repr(sink) == "TelegramSink(name='ops-telegram')"
    assert redact(f"posting to {URL}") == "posting to https://api.telegram.org/bot***/sendMessage"
