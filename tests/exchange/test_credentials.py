"""Credentials from named environment variables and a secrets file, never shown, never in errors."""

# Fake credentials and variable names are what these tests are about:

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from riskguard.config import AccountConfig
from riskguard.errors import ConfigError
from riskguard.exchange.credentials import (
    FIELDS,
    Credentials,
    as_log_safe,
    load_credentials,
    read_secrets_file,
)

KEY = "bn-key-3f9a1c7e5d"
SECRET = "bn-secret-8b2e6d4f0a"
FILE_KEY = "file-key-11aa22bb33"
FILE_SECRET = "file-secret-44cc55dd66"
PASSPHRASE = "okx-pass-77ee88ff99"


def account(**fields: Any) -> AccountConfig:
    return AccountConfig(id=fields.pop("id", "main"), exchange="binanceusdm", **fields)


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# ---------------------------------------------------------------------- load_credentials


def test_load_credentials_reads_the_named_environment_variables_as_ccxt_keys() -> None:
    config = account(api_key_env="BINANCE_KEY", secret_env="BINANCE_SECRET")
    environ = {"BINANCE_KEY": KEY, "BINANCE_SECRET": SECRET, "OTHER": "x"}

    credentials = load_credentials(0, config, environ=environ)

    assert credentials.ccxt_kwargs() == {"apiKey": KEY, "secret": SECRET}


def test_load_credentials_maps_every_field_to_its_ccxt_constructor_key() -> None:
    config = AccountConfig(
        id="hl",
        exchange="hyperliquid",
        api_key_env="K",
        secret_env="S",
        password_env="P",
        wallet_address_env="W",
        private_key_env="PK",
    )
    environ = {"K": "k-value", "S": "s-value", "P": "p-value", "W": "0xabc", "PK": "pk-value"}

    credentials = load_credentials(0, config, environ=environ)

    assert credentials.ccxt_kwargs() == {
        "apiKey": "k-value",
        "secret": "s-value",
        "password": "p-value",
        "walletAddress": "0xabc",
        "privateKey": "pk-value",
    }


def test_load_credentials_reads_os_environ_when_no_environment_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RG_TEST_KEY", KEY)

    credentials = load_credentials(0, account(api_key_env="RG_TEST_KEY"))

    assert credentials.ccxt_kwargs() == {"apiKey": KEY}


@pytest.mark.parametrize(
    "environ", [{"BINANCE_KEY": KEY}, {"BINANCE_KEY": KEY, "BINANCE_SECRET": ""}]
)
def test_load_credentials_with_an_unset_variable_is_a_one_line_error_naming_it(
    environ: dict[str, str],
) -> None:
    config = account(api_key_env="BINANCE_KEY", secret_env="BINANCE_SECRET")

    with pytest.raises(ConfigError) as raised:
        load_credentials(3, config, environ=environ)

    message = str(raised.value)
    assert message == "accounts[3].secret_env: environment variable BINANCE_SECRET is not set"
    assert KEY not in message
    assert raised.value.__cause__ is None


def test_load_credentials_without_any_source_is_an_error_naming_the_account() -> None:
    with pytest.raises(ConfigError) as raised:
        load_credentials(1, account(id="desk-2"), environ={}, secrets_file={})

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("accounts[1]: binanceusdm account 'desk-2' has no credentials")
    assert "api_key_env" in message
    assert "secrets_file" in message


def test_load_credentials_takes_the_account_entry_of_the_secrets_file() -> None:
    file = {
        "main": {"api_key": FILE_KEY, "secret": FILE_SECRET},
        "other": {"api_key": "someone-else"},
    }

    credentials = load_credentials(0, account(), environ={}, secrets_file=file)

    assert credentials.ccxt_kwargs() == {"apiKey": FILE_KEY, "secret": FILE_SECRET}


def test_load_credentials_prefers_the_environment_over_the_secrets_file() -> None:
    file = {"main": {"api_key": FILE_KEY, "secret": FILE_SECRET, "password": PASSPHRASE}}

    credentials = load_credentials(
        0, account(api_key_env="BINANCE_KEY"), environ={"BINANCE_KEY": KEY}, secrets_file=file
    )

    assert credentials.ccxt_kwargs() == {
        "apiKey": KEY,
        "secret": FILE_SECRET,
        "password": PASSPHRASE,
    }


def test_load_credentials_with_a_file_entry_for_other_accounts_only_is_an_error() -> None:
    with pytest.raises(ConfigError, match="has no credentials"):
        load_credentials(0, account(), environ={}, secrets_file={"other": {"api_key": FILE_KEY}})


# ---------------------------------------------------------------------- Credentials


def test_credentials_repr_and_str_name_the_fields_and_hide_the_values() -> None:
    credentials = Credentials({"secret": SECRET, "apiKey": KEY})

    assert repr(credentials) == "Credentials(apiKey=***, secret=***)"
    assert str(credentials) == "Credentials(apiKey=***, secret=***)"
    assert KEY not in repr(credentials) + str(credentials)
    assert SECRET not in repr(credentials) + str(credentials)


def test_credentials_inside_a_container_repr_stay_hidden() -> None:
    shown = repr({"main": Credentials({"apiKey": KEY})})

    assert KEY not in shown


def test_credentials_secrets_are_every_value_for_the_redactor() -> None:
    credentials = Credentials({"apiKey": KEY, "secret": SECRET})

    assert sorted(credentials.secrets()) == sorted([KEY, SECRET])


