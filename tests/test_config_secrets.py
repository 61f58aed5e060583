"""Credentials written into the config file are refused at validation, by path, with where they
belong instead; configs that only look near a credential still validate."""

from __future__ import annotations

from typing import Any

import pytest

from riskguard.config import problems

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
PLACE = "credentials may not be written in the config file"


def _account(ccxt_config: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": [{"id": "main", "exchange": "binanceusdm", "ccxt_config": ccxt_config}]}


def _sinks(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": [{"id": "main", "exchange": "binanceusdm"}], "alerts": list(alerts)}


def _own(document: dict[str, Any], where: str) -> list[str]:
    """The problem lines about ``where`` (pydantic adds a line about the emptied list)."""
    return [line for line in problems(document) if line.startswith(where)]


def _telegram(api_base: str) -> dict[str, Any]:
    return {"type": "telegram", "token_env": "TG", "chat_id": "-100", "api_base": api_base}


@pytest.mark.parametrize(
    ("ccxt_config", "path"),
    [
        ({"headers": {"Authorization": "Bearer abcdef"}}, "ccxt_config.headers.Authorization"),
        ({"headers": {"X-Auth-Token": "abcdef"}}, "ccxt_config.headers.X-Auth-Token"),
        ({"headers": {"OK-ACCESS-KEY": "abcdef"}}, "ccxt_config.headers.OK-ACCESS-KEY"),
        ({"headers": {"KEY": "abcdef"}}, "ccxt_config.headers.KEY"),
        ({"headers": {"Cookie": "session=abcdef"}}, "ccxt_config.headers.Cookie"),
        ({"api_key": "abcdef"}, "ccxt_config.api_key"),
        ({"API-KEY": "abcdef"}, "ccxt_config.API-KEY"),
        ({"options": {"secret": "abcdef"}}, "ccxt_config.options.secret"),
        ({"options": {"ws": {"passphrase": "abcdef"}}}, "ccxt_config.options.ws.passphrase"),
        ({"options": {"signature": "abcdef"}}, "ccxt_config.options.signature"),
        ({"options": {"privateKey": "0xabcdef"}}, "ccxt_config.options.privateKey"),
        ({"options": {"token": "abcdef"}}, "ccxt_config.options.token"),
        ({"options": {"auth": "abcdef"}}, "ccxt_config.options.auth"),
        ({"uid": "123456"}, "ccxt_config.uid"),
        ({"password": 123456}, "ccxt_config.password"),
        ({"httpsProxy": "http://me:hunter22@proxy:3128"}, "ccxt_config.httpsProxy"),
        ({"urls": {"api": {"rest": "https://u:p@fapi.example"}}}, "ccxt_config.urls.api.rest"),
        ({"urls": {"api": ["https://x.example/v1?apiKey=abc"]}}, "ccxt_config.urls.api[0]"),
        ({"headers": {"X-Custom": "Bearer abcdef"}}, "ccxt_config.headers.X-Custom"),
    ],
)
def test_credential_in_ccxt_config_is_refused_by_its_path(
    ccxt_config: dict[str, Any], path: str
) -> None:
    (line,) = _own(_account(ccxt_config), "accounts[0]")

    assert line.startswith("accounts[0]")
    assert f"{path}: {PLACE}" in line
    assert "abcdef" not in line
    assert "hunter22" not in line
    assert "\n" not in line


def test_credential_in_ccxt_config_names_where_it_goes_instead() -> None:
    (line,) = _own(_account({"headers": {"Authorization": "Bearer abcdef"}}), "accounts[0]")

    assert line.startswith(f"accounts[0].ccxt_config.headers.Authorization: {PLACE}")
    assert "api_key_env" in line
    assert "secrets_file" in line


def test_proxy_login_in_ccxt_config_points_to_the_environment() -> None:
    (line,) = _own(_account({"httpsProxy": "http://me:hunter22@proxy:3128"}), "accounts[0]")

    assert "HTTPS_PROXY" in line
    assert "aiohttp_trust_env" in line


def test_several_credentials_in_ccxt_config_are_all_named_in_one_line() -> None:
    (line,) = _own(_account({"apiKey": "abcdef", "options": {"secret": "abcdef"}}), "accounts[0]")

    assert "ccxt_config.apiKey" in line
    assert "ccxt_config.options.secret" in line


@pytest.mark.parametrize(
    "ccxt_config",
    [
        {"options": {"defaultType": "swap", "adjustForTimeDifference": True}},
        {"options": {"apiKeyIndex": 3, "tokenNetwork": "ERC20", "signIn": False}},
        {"options": {"cacheSecretAsPem": True}},
        {"headers": {"User-Agent": "riskguard", "X-Requested-With": "riskguard"}},
        {"urls": {"api": {"rest": "https://testnet.binancefuture.com/fapi/v1?recvWindow=5000"}}},
        {"httpsProxy": "http://proxy.internal:3128", "aiohttp_trust_env": True},
        {"timeout": 10000, "api_key_env": "NOT_A_SECRET"},
    ],
)
def test_ccxt_config_without_credentials_validates(ccxt_config: dict[str, Any]) -> None:
    assert problems(_account(ccxt_config)) == []


@pytest.mark.parametrize(
    ("api_base", "what"),
    [
        (f"https://api.telegram.org/bot{TOKEN}", "a bot token"),
        (f"http://localhost:8081/bot{TOKEN}/", "a bot token"),
        ("https://me:hunter22@tg.internal", "user info"),
        ("https://tg.internal/?token=abcdef", "query parameter token"),
    ],
)
def test_telegram_api_base_holding_a_credential_is_refused(api_base: str, what: str) -> None:
    (line,) = _own(_sinks(_telegram(api_base)), "alerts[0]")

    assert line.startswith(f"alerts[0].api_base: {PLACE} ({what})")
    assert "token_env" in line
    assert TOKEN not in line
    assert "hunter22" not in line
    assert "abcdef" not in line


@pytest.mark.parametrize(
    "api_base", ["https://api.telegram.org", "http://localhost:8081/", "https://tg.internal/botapi"]
)
def test_telegram_api_base_of_a_server_alone_validates(api_base: str) -> None:
    assert problems(_sinks(_telegram(api_base))) == []


def test_email_host_with_a_login_is_refused_and_points_to_password_env() -> None:
    sink = {
        "type": "email",
        "host": "smtp://guard:hunter22@smtp.example.com",
        "from_address": "guard@example.com",
        "to": ["ops@example.com"],
    }

    (line,) = _own(_sinks(sink), "alerts[0]")

    assert line.startswith(f"alerts[0].host: {PLACE} (user info)")
    assert "password_env" in line
    assert "hunter22" not in line


@pytest.mark.parametrize(
    ("sink", "field", "home"),
    [
        ({"type": "telegram", "chat_id": "-100", "bot_token": TOKEN}, "bot_token", "token_env"),
        ({"type": "discord", "webhook_url": "https://x/y"}, "webhook_url", "url_env"),
        ({"type": "webhook", "url_env": "U", "api_key": "abcdef"}, "api_key", "url_env"),
    ],
)
def test_inline_sink_secret_without_an_env_twin_points_to_the_sinks_real_field(
    sink: dict[str, Any], field: str, home: str
) -> None:
    found = problems(_sinks(sink))

    assert found[0].startswith(f"alerts[0].{field}: ")
    assert home in found[0]
    assert f"{field}_env" not in found[0]
