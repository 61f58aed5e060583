"""``secret_shapes``: which names, URLs and header lines carry a credential, found and masked."""

from __future__ import annotations

import pytest

from riskguard.observability.secret_shapes import (
    MASK,
    find_credentials,
    is_credential_key,
    key_words,
    mask_shapes,
    url_credential,
    value_credential,
)

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_key_words_split_on_case_changes_dashes_and_underscores() -> None:
    assert key_words("X-MBX-APIKEY") == ["x", "mbx", "apikey"]
    assert key_words("APIKey") == ["api", "key"]
    assert key_words("privateKey") == ["private", "key"]
    assert key_words("x_api_key") == ["x", "api", "key"]


@pytest.mark.parametrize(
    "name",
    [
        "apiKey",
        "api_key",
        "API-KEY",
        "APIKEY",
        "X-MBX-APIKEY",
        "secret",
        "client_secret",
        "password",
        "passphrase",
        "OK-ACCESS-PASSPHRASE",
        "privateKey",
        "token",
        "X-Auth-Token",
        "auth",
        "Authorization",
        "Proxy-Authorization",
        "signature",
        "OK-ACCESS-SIGN",
        "Cookie",
        "Set-Cookie",
        "apiKeys",
        "twofa",
    ],
)
def test_credential_names_in_any_spelling_are_credential_keys(name: str) -> None:
    assert is_credential_key(name)
    assert is_credential_key(name, header=True)
    assert is_credential_key(name, anywhere=True)


@pytest.mark.parametrize(
    "name",
    [
        "defaultType",
        "apiKeyIndex",
        "tokenNetwork",
        "authDeadlineExpiry",
        "cacheSecretAsPem",
        "signIn",
        "User-Agent",
        "Content-Type",
        "api_key_env",
        "SECRET-ENV",
        "design",
        "monkey",
    ],
)
def test_names_about_a_credential_or_near_one_are_not_credential_keys(name: str) -> None:
    assert not is_credential_key(name)


def test_a_bare_key_word_is_a_credential_only_as_a_header_name() -> None:
    assert is_credential_key("KEY", header=True)
    assert is_credential_key("KC-API-KEY", header=True)
    assert not is_credential_key("KEY")
    assert not is_credential_key("Key-Type-Hint")


def test_anywhere_finds_the_credential_inside_a_longer_name() -> None:
    assert is_credential_key("apiKeyIndex", anywhere=True)
    assert is_credential_key("secret_ref", anywhere=True)
    assert not is_credential_key("apiKeyIndex")
    assert not is_credential_key("api_key_env", anywhere=True)


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("https://user:pass@host.example/x", "user info"),
        ("socks5://user@proxy:1080", "user info"),
        (f"https://api.telegram.org/bot{TOKEN}/sendMessage", "a bot token"),
        ("https://x.example/api?timestamp=1&signature=ab12", "query parameter signature"),
        ("https://x.example/api?apiKey=ab12", "query parameter apiKey"),
    ],
)
def test_url_credential_names_what_the_url_carries(url: str, what: str) -> None:
    assert url_credential(url) == what


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telegram.org",
        "https://tg.internal/botapi/",
        "https://x.example/api?recvWindow=5000&symbol=BTCUSDT",
        "guard@example.com",
        "not a url at all",
    ],
)
def test_url_without_a_credential_is_clean(url: str) -> None:
    assert url_credential(url) is None


def test_an_authorization_value_is_a_credential_whatever_its_key() -> None:
    assert value_credential("Bearer eyJhbGciOi") == "an authorization value"
    assert value_credential("basic dXNlcjpwYXNz") == "an authorization value"
    assert value_credential("Bearer") is None
    assert value_credential("swap") is None


def test_find_credentials_walks_mappings_and_lists_and_names_each_path() -> None:
    config = {
        "timeout": 10000,
        "headers": {"KEY": "k", "User-Agent": "ua", "Cookie": "c"},
        "options": {"defaultType": "swap", "ws": {"secret": "s"}, "flag": True},
        "urls": {"api": ["https://ok.example", "https://u:p@bad.example"]},
        "apiKeyIndex": 2,
    }

    found = list(find_credentials(config, "ccxt_config"))

    assert found == [
        ("ccxt_config.headers.KEY", "a credential"),
        ("ccxt_config.headers.Cookie", "a credential"),
        ("ccxt_config.options.ws.secret", "a credential"),
        ("ccxt_config.urls.api[1]", "user info"),
    ]


def test_find_credentials_does_not_take_a_flag_for_a_credential() -> None:
    assert list(find_credentials({"options": {"useSecret": True}}, "c")) == []
    assert list(find_credentials({"password": 123456}, "c")) == [("c.password", "a credential")]


def test_mask_shapes_masks_user_info_bot_tokens_and_credential_header_values() -> None:
    text = (
        "fetch Request: binanceusdm GET https://me:hunter22@fapi.example/v1 RequestHeaders: "
        "{'KEY': 'gate-key-1', 'OK-ACCESS-SIGN': 'c2lnbmF0', 'Cookie': 'sid=abc', "
        "'Content-Type': 'application/json', 'User-Agent': 'ua/1'} "
        f'HTTP Request: POST https://api.telegram.org/bot{TOKEN}/sendMessage "HTTP/1.1 200 OK"'
    )

    masked = mask_shapes(text)

    for secret in ("hunter22", "me:", "gate-key-1", "c2lnbmF0", "sid=abc", TOKEN):
        assert secret not in masked
    assert f"https://{MASK}@fapi.example/v1" in masked
    assert f"/bot{MASK}/sendMessage" in masked
    assert f"'KEY': '{MASK}'" in masked
    assert "'Content-Type': 'application/json'" in masked
    assert "'User-Agent': 'ua/1'" in masked


def test_mask_shapes_leaves_text_without_credentials_alone() -> None:
    text = "order sent: {'symbol': 'BTC/USDT:USDT', 'side': 'sell'} to ops@example.com"

    assert mask_shapes(text) == text
