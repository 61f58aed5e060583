"""The email sink against a real SMTP server (aiosmtpd) on 127.0.0.1, over real TLS.

Every server presents a certificate issued by a throw-away CA (trustme); the sink trusts that CA
through its ``ca_file``, so certificate and host name verification run as in production.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from structlog.testing import capture_logs

from riskguard.alerts import text
from riskguard.alerts.config import EmailSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity
from riskguard.alerts.sinks.email import (
    ALERT_ID_HEADER,
    EmailSink,
    classify_smtp_error,
    email_message,
    message_alert_id,
    ssl_context_for,
)

HOST = "127.0.0.1"
USERNAME = "guard@example.com"
PASSWORD = "correct-horse-battery-staple-7431"
FROM = "guard@example.com"
TO = ("ops@example.com", "oncall@example.org")

# --- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the server's handler took it."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    over_tls: bool
    login: bytes | None

    @property
    def body(self) -> str:
        content = self.message.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n")


@dataclass
class Mailbox:
    """The aiosmtpd handler: accepts one login, records messages, or answers as told."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    unknown: frozenset[str] = frozenset()
    received: list[Received] = field(default_factory=list)
    auth_attempts: int = 0

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        self.auth_attempts += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        if address in self.unknown:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        assert server.transport is not None
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                over_tls=server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return "250 2.0.0 queued"


class EphemeralPortController(Controller):
    """A Controller listening on port 0: the port the system chose is read back after binding.

    (aiosmtpd's ``start`` connects once to the configured port to wake the server up, so the
    real port must be known before that connection.)
    """

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class Server:
    port: int
    mailbox: Mailbox


StartServer = Callable[..., Server]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for ``names`` issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def start_server(ca: trustme.CA) -> Iterator[StartServer]:
    """Start SMTP servers on 127.0.0.1; every one is stopped (its thread joined) afterwards.

    ``mode``: ``"starttls"`` (STARTTLS required before anything else), ``"plain"`` (no TLS
    offered at all) or ``"tls"`` (implicit TLS from the first byte). AUTH is only offered over TLS.
    """
    controllers: list[Controller] = []

    def start(
        mode: str = "starttls",
        *,
        names: tuple[str, ...] = ("127.0.0.1", "localhost"),
        mailbox: Mailbox | None = None,
    ) -> Server:
        box = Mailbox() if mailbox is None else mailbox
        context = server_context(ca, *names)
        options: dict[str, Any] = {
            "hostname": HOST,
            "port": 0,
            "server_hostname": "localhost",
            "authenticator": box.authenticate,
            "auth_require_tls": True,
        }
        if mode == "starttls":
            options |= {"tls_context": context, "require_starttls": True}
        elif mode == "tls":
            options["ssl_context"] = context
        else:
            assert mode == "plain"
        controller = EphemeralPortController(box, **options)
        controller.start()
        controllers.append(controller)
        return Server(port=controller.port, mailbox=box)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# --- helpers ---------------------------------------------------------------------------------


def config_for(port: int, ca_file: str | None, **changes: Any) -> EmailSinkConfig:
    values: dict[str, Any] = {
        "name": "ops-mail",
        "host": HOST,
        "port": port,
        "security": "starttls",
        "username": USERNAME,
        "password_env": "RISKGUARD_TEST_SMTP_PASSWORD",
        "from_address": FROM,
        "to": TO,
        "ca_file": ca_file,
        "timeout_s": 5.0,
    }
    values.update(changes)
    return EmailSinkConfig(**values)


def sink_for(config: EmailSinkConfig, password: str | None = PASSWORD) -> EmailSink:
    return EmailSink(config, password=password, ssl_context=ssl_context_for(config.ca_file))


def send(sink: EmailSink, *alerts: Alert) -> None:
    asyncio.run(sink.send(alerts))


def send_failing(sink: EmailSink, *alerts: Alert) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(sink, *alerts)
    return caught.value


