"""Slack incoming webhooks: the Block Kit message and the sender.

One alert::

    header    [CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away     (plain text)
    section   :rotating_light: *CRITICAL* main BTC/USDT:USDT long
              *liquidation 4.2% away*
              the message
              fields: one per figure (*name* / value), ten per section; more figures
              continue in further sections
    context   rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC · id 3f2a...

A digest has the digest title as its header and one section per alert, most severe first, with
the context line as the section's last line. Slack's limits are kept: 50 blocks per message (the
alerts that do not fit are counted in a last block), header text 150 characters, section text
3000, ten fields per section of 2000 characters each. Lengths are counted in UTF-16 units after
escaping, which is never less than what Slack counts.

The top-level ``text`` is the plain fallback Slack shows in notifications. Text from alerts is
escaped for mrkdwn (``&``, ``<`` and ``>``), so nothing in an alert can become a link or a
``<!channel>`` mention.

Slack answers ``200 ok``; its errors (400 invalid_payload, 403 invalid_token, 404 no_service,
410 channel_is_archived; 429 with Retry-After; 5xx) are classified by
:func:`riskguard.alerts.delivery.classify_response`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import httpx

from riskguard.alerts.config import SlackSinkConfig
from riskguard.alerts.delivery import classify_response
from riskguard.alerts.model import Alert, Severity, format_figure
from riskguard.alerts.sinks.http import post
from riskguard.alerts.sinks.limits import ELLIPSIS, cut, cut_escaped, utf16_units
from riskguard.alerts.text import (
    SEVERITY_MARK,
    context_line,
    digest_title,
    headline,
    ordered,
    subject_line,
)
from riskguard.observability.logs import register_secret

MAX_BLOCKS: Final = 50
HEADER_MAX: Final = 150
SECTION_TEXT_MAX: Final = 3000
FIELDS_PER_SECTION: Final = 10
FIELD_TEXT_MAX: Final = 2000
CONTEXT_TEXT_MAX: Final = 2000
FALLBACK_TEXT_MAX: Final = 3000
"""Slack allows far more in ``text``; a notification preview shows much less than this."""

SUBJECT_MAX: Final = 300
TITLE_MAX: Final = 500
FIGURE_NAME_MAX: Final = 200
"""Our own caps on the short parts, so the message itself always has room."""

SEVERITY_EMOJI: Final = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}

_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_mrkdwn(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped as Slack's mrkdwn requires."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def slack_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The incoming-webhook JSON for one alert or a digest of several."""
    if not alerts:
        raise ValueError("a message needs at least one alert")
    digest = len(alerts) > 1
    title = digest_title(alerts) if digest else headline(alerts[0])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, HEADER_MAX)}}
    ]
    least = 1 if digest else 2  # a digest needs a section per alert, one alert a context too
    listed = ordered(alerts)
    shown = 0
    for index, alert in enumerate(listed):
        more_after = index + 1 < len(listed)
        room = MAX_BLOCKS - len(blocks) - (1 if more_after else 0)  # keep one for the count
        if room < least:
            break
        blocks.extend(_alert_blocks(alert, room, digest=digest))
        shown += 1
    left_out = len(listed) - shown
    if left_out:
        note = (
            f"{ELLIPSIS}and {left_out} more alerts not shown "
            f"(Slack allows {MAX_BLOCKS} blocks per message)"
        )
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {"text": _escaped(subject_line(alerts), FALLBACK_TEXT_MAX), "blocks": blocks}


class SlackSink:
    """Posts alerts to a Slack incoming webhook (the URL is the secret)."""

    def __init__(self, config: SlackSinkConfig, client: httpx.AsyncClient, *, url: str) -> None:
        register_secret(url)
        self._config = config
        self._client = client
        self._url = url
        self._service = f"Slack sink {config.sink_name!r}"

    @property
    def name(self) -> str:
        """The sink's name from the config."""
        return self._config.sink_name

    def __repr__(self) -> str:
        return f"SlackSink(name={self.name!r})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        """POST one message; returns on a 2xx answer, raises :class:`DeliveryError` otherwise."""
        response = await post(
            self._client,
            self._url,
            self._service,
            timeout_s=self._config.timeout_s,
            json=slack_payload(alerts),
        )
        error = classify_response(response, self._service)
        if error is not None:
            raise error


def _alert_blocks(alert: Alert, room: int, *, digest: bool) -> list[dict[str, Any]]:
    """The alert's section(s), and for a lone alert its context block, in at most ``room``."""
    fields = [_field(name, format_figure(value)) for name, value in alert.figures]
    sections_room = room if digest else room - 1
    chunks = _chunks(fields)
    if len(chunks) > sections_room:
        kept = sections_room * FIELDS_PER_SECTION - 1
        chunks = _chunks(fields[:kept])
        note = f"_{len(fields) - kept} more figures not shown_"
        chunks[-1].append({"type": "mrkdwn", "text": note})
    main: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _section_text(alert, with_context=digest)},
    }
    if chunks[0]:
        main["fields"] = chunks[0]
    blocks = [main, *({"type": "section", "fields": chunk} for chunk in chunks[1:])]
    if not digest:
        context = _escaped(context_line(alert), CONTEXT_TEXT_MAX)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return blocks


def _section_text(alert: Alert, *, with_context: bool) -> str:
    mark = f"{SEVERITY_EMOJI[alert.severity]} *{SEVERITY_MARK[alert.severity]}*"
    head = f"{mark} {_escaped(alert.subject, SUBJECT_MAX)}\n*{_escaped(alert.title, TITLE_MAX)}*"
    tail = f"\n{_escaped(context_line(alert), CONTEXT_TEXT_MAX)}" if with_context else ""
    body = ""
    if alert.message and alert.message != alert.title:
        room = SECTION_TEXT_MAX - utf16_units(head) - utf16_units(tail) - 1
        body = "\n" + _escaped(alert.message, room)
    return head + body + tail


def _field(name: str, value: str) -> dict[str, str]:
    label = f"*{_escaped(name, FIGURE_NAME_MAX)}*\n"
    return {"type": "mrkdwn", "text": label + _escaped(value, FIELD_TEXT_MAX - utf16_units(label))}


def _chunks(fields: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """``fields`` ten at a time; one empty chunk when there are none."""
    step = FIELDS_PER_SECTION
    return [fields[i : i + step] for i in range(0, len(fields), step)] or [[]]


def _escaped(text: str, limit: int) -> str:
    """``text`` escaped for mrkdwn, cut (never inside an entity) to ``limit`` units with ``…``."""
    return cut_escaped(text, limit, escape_mrkdwn)
