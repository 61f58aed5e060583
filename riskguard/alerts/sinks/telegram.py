"""Telegram bots: the HTML message and the sender.

One alert, in Telegram's HTML parse mode::

    <b>[CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away</b>
    the message (when it says more than the title)
    <pre>distance_pct: 4.2
    mark: 60,250.5</pre>
    <i>rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC · id 3f2a...</i>

A digest starts with the digest title in bold and lists the alerts, most severe first, a blank
line apart. Only ``b``, ``i``, ``code`` and ``pre`` are used, and all text from alerts is escaped
(``&``, ``<``, ``>``), so an alert cannot add markup or links.

Telegram allows 4096 characters after entity parsing. The message is kept to
:data:`MESSAGE_MAX` UTF-16 units counting its HTML source, tags and ``&lt;`` included, which is
never less than what Telegram counts. When it would be longer, the message and the figures of an
alert are cut (each keeps at least half the room when both are long), and in a digest the alerts
that no longer fit are counted in a last line. Text is only ever cut between characters of the
original, never inside an entity or a tag.

The Bot API answers ``{"ok": true, ...}``. Errors: 429 with ``parameters.retry_after`` (and
sometimes a Retry-After header), 400 "Bad Request: chat not found", 401 Unauthorized, 403
"Forbidden: bot was blocked by the user", 5xx. A 200 whose body says ``"ok": false`` is a failure
too: retryable when its ``error_code`` is 429 or 5xx, permanent otherwise.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Final

import httpx

from riskguard.alerts.config import TelegramSinkConfig
from riskguard.alerts.delivery import (
    MAX_RETRY_AFTER_S,
    RETRYABLE_STATUS,
    DeliveryError,
    classify_response,
)
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.http import post
from riskguard.alerts.sinks.limits import ELLIPSIS, cut_escaped, utf16_units
from riskguard.alerts.text import context_line, digest_title, figure_lines, headline, ordered, worst
from riskguard.observability.logs import register_secret

MESSAGE_MAX: Final = 4000
"""Our limit, in UTF-16 units of the HTML source; Telegram's is 4096 of the parsed text."""

HEADLINE_MAX: Final = 256
CONTEXT_MAX: Final = 256
"""Caps on the escaped headline and context line, so an alert's fixed parts stay small."""

ALERT_MIN: Final = 600
"""The least room a digest gives an alert before it stops and counts the rest instead."""

NOTE_RESERVE: Final = 100
"""Units kept free for the "N more alerts not shown" line."""

DESCRIPTION_MAX: Final = 200
"""How much of Telegram's error description goes into a :class:`DeliveryError`."""

_PRE_TAGS: Final = len("<pre></pre>")
_FIGURES_NOTE_RESERVE: Final = 40


