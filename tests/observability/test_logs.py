"""``configure_logging`` and ``SecretRedactor``: what reaches the log stream, and what never does.

Every test writes through a real configuration to a StringIO (or uses structlog's
``capture_logs`` with the redactor as its processor) and searches the text for the secret.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pytest
import structlog
from structlog.testing import capture_logs

from riskguard.observability import logs
from riskguard.observability.logs import (
    MASK,
    SecretRedactor,
    configure_logging,
    looks_secret,
    redact,
    register_secret,
    secret_env_values,
)

SECRET = "k3y-7f9Qa1"
OTHER_SECRET = "pass-phrase-42"


class _Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass(frozen=True)
class _Credentials:
    """An object whose repr carries the secret, as a careless config object's would."""

    exchange: str
    secret: str


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put structlog's configuration and the root logger back as they were."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    saved_level = root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**saved_config)
    for handler in root.handlers[:]:
        if handler not in saved_handlers:
            root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _configured(**kwargs: Any) -> tuple[io.StringIO, SecretRedactor]:
    """A StringIO stream and its own redactor, configured with ``kwargs``."""
    stream: io.StringIO = kwargs.pop("stream", io.StringIO())
    redactor = SecretRedactor()
    configure_logging(stream=stream, redactor=redactor, **kwargs)
    return stream, redactor


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# ---------------------------------------------------------------------------- rendering


def test_configure_logging_on_a_pipe_writes_one_json_object_per_event() -> None:
    stream, _ = _configured()

    structlog.get_logger("riskguard.guard").info("finding", account="main", measured=4.2)
    structlog.get_logger("riskguard.executor").warning("step_refused", reason="no such position")

    first, second = _lines(stream)
    assert first["event"] == "finding"
    assert first["level"] == "info"
    assert first["logger"] == "riskguard.guard"
    assert first["account"] == "main"
    assert first["measured"] == 4.2
    assert second["level"] == "warning"
    assert second["reason"] == "no such position"


def test_configure_logging_timestamps_are_iso_8601_in_utc() -> None:
    stream, _ = _configured()

    structlog.get_logger("riskguard").info("tick")

    (line,) = _lines(stream)
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_configure_logging_on_a_terminal_chooses_the_console_renderer() -> None:
    stream, _ = _configured(stream=_Tty())

    structlog.get_logger("riskguard").info("cycle_done", account="main")

    text = stream.getvalue()
    assert "cycle_done" in text
    assert "account" in text
    assert not text.lstrip().startswith("{")


def test_configure_logging_json_true_writes_json_even_on_a_terminal() -> None:
    stream, _ = _configured(stream=_Tty(), json=True)

    structlog.get_logger("riskguard").info("cycle_done", account="main")

    assert _lines(stream)[0]["account"] == "main"


def test_configure_logging_json_false_uses_the_console_on_a_pipe() -> None:
    stream, _ = _configured(json=False)

    structlog.get_logger("riskguard").info("cycle_done")

    assert "cycle_done" in stream.getvalue()
    assert not stream.getvalue().startswith("{")


def test_configure_logging_routes_stdlib_records_through_the_same_renderer() -> None:
    stream, _ = _configured()

    logging.getLogger("apscheduler.scheduler").warning("Job %s missed by %d s", "poll", 3)

    (line,) = _lines(stream)
    assert line["event"] == "Job poll missed by 3 s"
    assert line["logger"] == "apscheduler.scheduler"
    assert line["level"] == "warning"


def test_configure_logging_level_drops_quieter_events_from_both_sources() -> None:
    stream, _ = _configured(level="WARNING")

    structlog.get_logger("riskguard").info("quiet")
    logging.getLogger("ccxt").info("quiet too")
    structlog.get_logger("riskguard").error("loud")

    assert [line["event"] for line in _lines(stream)] == ["loud"]


def test_configure_logging_called_twice_writes_each_event_once() -> None:
    first, _ = _configured()
    second, _ = _configured()

    structlog.get_logger("riskguard").info("once")

    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def test_configure_logging_refuses_an_unknown_level() -> None:
    with pytest.raises(ValueError, match="level must be one of"):
        configure_logging(level="verbose", stream=io.StringIO(), redactor=SecretRedactor())


# ---------------------------------------------------------------------------- registered secrets


def test_registered_secret_is_masked_in_the_event_and_every_nested_field() -> None:
    stream, _ = _configured(secrets=[SECRET])

    structlog.get_logger("riskguard").info(
        f"loaded key {SECRET}",
        note=f"prefix-{SECRET}-suffix",
        payload={"headers": [("X-Key", SECRET)], SECRET: {"deeper": {SECRET}}},
        parts=(1, [SECRET]),
    )

    text = stream.getvalue()
    assert SECRET not in text
    (line,) = _lines(stream)
    assert line["event"] == f"loaded key {MASK}"
    assert line["note"] == f"prefix-{MASK}-suffix"
    # A set has no JSON form: the renderer prints its repr, masked before.
    assert line["payload"] == {"headers": [["X-Key", MASK]], MASK: {"deeper": "{'***'}"}}
    assert line["parts"] == [1, [MASK]]


