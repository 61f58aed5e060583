"""The ``alerts`` section (where alerts go) and the ``alerting`` section (how often they may).

``alerts`` is a list of sinks, each with a ``type``::

    alerts:
      - type: slack
        url_env: RISKGUARD_SLACK_URL      # the incoming-webhook URL is the secret
        min_severity: warning
      - type: telegram
        token_env: RISKGUARD_TELEGRAM_TOKEN
        chat_id: "-1001234567890"
        min_severity: critical
        accounts: ["binance-*"]
      - type: email
        host: smtp.example.com
        username: guard@example.com
        password_env: RISKGUARD_SMTP_PASSWORD
        from_address: guard@example.com
        to: [ops@example.com]

Secrets (webhook URLs, bot tokens, HMAC keys, SMTP passwords) are only ever named by their
environment variable (``*_env``); the values are read when the sinks are built
(:mod:`riskguard.alerts.factory`) and registered with the log redactor. Slack and Discord
webhook URLs carry their token in the path, so the whole URL is the secret (``url_env``); so is
a generic webhook's, which may carry one in its path or query. What the file may hold is not
secret: Telegram's ``api_base`` is the Bot API server alone (the sink adds ``/bot<token>`` from
``token_env``), an email ``username`` is a login name, a ``chat_id`` an address. A value in the
file that is credential-shaped (``/bot<token>``, ``user:pass@`` in a URL, ``?token=...``, a
``Bearer ...`` value; :mod:`riskguard.observability.secret_shapes`) is refused with where it
goes instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from riskguard.alerts.model import Severity
from riskguard.observability.secret_shapes import find_credentials
from riskguard.validation import StrictModel

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SeverityName = Literal["info", "warning", "critical"]
SINK_TYPES = ("webhook", "slack", "discord", "telegram", "email")
INLINE_SECRET_KEYS = ("url", "token", "password", "secret", "webhook_url", "bot_token", "api_key")
"""Keys that would put a secret in the config file: refused with a pointer to ``*_env``."""


class SinkConfigBase(StrictModel):
    """What every sink has: a name, what it receives, how hard it is retried and rate limited."""

    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]+$", description="unique name; defaults to the type"
    )
    min_severity: SeverityName = Field("warning", description="lowest severity sent here")
    accounts: tuple[str, ...] = Field(
        ("*",),
        min_length=1,
        description="account id patterns whose alerts go here (alerts about no account, such "
        "as the daemon's own, go to every sink)",
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(
        10.0, description="one request's time limit"
    )
    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        8, description="attempts before a message is moved to the dead letters"
    )
    rate_per_minute: Annotated[float, Field(gt=0)] = Field(
        20.0, description="messages per minute, on average, this sink may send"
    )
    burst: Annotated[int, Field(ge=1)] = Field(5, description="messages that may go at once")
    digest_after: Annotated[int, Field(ge=1)] = Field(
        3,
        description="more alerts than this due at once go as one digest message",
    )

    credential_home: ClassVar[str] = "put it in an environment variable"
    """Where this sink's secrets go instead of the config file (said when one is found)."""

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        for key in INLINE_SECRET_KEYS:
            if key not in data:
                continue
            if f"{key}_env" in cls.model_fields:
                raise ValueError(
                    f"{key}: secrets never go in the config file; put the value in an "
                    f"environment variable and name it with {key}_env"
                )
            raise ValueError(f"{key}: secrets never go in the config file; {cls.credential_home}")
        for path, what in find_credentials(data, ""):
            shown = f" ({what})" if what != "a credential" else ""
            raise ValueError(
                f"{path}: credentials may not be written in the config file{shown}; "
                f"{cls.credential_home}"
            )
        return data

    @property
    def sink_name(self) -> str:
        """The configured name, or the type."""
        return self.name or str(self.type)  # type: ignore[attr-defined]

    @property
    def severity(self) -> Severity:
        """``min_severity`` as a :class:`Severity`."""
        return Severity.parse(self.min_severity)


class WebhookSinkConfig(SinkConfigBase):
    """A generic JSON webhook, optionally signed with HMAC-SHA256."""

    type: Literal["webhook"] = "webhook"
    credential_home: ClassVar[str] = (
        "the URL, tokens and all, goes in the environment variable named by url_env, the "
        "signing key in the one named by secret_env"
    )
    url_env: EnvName = Field(description="environment variable holding the URL")
    secret_env: EnvName | None = Field(
        None, description="environment variable holding the HMAC-SHA256 key; unsigned without"
    )
    signature_header: str = Field(
        "X-Riskguard-Signature",
        pattern=r"^[A-Za-z0-9-]+$",
        description="header carrying 'sha256=<hex digest>' of the raw body",
    )