def telegram_html(alerts: Sequence[Alert]) -> str:
    """The message text (HTML parse mode) for one alert or a digest of several."""
    if not alerts:
        raise ValueError("a message needs at least one alert")
    listed = ordered(alerts)
    parts: list[str] = []
    if len(listed) > 1:
        parts.append(f"<b>{_escaped(digest_title(alerts), HEADLINE_MAX)}</b>")
    shown = 0
    for index, alert in enumerate(listed):
        more_after = index + 1 < len(listed)
        used = utf16_units("\n\n".join(parts)) + (2 if parts else 0)
        room = MESSAGE_MAX - used - (NOTE_RESERVE if more_after else 0)
        if shown and room < ALERT_MIN:
            break
        share = max(room // (len(listed) - index), ALERT_MIN)
        parts.append(_alert_html(alert, min(room, share)))
        shown += 1
    left_out = len(listed) - shown
    if left_out:
        parts.append(
            f"<i>{ELLIPSIS}and {left_out} more alerts not shown "
            "(Telegram allows 4096 characters per message)</i>"
        )
    return "\n\n".join(parts)


class TelegramSink:
    """Sends alerts to one Telegram chat through a bot (the token is the secret)."""

    def __init__(
        self, config: TelegramSinkConfig, client: httpx.AsyncClient, *, token: str
    ) -> None:
        register_secret(token)
        self._config = config
        self._client = client
        self._url = f"{config.api_base.rstrip('/')}/bot{token}/sendMessage"
        self._silent_below = Severity.parse(config.silent_below)
        self._service = f"Telegram sink {config.sink_name!r}"

    @property
    def name(self) -> str:
        """The sink's name from the config."""
        return self._config.sink_name

    def __repr__(self) -> str:
        return f"TelegramSink(name={self.name!r})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Send one message; returns when Telegram says ``ok``, raises :class:`DeliveryError`."""
        payload = {
            "chat_id": self._config.chat_id,
            "text": telegram_html(alerts),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
            "disable_notification": worst(alerts) < self._silent_below,
        }
        response = await post(
            self._client,
            self._url,
            self._service,
            timeout_s=self._config.timeout_s,
            json=payload,
            url_label="the Bot API URL",
        )
        body = _json_object(response)
        wait = _retry_after(body)
        error = classify_response(response, self._service, retry_after_s=wait)
        if error is not None:
            raise error
        if body is None or "ok" not in body:
            raise DeliveryError(
                f"{self._service} answered HTTP {response.status_code} without a Bot API result"
            )
        if body["ok"] is not True:
            code = body.get("error_code")
            retryable = isinstance(code, int) and (code in RETRYABLE_STATUS or code >= 500)
            description = str(body.get("description") or "no description")[:DESCRIPTION_MAX]
            raise DeliveryError(
                f"{self._service} answered ok=false (error_code {code}): {description}",
                permanent=not retryable,
                retry_after_s=wait if retryable else None,
            )


def _alert_html(alert: Alert, limit: int) -> str:
    """One alert's lines within ``limit`` units (at least :data:`ALERT_MIN`)."""
    head = f"<b>{_escaped(headline(alert), HEADLINE_MAX)}</b>"
    tail = f"<i>{_escaped(context_line(alert), CONTEXT_MAX)}</i>"
    room = limit - utf16_units(head) - utf16_units(tail) - 1
    message = alert.message if alert.message != alert.title else ""
    lines = figure_lines(alert)
    message_cost = utf16_units(html.escape(message, quote=False)) + 1 if message else 0
    # When both do not fit, the figures keep at least half the room and the message the rest.
    figures_html = _figures(lines, max(room // 2, room - message_cost))
    figures_cost = utf16_units(figures_html) + 1 if figures_html else 0
    body = [_escaped(message, room - figures_cost - 1)] if message else []
    if figures_html:
        body.append(figures_html)
    return "\n".join([head, *body, tail])


def _figures(lines: list[str], room: int) -> str:
    """``<pre>`` with as many figure lines as fit in ``room`` units (its newline included)."""
    if not lines:
        return ""
    escaped = [html.escape(line, quote=False) for line in lines]
    full = "<pre>" + "\n".join(escaped) + "</pre>"
    if utf16_units(full) + 1 <= room:
        return full
    kept: list[str] = []
    used = _PRE_TAGS + 1 + _FIGURES_NOTE_RESERVE
    for line in escaped:
        if used + utf16_units(line) + 1 > room:
            break
        kept.append(line)
        used += utf16_units(line) + 1
    if used > room:
        return ""
    kept.append(f"{ELLIPSIS} {len(lines) - len(kept)} more figures not shown")
    return "<pre>" + "\n".join(kept) + "</pre>"


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _retry_after(body: dict[str, Any] | None) -> float | None:
    """``parameters.retry_after`` (seconds) from a Bot API answer, capped; else ``None``."""
    parameters = body.get("parameters") if body is not None else None
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)


def _escaped(text: str, limit: int) -> str:
    """``text`` HTML-escaped and cut (never inside an entity) to ``limit`` units with ``…``."""
    return cut_escaped(text, limit, _escape_html)


def _escape_html(text: str) -> str:
    return html.escape(text, quote=False)
