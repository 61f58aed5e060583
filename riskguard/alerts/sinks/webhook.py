"""A generic JSON webhook, optionally signed: the body it posts and the sender.

One POST per message. The body is strict JSON (no ``NaN`` or ``Infinity`` tokens; a non-finite
figure is sent as the string ``"inf"``, ``"-inf"`` or ``"nan"``)::

    {"type": "alert", "alerts": [<Alert.to_json()>]}              one alert
    {"type": "digest", "alerts": [<Alert.to_json()>, ...]}        several, most severe first

Headers:

``Content-Type: application/json``
``X-Riskguard-Alert-Id``   the alert's id; for a digest, a digest id computed from the sorted
                           ids of its alerts. A retry sends the same id, so receivers can
                           drop a message they have already handled.
``X-Riskguard-Timestamp``  when this attempt was sent, in whole Unix seconds
``X-Riskguard-Signature``  (the name is configurable; only when a secret is configured)
                           ``sha256=`` followed by the lower-case hex HMAC-SHA256, keyed with
                           the secret, of the timestamp header's digits, a full stop, and then
                           the raw body bytes

Checking a request on the receiving side
-----------------------------------------

1. Keep the body exactly as it arrived, as bytes. Parsing the JSON and serialising it again does
   not give back the same bytes, and the signature covers the bytes.
2. Read ``X-Riskguard-Timestamp`` and refuse the request when it is further from your own clock
   than you are willing to accept (five minutes is a common choice). The timestamp is inside the
   signed data, so an attacker who captured an old request cannot put a fresh one on it: this is
   what stops replays.
3. Compute the HMAC-SHA256 with the shared secret over ``<timestamp>.`` followed by the body, and
   compare ``"sha256=" + hexdigest`` with the signature header using a constant-time comparison.
   In Python::

       signed = timestamp_header.encode() + b"." + raw_body
       expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
       authentic = hmac.compare_digest(expected, signature_header)

4. Optionally remember ``X-Riskguard-Alert-Id`` for a while and ignore repeats: a message is sent
   again when the first attempt's answer was lost.

Each attempt is signed anew with its own timestamp, so a retry hours later still passes step 2.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import httpx

from riskguard.alerts.config import WebhookSinkConfig
from riskguard.alerts.delivery import classify_response
from riskguard.alerts.model import Alert, format_figure
from riskguard.alerts.sinks.http import post
from riskguard.alerts.text import ordered
from riskguard.observability.logs import register_secret

ALERT_ID_HEADER: Final = "X-Riskguard-Alert-Id"
"""The message's id: what a receiver de-duplicates on."""

TIMESTAMP_HEADER: Final = "X-Riskguard-Timestamp"
"""Unix seconds of the attempt; part of the signed data."""

DIGEST_ID_HEX: Final = 32
"""Hex digits of SHA-256 kept for a digest's id (as long as an alert id)."""


def webhook_body(alerts: Sequence[Alert]) -> bytes:
    """The UTF-8 JSON body for one alert or a digest of several (see the module docstring)."""
    _require(alerts)
    payload = {
        "type": "alert" if len(alerts) == 1 else "digest",
        "alerts": [_strict(alert.to_json()) for alert in ordered(alerts)],
    }
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def message_id(alerts: Sequence[Alert]) -> str:
    """The alert's own id, or for a digest a stable id derived from its alerts' ids.

    The digest id does not depend on the order the alerts are given in.
    """
    _require(alerts)
    if len(alerts) == 1:
        return alerts[0].id
    joined = ",".join(sorted(alert.id for alert in alerts))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:DIGEST_ID_HEX]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed with ``secret`` over ``b"<timestamp>." + body``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSink:
    """Posts alerts as JSON to one URL, signed with HMAC-SHA256 when a secret is given."""

    def __init__(
        self,
        config: WebhookSinkConfig,
        client: httpx.AsyncClient,
        *,
        url: str,
        secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret == "":
            raise ValueError(f"webhook sink {config.sink_name}: the signing secret is empty")
        register_secret(url)
        if secret is not None:
            register_secret(secret)
        self._config = config
        self._client = client
        self._url = url
        self._secret = secret
        self._clock = clock
        self._service = f"webhook sink {config.sink_name!r}"

    @property
    def name(self) -> str:
        """The sink's name from the config."""
        return self._config.sink_name

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        """POST one message; returns on a 2xx answer, raises :class:`DeliveryError` otherwise."""
        body = webhook_body(alerts)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            ALERT_ID_HEADER: message_id(alerts),
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self._secret is not None:
            headers[self._config.signature_header] = signature(self._secret, timestamp, body)
        response = await post(
            self._client,
            self._url,
            self._service,
            timeout_s=self._config.timeout_s,
            content=body,
            headers=headers,
        )
        error = classify_response(response, self._service)
        if error is not None:
            raise error


def _strict(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``"inf"``, ``"-inf"`` or ``"nan"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return format_figure(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def _require(alerts: Sequence[Alert]) -> None:
    if not alerts:
        raise ValueError("a message needs at least one alert")
