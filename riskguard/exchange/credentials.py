"""API credentials: read from the environment or a secrets file, never from the config itself.

An account names environment variables (``api_key_env: BINANCE_KEY``) or has an entry in the
secrets file (``secrets_file:`` at the top of the config; a YAML mapping of account id to
``{api_key, secret, password, wallet_address, private_key}``). A named variable that is not set,
or a live account with no credentials at all, is a one-line :class:`ConfigError` naming the
variable, never the value. :class:`Credentials` hides its values from ``repr`` and ``str``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog
import yaml

from riskguard.errors import ConfigError

_LOG = structlog.get_logger("riskguard.credentials")

FIELDS: Mapping[str, str] = {
    "api_key": "apiKey",
    "secret": "secret",
    "password": "password",
    "wallet_address": "walletAddress",
    "private_key": "privateKey",
}
"""Our name of each credential and ccxt's constructor key for it."""


class CredentialSource(Protocol):
    """What this module reads of an account's config (``riskguard.config.AccountConfig``): its
    id and exchange, and the names of the environment variables that hold its credentials."""

    @property
    def id(self) -> str: ...
    @property
    def exchange(self) -> str: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def secret_env(self) -> str | None: ...
    @property
    def password_env(self) -> str | None: ...
    @property
    def wallet_address_env(self) -> str | None: ...
    @property
    def private_key_env(self) -> str | None: ...


@dataclass(frozen=True)
class Credentials:
    """ccxt constructor credentials; the values never appear in ``repr``."""

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{k}=***' for k in sorted(self.values))})"

    __str__ = __repr__

    def ccxt_kwargs(self) -> dict[str, str]:
        """The keys to pass to the ccxt constructor."""
        return dict(self.values)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for the log redactor."""
        return tuple(self.values.values())


def read_secrets_file(path: Path | str) -> dict[str, dict[str, str]]:
    """The secrets file as ``{account id: {field: value}}``; a one-line error when unusable."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        mode = Path(path).stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the secrets file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _LOG.warning("secrets_file_readable_by_others", file=source, fix=f"chmod 600 {source}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{source}: the secrets file is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must map account ids to their credentials")
    result: dict[str, dict[str, str]] = {}
    for account, entry in data.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {account}: must be a mapping of credential fields")
        unknown = sorted(str(k) for k in entry if k not in FIELDS)
        if unknown:
            raise ConfigError(
                f"{source}: {account}.{unknown[0]}: unknown field (allowed: {', '.join(FIELDS)})"
            )
        for key, value in entry.items():
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{source}: {account}.{key}: must be a non-empty string")
        result[str(account)] = dict(entry)
    return result


def load_credentials(
    index: int,
    account: CredentialSource,
    *,
    environ: Mapping[str, str] | None = None,
    secrets_file: Mapping[str, Mapping[str, str]] | None = None,
) -> Credentials:
    """The credentials of ``accounts[index]`` from the environment, then the secrets file."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    named: dict[str, str | None] = {
        "api_key": account.api_key_env,
        "secret": account.secret_env,
        "password": account.password_env,
        "wallet_address": account.wallet_address_env,
        "private_key": account.private_key_env,
    }
    for ours, variable in named.items():
        if variable is None:
            continue
        value = env.get(variable)
        if not value:
            raise ConfigError(
                f"accounts[{index}].{ours}_env: environment variable {variable} is not set"
            )
        values[FIELDS[ours]] = value
    for ours, value in (secrets_file or {}).get(account.id, {}).items():
        values.setdefault(FIELDS[ours], value)
    if not values:
        raise ConfigError(
            f"accounts[{index}]: {account.exchange} account {account.id!r} has no credentials: "
            "name environment variables (api_key_env, secret_env, ...) or add it to secrets_file"
        )
    return Credentials(values)


def as_log_safe(config: Mapping[str, Any]) -> dict[str, Any]:
    """A ccxt constructor mapping with credential values masked (for logs and errors)."""
    masked = set(FIELDS.values())
    return {k: ("***" if k in masked else v) for k, v in config.items()}