def test_registered_secret_is_masked_in_a_logged_exception_traceback() -> None:
    stream, _ = _configured(secrets=[SECRET])
    log = structlog.get_logger("riskguard.exchange")

    try:
        raise PermissionError(f"invalid api key {SECRET} for binance")
    except PermissionError:
        log.exception("fetch_failed", account="main")

    (line,) = _lines(stream)
    assert SECRET not in stream.getvalue()
    assert f"PermissionError: invalid api key {MASK} for binance" in line["exception"]


def test_registered_secret_is_masked_in_a_stdlib_exception_traceback() -> None:
    stream, _ = _configured(secrets=[SECRET])

    try:
        raise RuntimeError(f"signature mismatch for {SECRET}")
    except RuntimeError:
        logging.getLogger("ccxt.base.exchange").exception("request failed")

    assert SECRET not in stream.getvalue()
    assert f"RuntimeError: signature mismatch for {MASK}" in _lines(stream)[0]["exception"]


def test_registered_secret_is_masked_in_the_console_traceback_on_a_terminal() -> None:
    stream, _ = _configured(stream=_Tty(), secrets=[SECRET])

    try:
        raise PermissionError(f"invalid api key {SECRET}")
    except PermissionError:
        structlog.get_logger("riskguard").exception("fetch_failed")

    assert SECRET not in stream.getvalue()
    assert f"invalid api key {MASK}" in stream.getvalue()


def test_secret_registered_after_configuration_is_masked_from_then_on() -> None:
    stream, redactor = _configured()
    log = structlog.get_logger("riskguard")
    log.info("before", value=SECRET)

    redactor.add(SECRET)
    log.info("after", value=SECRET)

    before, after = _lines(stream)
    assert before["value"] == SECRET
    assert after["value"] == MASK


def test_secret_from_an_environment_variable_never_reaches_the_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKGUARD_BINANCE_API_SECRET", SECRET)
    stream, _ = _configured(secrets=secret_env_values(os.environ))

    structlog.get_logger("riskguard").error("auth failed", response=f'{{"msg": "{SECRET}"}}')

    assert SECRET not in stream.getvalue()


def test_secret_in_a_stdlib_record_argument_is_masked() -> None:
    stream, _ = _configured(secrets=[SECRET])

    logging.getLogger("ccxt.base.exchange").warning(
        "%s %s, Request: %s", "GET", "https://fapi.example", {"X-Signed": SECRET}
    )

    assert SECRET not in stream.getvalue()
    assert MASK in _lines(stream)[0]["event"]


def test_secret_in_an_objects_repr_is_masked_and_other_objects_are_untouched() -> None:
    stream, _ = _configured(secrets=[SECRET])

    structlog.get_logger("riskguard").info(
        "loaded", credentials=_Credentials("okx", SECRET), since=datetime(2025, 1, 1)
    )

    (line,) = _lines(stream)
    assert line["credentials"] == f"_Credentials(exchange='okx', secret='{MASK}')"
    assert line["since"] == repr(datetime(2025, 1, 1))


def test_url_encoded_form_of_a_secret_is_masked() -> None:
    redactor = SecretRedactor([OTHER_SECRET + "/+="])

    assert redactor.redact_text("passphrase%3D" + "pass-phrase-42%2F%2B%3D") == "passphrase%3D***"


def test_secret_containing_another_secret_is_masked_whole() -> None:
    redactor = SecretRedactor(["abcd", "abcdefgh"])

    assert redactor.redact_text("x abcdefgh y abcd") == f"x {MASK} y {MASK}"


def test_short_values_are_not_registered_so_figures_stay_readable() -> None:
    redactor = SecretRedactor()

    registered = redactor.add("123")

    assert not registered
    assert len(redactor) == 0
    assert redactor.redact_value({"size": 123, "note": "123 contracts"}) == {
        "size": 123,
        "note": "123 contracts",
    }


def test_numeric_secret_is_masked_in_a_number_field() -> None:
    redactor = SecretRedactor(["987654"])

    assert redactor.redact_value({"pin": 987654, "size": 1.5, "ok": True}) == {
        "pin": MASK,
        "size": 1.5,
        "ok": True,
    }


# ---------------------------------------------------------------------------- secret-looking keys


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "apiKey",
        "APIKEY",
        "secret",
        "client_secret",
        "password",
        "token",
        "webhook_token",
        "passphrase",
        "privateKey",
        "private_key",
        "Authorization",
        "x_api_key",
        "X-MBX-APIKEY",
    ],
)
def test_key_that_looks_secret_has_its_value_masked_whatever_it_is(key: str) -> None:
    redactor = SecretRedactor()

    with capture_logs(processors=[redactor]) as captured:
        structlog.get_logger("riskguard").info("sink", **{key: "not-registered-value"})
        structlog.get_logger("riskguard").info("nested", config={"sink": {key: 12345}})

    assert captured[0][key] == MASK
    assert captured[1]["config"] == {"sink": {key: MASK}}


@pytest.mark.parametrize("key", ["account", "symbol", "distance_pct", "rule", "measured"])
def test_key_that_does_not_look_secret_keeps_its_value(key: str) -> None:
    redactor = SecretRedactor()

    assert not looks_secret(key)
    assert redactor.redact_value({key: "value-1"}) == {key: "value-1"}