def liquidation_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = {
        "id": "5c0ffee0a1b2c3d4e5f60718293a4b5c",
        "time_ms": 1_795_000_000_000,
        "severity": Severity.CRITICAL,
        "title": "liquidation within 4.2 % — reduce now",
        "message": "Mark price is 4.2 % from the liquidation price.",
        "account": "main",
        "symbol": "BTC/USDT:USDT",
        "side": "long",
        "rule": "liquidation_distance",
        "kind": "entered",
        "figures": (
            ("distance_pct", 4.2),
            ("mark_price", 61250.5),
            ("liquidation_price", 58678.0),
            ("leverage", 12.5),
        ),
    }
    values.update(changes)
    return Alert(**values)


def warning_alert(number: int, time_ms: int) -> Alert:
    return Alert(
        id=f"warn{number:028d}",
        time_ms=time_ms,
        severity=Severity.WARNING,
        title=f"margin ratio above warn level ({number})",
        account="main",
        symbol="ETH/USDT:USDT",
        side="short",
        rule="margin_ratio",
        kind="entered",
        figures=(("margin_ratio_pct", 71.0 + number),),
    )


# --- delivery --------------------------------------------------------------------------------


def test_email_single_alert_arrives_over_starttls_with_subject_figures_and_id(
    start_server: StartServer, ca_file: str
) -> None:
    server = start_server("starttls")
    alert = liquidation_alert()

    send(sink_for(config_for(server.port, ca_file)), alert)

    [got] = server.mailbox.received
    assert got.over_tls
    assert got.login == USERNAME.encode()
    assert got.mail_from == FROM
    assert got.rcpt_tos == list(TO)
    message = got.message
    assert message["Subject"] == text.subject_line([alert])
    assert message["Subject"] == (
        "riskguard [CRITICAL] main BTC/USDT:USDT long: liquidation within 4.2 % — reduce now"
    )
    assert message["From"] == FROM
    assert message["To"] == "ops@example.com, oncall@example.org"
    assert message[ALERT_ID_HEADER] == alert.id
    assert message["X-Priority"] == "1"
    assert message["Importance"] == "high"
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert got.body == text.plain_text([alert])
    for line in (
        "  distance_pct: 4.2",
        "  mark_price: 61,250.50",
        "  liquidation_price: 58,678",
        "  leverage: 12.5",
        "Mark price is 4.2 % from the liquidation price.",
    ):
        assert line in got.body.splitlines()
    assert f"id {alert.id}" in got.body


def test_email_digest_of_several_alerts_is_one_message_with_a_stable_digest_id(
    start_server: StartServer, ca_file: str
) -> None:
    server = start_server("starttls")
    alerts = [
        warning_alert(1, 1_795_000_000_000),
        liquidation_alert(time_ms=1_795_000_001_000),
        warning_alert(2, 1_795_000_002_000),
    ]

    send(sink_for(config_for(server.port, ca_file)), *alerts)

    [got] = server.mailbox.received
    message = got.message
    assert message["Subject"] == "[CRITICAL] riskguard: 3 alerts (1 critical, 2 warning)"
    assert message[ALERT_ID_HEADER] == message_alert_id(alerts)
    assert message[ALERT_ID_HEADER].startswith("digest-")
    assert message_alert_id(list(reversed(alerts))) == message_alert_id(alerts)
    assert message["X-Priority"] == "1"
    body = got.body
    assert body == text.plain_text(alerts)
    assert body.startswith("riskguard: 3 alerts (1 critical, 2 warning)\n")
    for alert in alerts:
        assert text.headline(alert) in body
        assert f"id {alert.id}" in body
    assert "  margin_ratio_pct: 72" in body.splitlines()


def test_email_implicit_tls_delivers_with_the_certificate_verified(
    start_server: StartServer, ca_file: str
) -> None:
    # aiosmtpd offers AUTH only after STARTTLS, so this server takes mail without a login.
    server = start_server("tls")
    alert = liquidation_alert(severity=Severity.WARNING)
    config = config_for(server.port, ca_file, security="tls", username=None, password_env=None)

    send(sink_for(config, password=None), alert)

    [got] = server.mailbox.received
    assert got.over_tls
    assert got.login is None
    assert got.message[ALERT_ID_HEADER] == alert.id
    assert got.message["X-Priority"] is None


