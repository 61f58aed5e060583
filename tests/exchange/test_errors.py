"""ccxt errors translated into retry / skip / stop, with texts safe to journal and alert."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from riskguard.errors import ExchangeProblem, RetryLater, SkipCycle, StopAccount
from riskguard.exchange.errors import is_retryable, short_text, translate
from riskguard.observability import logs
from riskguard.observability.logs import SecretRedactor, register_secret

STOP = [
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.AccountNotEnabled,
    ccxt.NotSupported,
]
RETRY = [
    ccxt.OperationFailed,
    ccxt.NetworkError,
    ccxt.RequestTimeout,
    ccxt.RateLimitExceeded,
    ccxt.DDoSProtection,
    ccxt.ExchangeNotAvailable,
    ccxt.OnMaintenance,
    ccxt.InvalidNonce,
    ccxt.BadResponse,
    ccxt.NullResponse,
]
SKIP = [
    ccxt.ExchangeError,
    ccxt.BadRequest,
    ccxt.BadSymbol,
    ccxt.InsufficientFunds,
    ccxt.InvalidOrder,
    ccxt.OrderNotFound,
    ccxt.MarginModeAlreadySet,
    ccxt.OperationRejected,
    ccxt.BaseError,
]


def _name(cls: type) -> str:
    return cls.__name__


@pytest.fixture
def redactor(monkeypatch: pytest.MonkeyPatch) -> SecretRedactor:
    """A fresh default redactor, so secrets registered by one test do not leak into others."""
    fresh = SecretRedactor()
    monkeypatch.setattr(logs, "DEFAULT_REDACTOR", fresh)
    return fresh


# ---------------------------------------------------------------------- translate


@pytest.mark.parametrize("cls", STOP, ids=_name)
def test_translate_credentials_permission_and_unsupported_errors_stop_the_account(
    cls: type[ccxt.BaseError],
) -> None:
    problem = translate(cls("invalid api key"), "fetch_balance")

    assert type(problem) is StopAccount


@pytest.mark.parametrize("cls", RETRY, ids=_name)
def test_translate_transient_errors_retry_later(cls: type[ccxt.BaseError]) -> None:
    problem = translate(cls("temporarily unavailable"), "fetch_positions")

    assert type(problem) is RetryLater


@pytest.mark.parametrize("cls", SKIP, ids=_name)
def test_translate_other_exchange_errors_skip_the_cycle(cls: type[ccxt.BaseError]) -> None:
    problem = translate(cls("bad request"), "create_order")

    assert type(problem) is SkipCycle


def test_translate_message_names_method_error_class_and_first_line() -> None:
    problem = translate(ccxt.InsufficientFunds("margin is insufficient\n{raw json}"), "add_margin")

    assert isinstance(problem, ExchangeProblem)
    assert str(problem) == "add_margin: InsufficientFunds: margin is insufficient"
    assert problem.method == "add_margin"
    assert problem.cause == "InsufficientFunds"


def test_translate_message_never_carries_the_signed_request_url() -> None:
    exc = ccxt.AuthenticationError(
        "binanceusdm GET https://fapi.binance.com/fapi/v3/account?timestamp=1&signature=9f8e7d "
        '{"code":-2015,"msg":"Invalid API-key"}'
    )

    problem = translate(exc, "fetch_balance")

    assert "signature" not in str(problem)
    assert "https://" not in str(problem)
    assert str(problem) == (
        "fetch_balance: AuthenticationError: "
        'binanceusdm <url> {"code":-2015,"msg":"Invalid API-key"}'
    )


# ---------------------------------------------------------------------- short_text


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE"])
def test_short_text_cuts_a_url_with_its_http_verb(verb: str) -> None:
    exc = ccxt.NetworkError(f"okx {verb} https://www.okx.com/api/v5/trade/order?a=1 failed")

    assert short_text(exc) == "okx <url> failed"


def test_short_text_cuts_a_bare_url_and_keeps_the_text_around_it() -> None:
    exc = ccxt.RequestTimeout("bybit http://api.bybit.test/v5/position/list?sign=abc timed out")

    assert short_text(exc) == "bybit <url> timed out"


def test_short_text_keeps_only_the_first_non_blank_line() -> None:
    exc = ccxt.ExchangeError("\n  first line  \nsecond line\nthird line")

    assert short_text(exc) == "first line"


def test_short_text_of_an_exception_without_text_is_empty() -> None:
    assert short_text(ccxt.NetworkError()) == ""


def test_short_text_is_at_most_300_characters() -> None:
    assert short_text(ccxt.ExchangeError("x" * 1000)) == "x" * 300


def test_short_text_masks_a_registered_secret(redactor: SecretRedactor) -> None:
    register_secret("SeCrEt-ApiKey-123456")

    text = short_text(ccxt.AuthenticationError("key SeCrEt-ApiKey-123456 is not valid"))

    assert text == "key *** is not valid"


def test_short_text_masks_a_registered_secret_inside_the_error_message_of_translate(
    redactor: SecretRedactor,
) -> None:
    register_secret("okx-passphrase-777")

    problem = translate(ccxt.PermissionDenied("passphrase okx-passphrase-777 wrong"), "x")

    assert "okx-passphrase-777" not in str(problem)


def test_short_text_leaves_text_alone_when_nothing_is_registered(
    redactor: SecretRedactor,
) -> None:
    assert short_text(ccxt.ExchangeError("position side does not match")) == (
        "position side does not match"
    )


# ---------------------------------------------------------------------- is_retryable


@pytest.mark.parametrize("cls", RETRY, ids=_name)
def test_is_retryable_accepts_every_operation_failed_and_invalid_nonce(
    cls: type[ccxt.BaseError],
) -> None:
    assert is_retryable(cls("x")) is True


@pytest.mark.parametrize("cls", STOP + SKIP, ids=_name)
def test_is_retryable_refuses_exchange_errors(cls: type[ccxt.BaseError]) -> None:
    assert is_retryable(cls("x")) is False


@pytest.mark.parametrize("exc", [ValueError("x"), TimeoutError(), TypeError("ccxt bug")])
def test_is_retryable_refuses_errors_that_are_not_ccxt_errors(exc: BaseException) -> None:
    assert is_retryable(exc) is False