def test_secret_looking_pairs_in_free_text_are_masked() -> None:
    redactor = SecretRedactor()

    masked = redactor.redact_text(
        "POST https://x/api, Request: {'X-MBX-APIKEY': 'AbC123', 'Content-Type': 'json'} "
        "Authorization: Bearer eyJhbGci.payload password=hunter22&user=bob"
    )

    assert "AbC123" not in masked
    assert "eyJhbGci" not in masked
    assert "hunter22" not in masked
    assert "'X-MBX-APIKEY': '***'" in masked
    assert "Authorization: Bearer ***" in masked
    assert "'Content-Type': 'json'" in masked
    assert "user=bob" in masked


def test_free_text_mentioning_a_token_without_a_value_is_kept() -> None:
    redactor = SecretRedactor()

    text = "token bucket empty: waiting 2 s"

    assert redactor.redact_text(text) == text


# ---------------------------------------------------------------------------- the default registry


def test_redact_masks_secrets_registered_with_the_default_redactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "DEFAULT_REDACTOR", SecretRedactor())

    register_secret(SECRET)

    assert redact(f"error: bad key {SECRET}") == f"error: bad key {MASK}"


def test_configure_logging_registers_secrets_with_the_default_redactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "DEFAULT_REDACTOR", SecretRedactor())
    stream = io.StringIO()

    configure_logging(stream=stream, secrets=[OTHER_SECRET])
    structlog.get_logger("riskguard").info("loaded", note=OTHER_SECRET)

    assert OTHER_SECRET not in stream.getvalue()
    assert redact(OTHER_SECRET) == MASK


def test_secret_env_values_picks_variables_whose_names_look_secret() -> None:
    environ = {
        "BINANCE_API_KEY": "key-value-1",
        "OKX_PASSPHRASE": "phrase-value",
        "SLACK_WEBHOOK_TOKEN": "",
        "HOME": "/home/guard",
    }

    assert secret_env_values(environ) == ("key-value-1", "phrase-value")


def test_configure_logging_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(redactor=SecretRedactor([SECRET]))

    structlog.get_logger("riskguard").info("to_stderr", value=SECRET)

    err = capsys.readouterr().err
    assert "to_stderr" in err
    assert SECRET not in err


# ---------------------------------------------------------------------------- odd values, failures


class _Leg(NamedTuple):
    symbol: str
    note: str


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError(f"cannot print {SECRET}")


def test_named_tuple_keeps_its_type_and_field_names_when_masked() -> None:
    redactor = SecretRedactor([SECRET])

    masked = redactor.redact_value(_Leg("BTC/USDT:USDT", f"key {SECRET}"))

    assert masked == _Leg("BTC/USDT:USDT", f"key {MASK}")
    assert type(masked) is _Leg


def test_object_whose_repr_fails_is_replaced_by_a_note_without_its_message() -> None:
    stream, _ = _configured(secrets=[SECRET])

    structlog.get_logger("riskguard").info("odd", value=_Unprintable())

    (line,) = _lines(stream)
    assert line["value"] == "<_Unprintable whose repr failed: RuntimeError>"


def test_record_that_cannot_be_formatted_is_reported_without_its_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream, _ = _configured(secrets=[SECRET])

    # The mistake is the point: one argument for two placeholders.
    logging.getLogger("ccxt.base.exchange").warning("headers %s %s", SECRET)  # noqa: PLE1206

    written = stream.getvalue() + capsys.readouterr().err
    assert SECRET not in written
    assert "a WARNING record from ccxt.base.exchange could not be written (TypeError" in written


def test_record_to_a_closed_stream_fails_silently(capsys: pytest.CaptureFixture[str]) -> None:
    stream, _ = _configured()
    stream.close()

    structlog.get_logger("riskguard").info("lost", value=SECRET)

    assert capsys.readouterr().err == ""


def test_a_text_redacted_before_a_secret_was_registered_is_masked_after_it() -> None:
    # Short texts are remembered with their redaction; adding a secret must forget them all.
    redactor = SecretRedactor()
    secret = "s3cr3t-value-0123456789"
    text = f"token {secret}"
    first = redactor.redact_text(f"id {secret}")

    assert redactor.redact_text(f"id {secret}") == first == f"id {secret}"  # not yet a secret
    assert redactor.add(secret)
    assert redactor.redact_text(f"id {secret}") == "id ***"
    assert secret not in redactor.redact_text(text)


def test_remembered_redactions_are_the_fresh_ones() -> None:
    redactor = SecretRedactor(["another-secret-value-42"])
    fresh = SecretRedactor(["another-secret-value-42"])
    texts = [
        "BTC/USDT:USDT",
        "apiKey=abcdef123456",
        "https://user:pass@example.com/x",
        "a note with another-secret-value-42 inside",
        "x" * 200,
    ]

    for _ in range(3):
        for text in texts:
            assert redactor.redact_text(text) == fresh.redact_text(text)
            fresh = SecretRedactor(["another-secret-value-42"])