# --- refusals --------------------------------------------------------------------------------


def test_email_wrong_password_is_permanent_and_the_password_is_never_shown(
    start_server: StartServer, ca_file: str
) -> None:
    server = start_server("starttls")
    wrong = "not-the-password-9182"
    sink = sink_for(config_for(server.port, ca_file), password=wrong)

    error = send_failing(sink, liquidation_alert())

    assert error.permanent
    assert error.text.startswith(f"email sink ops-mail ({HOST}:{server.port}): login refused (535")
    assert "\n" not in error.text
    for shown in (error.text, repr(error), repr(sink), str(error.__cause__)):
        assert wrong not in shown
        assert PASSWORD not in shown
    assert repr(sink) == "EmailSink(name='ops-mail')"
    assert server.mailbox.auth_attempts >= 1  # smtplib tries PLAIN, then LOGIN
    assert server.mailbox.received == []


def test_email_server_without_starttls_is_permanent_and_nothing_is_sent(
    start_server: StartServer, ca_file: str
) -> None:
    server = start_server("plain")

    error = send_failing(sink_for(config_for(server.port, ca_file)), liquidation_alert())

    assert error.permanent
    assert error.text == (
        f"email sink ops-mail ({HOST}:{server.port}): server does not offer STARTTLS; "
        "refusing to send the alert unencrypted"
    )
    assert server.mailbox.auth_attempts == 0  # the password never went out in clear text
    assert server.mailbox.received == []


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "permanent", "says"),
    [
        pytest.param(None, "451 4.3.0 try later", False, "send failed (451 4.3.0 try later)"),
        pytest.param(None, "554 5.6.0 rejected", True, "send failed (554 5.6.0 rejected)"),
        pytest.param("550 5.1.1 no such user", None, True, "all recipients refused (550)"),
        pytest.param("450 4.2.1 mailbox busy", None, False, "all recipients refused (450)"),
    ],
    ids=["data-451", "data-554", "rcpt-550", "rcpt-450"],
)
def test_email_server_answer_4xx_is_retryable_and_5xx_is_permanent(
    start_server: StartServer,
    ca_file: str,
    rcpt_reply: str | None,
    data_reply: str | None,
    permanent: bool,
    says: str,
) -> None:
    mailbox = Mailbox(rcpt_reply=rcpt_reply, data_reply=data_reply)
    server = start_server("starttls", mailbox=mailbox)

    error = send_failing(sink_for(config_for(server.port, ca_file)), liquidation_alert())

    assert error.permanent is permanent
    assert error.retry_after_s is None
    assert error.text == f"email sink ops-mail ({HOST}:{server.port}): {says}"
    assert mailbox.received == []


def test_email_some_recipients_refused_is_delivered_to_the_rest_and_logged(
    start_server: StartServer, ca_file: str
) -> None:
    # Sending again would repeat the alert to those who got it: delivered, with a warning.
    mailbox = Mailbox(unknown=frozenset({"oncall@example.org"}))
    server = start_server("starttls", mailbox=mailbox)

    with capture_logs() as logs:
        send(sink_for(config_for(server.port, ca_file)), liquidation_alert())

    [got] = mailbox.received
    assert got.rcpt_tos == ["ops@example.com"]
    assert logs == [
        {
            "event": "email_recipients_refused",
            "log_level": "warning",
            "sink": "ops-mail",
            "refused": {"oncall@example.org": 550},
        }
    ]


# --- transport and TLS failures -------------------------------------------------------------


def test_email_connection_refused_is_retryable(closed_port: int, ca_file: str) -> None:
    error = send_failing(sink_for(config_for(closed_port, ca_file)), liquidation_alert())

    assert not error.permanent
    assert error.text.startswith(f"email sink ops-mail ({HOST}:{closed_port}): connect: ")


