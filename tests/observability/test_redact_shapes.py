"""The log redactor masks credentials by their shape, even when nobody registered the value: the
headers of ccxt's request dumps, URL user info and Telegram bot tokens in ccxt's and httpx's
debug lines. Each test runs the library's own logging code and reads what reached the stream."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import ccxt
import httpx
import pytest
import requests
import structlog

from riskguard.observability.logs import MASK, SecretRedactor, configure_logging, looks_secret

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
HEADERS = {
    "OK-ACCESS-KEY": "okx-key-9f8e7d",
    "OK-ACCESS-SIGN": "c2lnbmF0dXJlLWI2NA==",
    "OK-ACCESS-PASSPHRASE": "okx-pass-5544",
    "KEY": "gate-key-1a2b3c",
    "Cookie": "sid=cookie-77aa",
    "Authorization": "Bearer jwt-5f5f5f",
}
HIDDEN = [*HEADERS.values(), "hunter22", "deadbeef99", TOKEN]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**saved_config)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream, json=True, level="debug", redactor=SecretRedactor())
    return stream


class _RefusingSession:
    """A requests session whose every request fails to connect (after ccxt logged it)."""

    class _Cookies:
        def clear(self) -> None:
            pass

    cookies = _Cookies()
    headers: dict[str, str] = {}  # noqa: RUF012 - read only

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise requests.exceptions.ConnectionError("refused")


def test_ccxt_verbose_request_dump_shows_no_credential_header_url_login_or_signature() -> None:
    stream = _stream()
    exchange = ccxt.okx({"verbose": True})
    exchange.session = _RefusingSession()
    # As the daemon's wiring does: ccxt's print()-based verbose output goes to the logger.
    exchange.log = lambda *args: structlog.get_logger("ccxt").debug(
        "ccxt", text=" ".join(str(a) for a in args)
    )
    url = "https://me:hunter22@www.okx.com/api/v5/account/balance?ts=1&signature=deadbeef99"

    with pytest.raises(ccxt.NetworkError):
        exchange.fetch(url, "GET", dict(HEADERS), None)

    text = stream.getvalue()
    assert "fetch Request:" in text  # the verbose dump itself
    assert "ccxt.base.exchange" in text  # ccxt's own logger.debug("%s %s, Request: ...") line
    for secret in HIDDEN:
        assert secret not in text, secret
    assert f"https://{MASK}@www.okx.com" in text
    assert "'OK-ACCESS-KEY': '***'" in text


def test_httpx_request_line_shows_no_bot_token_or_url_login() -> None:
    stream = _stream()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))

    with httpx.Client(transport=transport) as client:
        client.post(f"https://api.telegram.org/bot{TOKEN}/sendMessage", json={})
        client.post("https://hook:hunter22@hooks.example/x", json={})

    text = stream.getvalue()
    assert "HTTP Request: POST" in text  # httpx's own INFO line reached the stream
    assert TOKEN not in text
    assert "hunter22" not in text
    assert f"/bot{MASK}/sendMessage" in text
    assert f"https://{MASK}@hooks.example/x" in text


def test_credential_shaped_keys_of_a_logged_mapping_are_masked() -> None:
    stream = _stream()

    structlog.get_logger("riskguard").debug("request", headers=dict(HEADERS), signature="abc12")

    text = stream.getvalue()
    for secret in [*HEADERS.values(), "abc12"]:
        assert secret not in text, secret


def test_looks_secret_accepts_header_and_signature_names() -> None:
    assert looks_secret("OK-ACCESS-SIGN")
    assert looks_secret("Cookie")
    assert looks_secret("signature")
    assert not looks_secret("symbol")
    assert not looks_secret("api_key_env")