def test_credentials_ccxt_kwargs_is_a_copy() -> None:
    credentials = Credentials({"apiKey": KEY})

    credentials.ccxt_kwargs()["apiKey"] = "changed"

    assert credentials.ccxt_kwargs() == {"apiKey": KEY}


def test_as_log_safe_masks_credential_values_and_keeps_the_rest() -> None:
    config = {"apiKey": KEY, "secret": SECRET, "options": {"defaultType": "swap"}, "timeout": 10}

    assert as_log_safe(config) == {
        "apiKey": "***",
        "secret": "***",
        "options": {"defaultType": "swap"},
        "timeout": 10,
    }


# ---------------------------------------------------------------------- read_secrets_file


def test_read_secrets_file_returns_credentials_per_account_without_warning(
    tmp_path: Path,
) -> None:
    path = secrets_file(
        tmp_path,
        f"main:\n  api_key: {FILE_KEY}\n  secret: {FILE_SECRET}\n"
        f"okx-desk:\n  api_key: k-okx-1234\n  secret: s-okx-1234\n  password: {PASSPHRASE}\n",
    )

    with capture_logs() as logs:
        data = read_secrets_file(path)

    assert data == {
        "main": {"api_key": FILE_KEY, "secret": FILE_SECRET},
        "okx-desk": {"api_key": "k-okx-1234", "secret": "s-okx-1234", "password": PASSPHRASE},
    }
    assert logs == []


def test_read_secrets_file_accepts_a_string_path(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, f"main: {{api_key: {FILE_KEY}}}\n")

    assert read_secrets_file(str(path)) == {"main": {"api_key": FILE_KEY}}


def test_read_secrets_file_feeds_load_credentials(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, f"main:\n  api_key: {FILE_KEY}\n  secret: {FILE_SECRET}\n")

    credentials = load_credentials(0, account(), environ={}, secrets_file=read_secrets_file(path))

    assert credentials.ccxt_kwargs() == {"apiKey": FILE_KEY, "secret": FILE_SECRET}


@pytest.mark.parametrize(
    "text", ["", "# no accounts yet\n", "~\n"], ids=["empty", "comment", "null"]
)
def test_read_secrets_file_without_entries_is_empty(tmp_path: Path, text: str) -> None:
    assert read_secrets_file(secrets_file(tmp_path, text)) == {}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644], ids=oct)
def test_read_secrets_file_readable_by_others_warns_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, f"main: {{api_key: {FILE_KEY}}}\n", mode)

    with capture_logs() as logs:
        data = read_secrets_file(path)

    assert data == {"main": {"api_key": FILE_KEY}}  # still used: a warning, not an error
    assert logs == [
        {
            "event": "secrets_file_readable_by_others",
            "log_level": "warning",
            "file": str(path),
            "fix": f"chmod 600 {path}",
        }
    ]
    assert FILE_KEY not in repr(logs)


def test_read_secrets_file_that_does_not_exist_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    assert str(raised.value) == (f"{path}: cannot read the secrets file: No such file or directory")
    assert raised.value.__cause__ is None


def test_read_secrets_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the secrets file"):
        read_secrets_file(tmp_path)


def test_read_secrets_file_that_is_not_yaml_is_an_error_without_its_content(
    tmp_path: Path,
) -> None:
    path = secrets_file(tmp_path, f"main:\n  api_key: [{FILE_KEY}\n  secret: {FILE_SECRET}\n")

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    assert str(raised.value) == f"{path}: the secrets file is not valid YAML"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ is True  # YAML's error quotes the file: dropped


@pytest.mark.parametrize("text", [f"- {FILE_KEY}\n", "just text\n", "42\n"])
def test_read_secrets_file_that_is_not_a_mapping_is_an_error(tmp_path: Path, text: str) -> None:
    path = secrets_file(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    assert str(raised.value) == f"{path}: must map account ids to their credentials"


@pytest.mark.parametrize("entry", ["main: just-a-key\n", "main:\n", "main: [a, b]\n"])
def test_read_secrets_file_with_an_entry_that_is_not_a_mapping_names_the_account(
    tmp_path: Path, entry: str
) -> None:
    path = secrets_file(tmp_path, entry)

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    assert str(raised.value) == f"{path}: main: must be a mapping of credential fields"


def test_read_secrets_file_with_an_unknown_field_names_it_and_the_allowed_ones(
    tmp_path: Path,
) -> None:
    path = secrets_file(tmp_path, f"main:\n  apiKey: {FILE_KEY}\n  secret: {FILE_SECRET}\n")

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    message = str(raised.value)
    assert message == (f"{path}: main.apiKey: unknown field (allowed: {', '.join(FIELDS)})")
    assert FILE_KEY not in message


@pytest.mark.parametrize(
    ("value", "shown"), [("''", None), ("~", None), ("12345678", "12345678"), ("[a]", None)]
)
def test_read_secrets_file_with_an_empty_or_non_string_value_names_the_field_only(
    tmp_path: Path, value: str, shown: str | None
) -> None:
    path = secrets_file(tmp_path, f"main:\n  api_key: {FILE_KEY}\n  secret: {value}\n")

    with pytest.raises(ConfigError) as raised:
        read_secrets_file(path)

    message = str(raised.value)
    assert message == f"{path}: main.secret: must be a non-empty string"
    assert FILE_KEY not in message
    if shown is not None:
        assert shown not in message