def test_email_server_that_never_greets_times_out_retryable(ca_file: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind((HOST, 0))
        silent.listen()  # connections wait in the backlog; no banner ever comes
        port = silent.getsockname()[1]
        config = config_for(port, ca_file, timeout_s=0.2)

        error = send_failing(sink_for(config), liquidation_alert())

    assert not error.permanent
    assert "timed out after 0.2 s" in error.text


@pytest.mark.parametrize(
    ("use_ca_file", "names"),
    [
        pytest.param(False, ("127.0.0.1", "localhost"), id="ca-not-in-system-store"),
        pytest.param(True, ("mail.example.net",), id="certificate-for-another-host"),
    ],
)
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_unverifiable_certificate_is_permanent_and_nothing_is_sent(
    start_server: StartServer,
    ca_file: str,
    security: str,
    use_ca_file: bool,
    names: tuple[str, ...],
) -> None:
    server = start_server(security, names=names)
    config = config_for(
        server.port,
        ca_file if use_ca_file else None,
        security=security,
        username=None,
        password_env=None,
    )

    error = send_failing(sink_for(config, password=None), liquidation_alert())

    assert error.permanent
    assert "server certificate not trusted" in error.text
    assert server.mailbox.received == []


@pytest.mark.parametrize(
    ("exc", "step", "permanent", "says"),
    [
        (
            smtplib.SMTPConnectError(554, b"no SMTP service here"),
            "connect",
            False,
            "connect: server refused the session (554 no SMTP service here)",
        ),
        (
            smtplib.SMTPResponseException(421, b"4.3.2 closing\r\n  for maintenance"),
            "send",
            False,
            "send failed (421 4.3.2 closing for maintenance)",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 sender not allowed", FROM),
            "send",
            True,
            "send failed (553 5.7.1 sender not allowed)",
        ),
        (
            smtplib.SMTPHeloError(501, b"bad HELO"),
            "EHLO",
            True,
            "EHLO failed (501 bad HELO)",
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no"), "b@x.org": (451, b"later")}),
            "send",
            False,
            "all recipients refused (451, 550)",
        ),
        (
            smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."),
            "login",
            True,
            "login: server does not support it (SMTP AUTH extension not supported by server.)",
        ),
        (
            smtplib.SMTPException("No suitable authentication method found."),
            "login",
            True,
            "login failed (No suitable authentication method found.)",
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            "send",
            False,
            "send: server closed the connection",
        ),
        (TimeoutError(), "STARTTLS", False, "STARTTLS: timed out after 10 s"),
        (
            ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
            "STARTTLS",
            False,
            "STARTTLS: TLS failed (SSLEOFError)",
        ),
        (
            ssl.SSLCertVerificationError(1, "certificate verify failed"),
            "TLS connect",
            True,
            "TLS connect: server certificate not trusted (verification failed)",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "send",
            False,
            "send: connection failed (Connection reset by peer)",
        ),
        (RuntimeError("odd"), "send", False, "send failed (RuntimeError)"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_email_classify_smtp_error_decides_retry_or_dead_letter(
    exc: BaseException, step: str, permanent: bool, says: str
) -> None:
    error = classify_smtp_error(
        exc, "email sink ops (smtp.example.com:587)", step=step, timeout_s=10
    )

    assert error.permanent is permanent
    assert error.text == f"email sink ops (smtp.example.com:587): {says}"


# --- the message, without a server -----------------------------------------------------------


def test_email_message_marks_only_critical_as_high_priority_and_dates_it_now() -> None:
    config = config_for(587, None)
    now = datetime(2026, 11, 21, 3, 14, 7, tzinfo=UTC)

    warning = email_message([warning_alert(1, 1_795_000_000_000)], config, now=now)
    critical = email_message([liquidation_alert()], config, now=now)

    assert warning["X-Priority"] is None
    assert warning["Importance"] is None
    assert critical["X-Priority"] == "1"
    assert warning["Date"] == "Sat, 21 Nov 2026 03:14:07 +0000"
    assert warning["Auto-Submitted"] == "auto-generated"
    assert warning["Message-ID"] != critical["Message-ID"]


def test_email_message_needs_an_alert() -> None:
    with pytest.raises(ValueError, match="at least one alert"):
        email_message([], config_for(587, None), now=datetime.now(UTC))


def test_email_ssl_context_always_verifies_certificate_and_host_name(ca_file: str) -> None:
    for context in (ssl_context_for(None), ssl_context_for(ca_file)):
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
