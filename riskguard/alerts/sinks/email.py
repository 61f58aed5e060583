"""Email: one plain-text message per alert (or digest) over SMTP, never unencrypted.

The message is built by the pure :func:`email_message`; :class:`EmailSink` runs the blocking
stdlib :mod:`smtplib` conversation in a worker thread (:func:`asyncio.to_thread`)::

    starttls   connect ─ EHLO ─ STARTTLS offered? ─ STARTTLS ─ EHLO ─ [AUTH] ─ MAIL/RCPT/DATA ─ QUIT
                                 └ no: permanent error, nothing is sent in clear text
    tls        TLS connect ───────────────────────── EHLO ─ [AUTH] ─ MAIL/RCPT/DATA ─ QUIT

The server's certificate and host name are always verified (:func:`ssl_context_for`).

What a failure tells the outbox (:class:`~riskguard.alerts.delivery.DeliveryError`)::

    permanent   login refused; the server offers no STARTTLS or no AUTH; the certificate does
                not verify; a 5xx answer to MAIL, RCPT or DATA
    retryable   a 4xx answer (451 "try later", 421 "closing"); connection refused, reset or
                dropped; time-outs; any other TLS or socket failure

The password is registered with the log redactor and appears in no error text nor ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.utils
import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from riskguard.alerts import text
from riskguard.alerts.config import EmailSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.observability.logs import register_secret

_LOG = structlog.get_logger("riskguard.alerts.email")

ALERT_ID_HEADER = "X-Riskguard-Alert-Id"
"""The alert's id (a digest's: one derived from all its ids), for deduplication by a mail filter."""

_REPLY_EXCERPT = 120
"""Characters of a server's reply kept in an error text."""


def ssl_context_for(ca_file: str | None) -> ssl.SSLContext:
    """A client TLS context: the system's trust store, or only the CA in ``ca_file`` (PEM).

    Certificate and host name are always verified; there is no switch to turn that off.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def message_alert_id(alerts: Sequence[Alert]) -> str:
    """The alert's id, or for a digest ``digest-`` and a hash of its sorted ids (order-free)."""
    if len(alerts) == 1:
        return alerts[0].id
    joined = "\n".join(sorted(a.id for a in alerts))
    return "digest-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


def email_message(
    alerts: Sequence[Alert], config: EmailSinkConfig, *, now: datetime
) -> email.message.EmailMessage:
    """The plain-text UTF-8 message for ``alerts`` (one alert, or a digest of several).

    ``now`` (timezone-aware) is the ``Date``. Critical messages are marked high priority.
    """
    if not alerts:
        raise ValueError("an email needs at least one alert")
    message = email.message.EmailMessage()
    message["From"] = config.from_address
    message["To"] = ", ".join(config.to)
    message["Subject"] = text.subject_line(alerts)
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = email.utils.make_msgid(
        "riskguard", domain=config.from_address.rpartition("@")[2]
    )
    message[ALERT_ID_HEADER] = message_alert_id(alerts)
    message["Auto-Submitted"] = "auto-generated"
    if text.worst(alerts) >= Severity.CRITICAL:
        message["X-Priority"] = "1"
        message["Importance"] = "high"
    # Quoted-printable: the body has non-ASCII ("·"), and not every server announces 8BITMIME.
    message.set_content(text.plain_text(alerts), charset="utf-8", cte="quoted-printable")
    return message