class SlackSinkConfig(SinkConfigBase):
    """A Slack incoming webhook (Block Kit message)."""

    type: Literal["slack"] = "slack"
    credential_home: ClassVar[str] = (
        "the incoming-webhook URL (it holds the token) goes in the environment variable named "
        "by url_env"
    )
    url_env: EnvName = Field(description="environment variable holding the incoming-webhook URL")


class DiscordSinkConfig(SinkConfigBase):
    """A Discord channel webhook (embeds)."""

    type: Literal["discord"] = "discord"
    credential_home: ClassVar[str] = (
        "the webhook URL (it holds the token) goes in the environment variable named by url_env"
    )
    url_env: EnvName = Field(description="environment variable holding the webhook URL")
    username: str | None = Field(None, max_length=80, description="name shown for the bot")


class TelegramSinkConfig(SinkConfigBase):
    """A Telegram bot posting to a chat (HTML parse mode)."""

    type: Literal["telegram"] = "telegram"
    credential_home: ClassVar[str] = (
        "the bot token goes in the environment variable named by token_env, and api_base is "
        "the server alone (https://api.telegram.org)"
    )
    token_env: EnvName = Field(description="environment variable holding the bot token")
    chat_id: str = Field(
        min_length=1, description="chat, group or channel id (-100...) or @channelname"
    )
    api_base: str = Field(
        "https://api.telegram.org",
        pattern=r"^https?://",
        description="Bot API server (change only for a local Bot API server)",
    )
    silent_below: SeverityName = Field(
        "warning", description="alerts below this severity arrive without a notification sound"
    )


class EmailSinkConfig(SinkConfigBase):
    """Plain-text email over SMTP, encrypted with STARTTLS (or implicit TLS)."""

    type: Literal["email"] = "email"
    credential_home: ClassVar[str] = (
        "the SMTP login goes in username and the password in the environment variable named "
        "by password_env"
    )
    host: str = Field(min_length=1, description="SMTP server")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(587, description="SMTP port")
    security: Literal["starttls", "tls"] = Field(
        "starttls", description="'starttls' (submission, port 587) or 'tls' (implicit, port 465)"
    )
    username: str | None = Field(None, description="SMTP login; no login without")
    password_env: EnvName | None = Field(
        None, description="environment variable holding the SMTP password"
    )
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="sender address")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(
        min_length=1, description="recipient addresses"
    )
    ca_file: str | None = Field(
        None, description="PEM file of a private CA to trust (relative to the config file)"
    )

    @model_validator(mode="after")
    def _login(self) -> Self:
        if self.password_env is not None and self.username is None:
            raise ValueError("username: needed when password_env is set")
        return self


SinkConfig = Annotated[
    WebhookSinkConfig | SlackSinkConfig | DiscordSinkConfig | TelegramSinkConfig | EmailSinkConfig,
    Field(discriminator="type"),
]


class AlertingConfig(StrictModel):
    """How alerts are de-duplicated, retried and flushed (the same for every sink)."""

    recovery_hold_s: Annotated[float, Field(ge=0)] = Field(
        120.0,
        description="a condition counts as recovered after it has been clear this long "
        "(a position flapping around a threshold is not 'recovered' each time it dips out)",
    )
    event_quiet_s: Annotated[float, Field(ge=0)] = Field(
        300.0, description="the same event alert (same subject and title) is not repeated sooner"
    )
    retry_base_s: Annotated[float, Field(gt=0)] = Field(
        2.0, description="first retry delay; doubles per attempt (with jitter)"
    )
    retry_max_s: Annotated[float, Field(gt=0)] = Field(
        300.0, description="longest retry delay, unless the service's Retry-After asks for more"
    )
    gather_s: Annotated[float, Field(ge=0)] = Field(
        0.5, description="wait this long after an alert for others that fire with it (digest)"
    )
    flush_on_stop_s: Annotated[float, Field(ge=0)] = Field(
        5.0, description="at shutdown, keep delivering this long; the rest waits in the outbox"
    )
    digest_max: Annotated[int, Field(ge=2)] = Field(
        25, description="most alerts in one digest message"
    )

    @model_validator(mode="after")
    def _retry(self) -> Self:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s: must not be below retry_base_s")
        return self


def unique_names(sinks: tuple[SinkConfigBase, ...]) -> None:
    """Raise ``ValueError`` when two sinks share a name (give one a ``name:``)."""
    names = [s.sink_name for s in sinks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"alerts: sink names must be unique; repeated: {', '.join(repeated)} "
            "(give each a name:)"
        )
