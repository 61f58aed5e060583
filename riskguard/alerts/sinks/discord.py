"""Discord channel webhooks: the embeds and the sender.

Each alert is one embed, most severe first::

    title        [CRITICAL] main BTC/USDT:USDT long: liquidation 4.2% away
    description  the message (when it says more than the title)
    color        red / amber / blue by severity
    fields       one inline field per figure: name, value
    timestamp    the alert's time (ISO 8601; Discord shows it in the reader's time zone)
    footer       rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC · id 3f2a...

A digest puts the digest title in ``content`` and one embed per alert. Discord's limits are kept:
10 embeds per message (the rest are counted in ``content``), title 256 characters, description
4096, 25 fields of name 256 / value 1024, and 6000 characters for all embeds of a message
together. That total is shared out fairly: each embed may use the characters the ones before it
left, divided by the embeds still to come; figures come before the description, which is cut
to fit. Lengths are counted in UTF-16 units, never less than what Discord counts.

``allowed_mentions: {"parse": []}`` means no text in an alert can ping ``@everyone``, a role or a
user. The message is posted with ``?wait=true``, so Discord answers 200 with the message (204
without it; both are success). A 429 carries ``{"retry_after": <seconds>, "global": ...}`` in its
body as well as a ``Retry-After`` header; either is honoured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from riskguard.alerts.config import DiscordSinkConfig
from riskguard.alerts.delivery import MAX_RETRY_AFTER_S, classify_response
from riskguard.alerts.model import Alert, Severity, format_figure
from riskguard.alerts.sinks.http import post
from riskguard.alerts.sinks.limits import ELLIPSIS, cut, utf16_units
from riskguard.alerts.text import context_line, digest_title, headline, ordered
from riskguard.observability.logs import register_secret

EMBEDS_MAX: Final = 10
TITLE_MAX: Final = 256
DESCRIPTION_MAX: Final = 4096
FIELDS_MAX: Final = 25
FIELD_NAME_MAX: Final = 256
FIELD_VALUE_MAX: Final = 1024
EMBEDS_TOTAL_MAX: Final = 6000
CONTENT_MAX: Final = 2000

FOOTER_MAX: Final = 300
"""Ours (Discord allows 2048): title and footer then always fit in an embed's fair share."""

NOTE_RESERVE: Final = 40
"""Characters kept free for the "N more figures not shown" field."""

SEVERITY_COLOR: Final = {
    Severity.INFO: 0x2E90FA,
    Severity.WARNING: 0xF79009,
    Severity.CRITICAL: 0xD92D20,
}


def discord_payload(alerts: Sequence[Alert], username: str | None = None) -> dict[str, Any]:
    """The webhook JSON for one alert or a digest of several."""
    if not alerts:
        raise ValueError("a message needs at least one alert")
    listed = ordered(alerts)
    shown = listed[:EMBEDS_MAX]
    embeds: list[dict[str, Any]] = []
    remaining = EMBEDS_TOTAL_MAX
    for index, alert in enumerate(shown):
        share = remaining // (len(shown) - index)
        embed, used = _embed(alert, share)
        embeds.append(embed)
        remaining -= used
    payload: dict[str, Any] = {}
    if len(alerts) > 1:
        content = digest_title(alerts)
        left_out = len(listed) - len(shown)
        if left_out:
            content += (
                f"\n{ELLIPSIS}and {left_out} more alerts not shown "
                f"(Discord allows {EMBEDS_MAX} embeds per message)"
            )
        payload["content"] = cut(content, CONTENT_MAX)
    payload["embeds"] = embeds
    payload["allowed_mentions"] = {"parse": []}
    if username:
        payload["username"] = username
    return payload


def embeds_size(payload: dict[str, Any]) -> int:
    """The characters Discord counts against its 6000 limit, in UTF-16 units."""
    total = 0
    for embed in payload.get("embeds", ()):
        total += utf16_units(embed.get("title", "")) + utf16_units(embed.get("description", ""))
        total += utf16_units(embed.get("footer", {}).get("text", ""))
        for field in embed.get("fields", ()):
            total += utf16_units(field["name"]) + utf16_units(field["value"])
    return total


class DiscordSink:
    """Posts alerts to a Discord channel webhook (the URL is the secret)."""

    def __init__(self, config: DiscordSinkConfig, client: httpx.AsyncClient, *, url: str) -> None:
        register_secret(url)
        self._config = config
        self._client = client
        self._url = url
        self._service = f"Discord sink {config.sink_name!r}"

    @property
    def name(self) -> str:
        """The sink's name from the config."""
        return self._config.sink_name

    def __repr__(self) -> str:
        return f"DiscordSink(name={self.name!r})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        """POST one message; returns on a 2xx answer, raises :class:`DeliveryError` otherwise."""
        payload = discord_payload(alerts, self._config.username)
        response = await post(
            self._client,
            self._url,
            self._service,
            timeout_s=self._config.timeout_s,
            json=payload,
            add_params={"wait": "true"},
        )
        wait = _body_retry_after(response)
        error = classify_response(response, self._service, retry_after_s=wait)
        if error is not None:
            raise error


def _embed(alert: Alert, budget: int) -> tuple[dict[str, Any], int]:
    """The alert's embed within ``budget`` characters, and the characters it uses."""
    title = cut(headline(alert), TITLE_MAX)
    footer = cut(context_line(alert), FOOTER_MAX)
    used = utf16_units(title) + utf16_units(footer)
    message = alert.message if alert.message != alert.title else ""
    description_floor = min(utf16_units(message), budget // 4)
    fields: list[dict[str, Any]] = []
    figures = alert.figures
    for index, (name, value) in enumerate(figures):
        more_after = index + 1 < len(figures)
        if len(fields) + 1 + (1 if more_after else 0) > FIELDS_MAX:
            break
        field_name = cut(name, FIELD_NAME_MAX) or "-"
        field_value = cut(format_figure(value), FIELD_VALUE_MAX) or "-"
        size = utf16_units(field_name) + utf16_units(field_value)
        reserve = NOTE_RESERVE if more_after else 0
        if used + size + reserve + description_floor > budget:
            break
        fields.append({"name": field_name, "value": field_value, "inline": True})
        used += size
    left_out = len(figures) - len(fields)
    if left_out:
        note = f"{left_out} more figures not shown"
        fields.append({"name": ELLIPSIS, "value": note, "inline": False})
        used += utf16_units(ELLIPSIS) + utf16_units(note)
    embed: dict[str, Any] = {"title": title}
    room = min(DESCRIPTION_MAX, budget - used)
    if message and room >= 2:
        description = cut(message, room)
        embed["description"] = description
        used += utf16_units(description)
    embed["color"] = SEVERITY_COLOR[alert.severity]
    if fields:
        embed["fields"] = fields
    embed["timestamp"] = _iso(alert.time_ms)
    embed["footer"] = {"text": footer}
    return embed, used


def _iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _body_retry_after(response: httpx.Response) -> float | None:
    """Discord's ``retry_after`` (seconds) from a JSON error body, capped; else ``None``."""
    if response.is_success:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