class EmailSink:
    """Alerts by email over SMTP with STARTTLS or implicit TLS (see the module docstring)."""

    def __init__(
        self, config: EmailSinkConfig, *, password: str | None, ssl_context: ssl.SSLContext
    ) -> None:
        self._config = config
        self._password = password
        self._ssl_context = ssl_context
        if password:
            register_secret(password)

    @property
    def name(self) -> str:
        """The sink's configured name."""
        return self._config.sink_name

    def __repr__(self) -> str:
        return f"EmailSink(name={self.name!r})"

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver one message; raises :class:`DeliveryError` when the server did not take it."""
        message = email_message(alerts, self._config, now=datetime.now(UTC))
        await asyncio.to_thread(self._deliver, message)

    # The blocking SMTP conversation (runs in a worker thread).

    def _deliver(self, message: email.message.EmailMessage) -> None:
        config = self._config
        step = "TLS connect" if config.security == "tls" else "connect"
        try:
            with contextlib.closing(self._connect()) as client:
                step = "EHLO"
                client.ehlo_or_helo_if_needed()
                if config.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise self._error(
                            "server does not offer STARTTLS; refusing to send the alert "
                            "unencrypted",
                            permanent=True,
                        )
                    step = "STARTTLS"
                    client.starttls(context=self._ssl_context)
                    step = "EHLO"
                    client.ehlo_or_helo_if_needed()
                if config.username is not None:
                    step = "login"
                    client.login(config.username, self._password or "")
                step = "send"
                refused = client.send_message(
                    message, from_addr=config.from_address, to_addrs=list(config.to)
                )
                # The server has taken the message: a failing QUIT must not make it sent twice.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.quit()
        except DeliveryError:
            raise
        except Exception as exc:
            raise self._classify(exc, step) from exc
        if refused:
            # Some recipients took it: sending again would repeat it to them.
            _LOG.warning(
                "email_recipients_refused",
                sink=self.name,
                refused={addr: code for addr, (code, _) in refused.items()},
            )

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        if config.security == "tls":
            return smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_s, context=self._ssl_context
            )
        return smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)

    @property
    def _service(self) -> str:
        return f"email sink {self.name} ({self._config.host}:{self._config.port})"

    def _error(self, what: str, *, permanent: bool) -> DeliveryError:
        return DeliveryError(f"{self._service}: {what}", permanent=permanent)

    def _classify(self, exc: BaseException, step: str) -> DeliveryError:
        return classify_smtp_error(exc, self._service, step=step, timeout_s=self._config.timeout_s)


def classify_smtp_error(
    exc: BaseException, service: str, *, step: str, timeout_s: float
) -> DeliveryError:
    """The :class:`DeliveryError` an exception raised during ``step`` of the conversation means.

    ``service`` names the sink and server (``email sink ops (smtp.example.com:587)``); ``step``
    is what was being done (``connect``, ``STARTTLS``, ``login``, ``send``...).
    """
    what, permanent = _failure(exc, step, timeout_s)
    return DeliveryError(f"{service}: {what}", permanent=permanent)


def _failure(exc: BaseException, step: str, timeout_s: float) -> tuple[str, bool]:
    """What failed, in a few words, and whether trying again cannot help."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"login refused ({_reply(exc)})", True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        every_5xx = all(500 <= code < 600 for code in codes)
        return f"all recipients refused ({', '.join(map(str, codes))})", every_5xx
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"connect: server refused the session ({_reply(exc)})", False
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{step} failed ({_reply(exc)})", 500 <= exc.smtp_code < 600
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{step}: server does not support it ({_one_line(str(exc))})", True
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib turns a time-out while reading a reply into "connection unexpectedly closed".
        if isinstance(exc.__context__, TimeoutError):
            return f"{step}: timed out after {timeout_s:g} s", False
        return f"{step}: server closed the connection", False
    if isinstance(exc, smtplib.SMTPException):
        # smtplib's own refusals, such as "No suitable authentication method found".
        return f"{step} failed ({_one_line(str(exc))})", step == "login"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = _ssl_reason(exc) or "verification failed"
        return f"{step}: server certificate not trusted ({reason})", True
    if isinstance(exc, TimeoutError):
        return f"{step}: timed out after {timeout_s:g} s", False
    if isinstance(exc, ssl.SSLError):
        return f"{step}: TLS failed ({_ssl_reason(exc) or type(exc).__name__})", False
    if isinstance(exc, OSError):
        return f"{step}: connection failed ({_os_reason(exc)})", False
    return f"{step} failed ({type(exc).__name__})", False


def _reply(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    detail = _one_line(detail)
    return f"{exc.smtp_code} {detail}" if detail else str(exc.smtp_code)


def _one_line(detail: str) -> str:
    detail = " ".join(detail.split())
    return detail[:_REPLY_EXCERPT] + ("..." if len(detail) > _REPLY_EXCERPT else "")


def _ssl_reason(exc: ssl.SSLError) -> str | None:
    # ``verify_message`` and ``reason`` are set only on errors the ssl module raised itself.
    for attribute in ("verify_message", "reason"):
        value = getattr(exc, attribute, None)
        if value:
            return str(value)
    return None


def _os_reason(exc: OSError) -> str:
    return _one_line(exc.strerror) if exc.strerror else type(exc).__name__


__all__ = [
    "ALERT_ID_HEADER",
    "EmailSink",
    "classify_smtp_error",
    "email_message",
    "message_alert_id",
    "ssl_context_for",
]
