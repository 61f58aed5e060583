"""The one POST every HTTP sink makes, and what its failures to get an answer mean.

:func:`post` sends the request and returns whatever the service answered; the sink then decides
what the answer means (:func:`riskguard.alerts.delivery.classify_response`, plus whatever the
service puts in its body). A request that cannot be sent at all raises :class:`DeliveryError`:

- the configured URL cannot be parsed, or is not an ``http://`` or ``https://`` URL (a typo
  such as ``htps://``): permanent, since no retry can fix the configuration. The httpx error is
  not chained, because its text or its request may quote the URL and so the secret in it;
- a timeout or a connection failure: retryable, see
  :func:`riskguard.alerts.delivery.classify_transport_error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from riskguard.alerts.delivery import DeliveryError, classify_transport_error


async def post(
    client: httpx.AsyncClient,
    url: str,
    service: str,
    *,
    timeout_s: float,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    add_params: Mapping[str, str] | None = None,
    url_label: str = "the configured URL",
) -> httpx.Response:
    """POST to ``url`` within ``timeout_s`` and return the answer, whatever its status.

    ``json`` is sent as strict JSON with ``Content-Type: application/json``; ``content`` as the
    raw body. ``add_params`` are merged into the URL's own query (httpx's ``params=`` would
    replace it). ``service`` names the sink in errors, ``url_label`` the URL it was given.
    Raises :class:`DeliveryError` when no answer came (see the module docstring).
    """
    try:
        target = httpx.URL(url)
        if add_params:
            target = target.copy_merge_params(add_params)
        return await client.post(
            target, json=json, content=content, headers=headers, timeout=timeout_s
        )
    except httpx.InvalidURL:
        raise DeliveryError(f"{service}: {url_label} is not valid", permanent=True) from None
    except httpx.UnsupportedProtocol:
        raise DeliveryError(
            f"{service}: {url_label} is not an http:// or https:// URL", permanent=True
        ) from None
    except httpx.HTTPError as exc:
        raise classify_transport_error(exc, service) from exc
