"""Build the configured sinks: read each secret from the environment, register it with the log
redactor, and hand every HTTP sink the one shared ``httpx.AsyncClient``.

A missing or empty variable is a one-line :class:`~riskguard.errors.ConfigError` naming the sink
and the variable (never a value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from riskguard import __version__
from riskguard.alerts.config import (
    DiscordSinkConfig,
    EmailSinkConfig,
    SinkConfigBase,
    SlackSinkConfig,
    TelegramSinkConfig,
    WebhookSinkConfig,
)
from riskguard.alerts.delivery import Sink
from riskguard.alerts.sinks.discord import DiscordSink
from riskguard.alerts.sinks.email import EmailSink, ssl_context_for
from riskguard.alerts.sinks.slack import SlackSink
from riskguard.alerts.sinks.telegram import TelegramSink
from riskguard.alerts.sinks.webhook import WebhookSink
from riskguard.errors import ConfigError
from riskguard.observability.logs import register_secret

HTTP_SINK_TYPES = frozenset({"webhook", "slack", "discord", "telegram"})


def needs_http(configs: Sequence[SinkConfigBase]) -> bool:
    """Whether any sink talks HTTP (then one client is made for all of them)."""
    return any(getattr(c, "type", None) in HTTP_SINK_TYPES for c in configs)


def make_http_client() -> httpx.AsyncClient:
    """The one client every HTTP sink shares: no redirects (a redirect would carry the body
    elsewhere), a small pool, and our user agent."""
    return httpx.AsyncClient(
        follow_redirects=False,
        headers={"User-Agent": f"riskguard/{__version__}"},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        timeout=httpx.Timeout(10.0),
    )


def build_sinks(
    configs: Sequence[SinkConfigBase],
    environ: Mapping[str, str],
    client: httpx.AsyncClient | None,
    base_dir: Path,
) -> list[tuple[Sink, SinkConfigBase]]:
    """One sink per config, in order, with its secrets read from ``environ``."""
    built: list[tuple[Sink, SinkConfigBase]] = []
    for index, config in enumerate(configs):
        where = f"alerts[{index}]"

        def secret(
            field: str, name: str | None, *, url: bool = False, where: str = where
        ) -> str | None:
            if name is None:
                return None
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigError(
                    f"{where}.{field}: environment variable {name} is "
                    f"{'empty' if name in environ else 'not set'}"
                )
            register_secret(value)
            if url and not value.startswith(("https://", "http://")):
                raise ConfigError(
                    f"{where}.{field}: environment variable {name} does not hold an http(s) URL"
                )
            return value

        sink: Sink
        if isinstance(config, EmailSinkConfig):
            ca_file = None
            if config.ca_file is not None:
                path = Path(config.ca_file).expanduser()
                ca_file = path if path.is_absolute() else base_dir / path
                if not ca_file.is_file():
                    raise ConfigError(f"{where}.ca_file: no such file {ca_file}")
            sink = EmailSink(
                config,
                password=secret("password_env", config.password_env),
                ssl_context=ssl_context_for(None if ca_file is None else str(ca_file)),
            )
        else:
            if client is None:
                raise ValueError("HTTP sinks need the shared httpx client")
            if isinstance(config, WebhookSinkConfig):
                url = secret("url_env", config.url_env, url=True) or ""
                sink = WebhookSink(
                    config, client, url=url, secret=secret("secret_env", config.secret_env)
                )
            elif isinstance(config, SlackSinkConfig):
                sink = SlackSink(
                    config, client, url=secret("url_env", config.url_env, url=True) or ""
                )
            elif isinstance(config, DiscordSinkConfig):
                sink = DiscordSink(
                    config, client, url=secret("url_env", config.url_env, url=True) or ""
                )
            elif isinstance(config, TelegramSinkConfig):
                sink = TelegramSink(
                    config, client, token=secret("token_env", config.token_env) or ""
                )
            else:  # pragma: no cover - the config union has no other member
                raise ValueError(f"{where}: unknown sink type")
        built.append((sink, config))
    return built
