"""What a credential looks like: key names, URLs and header lines that carry one.

Pure functions over names, strings and decoded YAML (no riskguard imports), shared by the two
places that must agree on the shapes: config validation refuses a credential written into the
config file (:func:`find_credentials`), and the log redactor masks one that reaches a log line
(:func:`mask_shapes`, :func:`is_credential_key`).

The shapes:

- a **key** whose words (``apiKey``, ``api_key``, ``X-MBX-APIKEY``, ``OK-ACCESS-SIGN`` split on
  case changes, ``-``, ``_`` and spaces) end in ``apikey``, ``secret``, ``password``,
  ``passphrase``, ``privatekey``, ``token``, ``authorization``, ``signature``, ``cookie``,
  ``accesskey``, ``twofa`` (or their plural), or whose last word is ``auth`` or
  ``sign``. A name ending in ``_env`` names an environment variable and is not a credential;
- a **header** (a key inside a ``headers`` mapping, or a quoted name in ccxt's request dump) is
  also a credential when a word of it is ``key`` (Gate's ``KEY``, OKX's ``OK-ACCESS-KEY``);
- a **URL with user info**: ``https://user:pass@host`` (a proxy's login, basic auth);
- a **Telegram bot token** in a path: ``/bot123456:AA...`` (the Bot API puts it there);
- a **URL query parameter** whose name is a credential key (``?apiKey=...``, ``&signature=``);
- an **Authorization-style value**: ``Bearer ...``, ``Basic ...``, ``Token ...``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

MASK: Final = "***"
"""What a secret is replaced with."""

CREDENTIAL_PARTS: Final = (
    "apikey",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "privatekey",
    "token",
    "authorization",
    "signature",
    "cookie",
    "accesskey",
    "twofa",
)
"""A key whose words, joined in lower case, contain one of these holds a credential."""

CREDENTIAL_WORDS: Final = frozenset({"auth", "sign"})
"""A key with one of these as a whole word holds a credential (``X-Auth``, ``X-BAPI-SIGN``)."""

HEADER_WORDS: Final = frozenset({"key"})
"""Also a credential as a whole word of a header name (Gate's ``KEY``, ``OK-ACCESS-KEY``)."""

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ENV_SUFFIX = re.compile(r"[_-]env$", re.IGNORECASE)

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s@'\"<>]+)@")
_BOT_TOKEN = re.compile(r"(?P<prefix>/bot)(?P<token>\d+:[A-Za-z0-9_-]+)", re.IGNORECASE)
_AUTH_VALUE = re.compile(r"^\s*(?:Bearer|Basic|Token|Digest)\s+\S", re.IGNORECASE)
_HINT = r"(?:key|secret|pass|token|auth|sign|cookie|twofa)"
"""Part of every credential key name: quoted names without one are passed over quickly."""
_QUOTED_HEADER = re.compile(
    rf"(?P<name>[\"'](?P<header>[A-Za-z0-9_-]*{_HINT}[A-Za-z0-9_-]*)[\"']\s*:\s*[\"'])"
    r"(?P<value>[^\"']*)",
    re.IGNORECASE,
)


def key_words(name: str) -> list[str]:
    """The lower-case words of a key name: ``X-MBX-APIKEY`` -> ``['x', 'mbx', 'apikey']``."""
    return [word.lower() for word in _WORD.findall(name)]


@functools.lru_cache(maxsize=4096)
def is_credential_key(name: str, *, header: bool = False, anywhere: bool = False) -> bool:
    """Whether a field (or, with ``header``, an HTTP header) called ``name`` holds a credential.

    The credential must be what the name ends with (``apiKey``, ``client_secret``,
    ``X-Auth-Token``, ``apiKeys``), so ccxt options *about* a credential (``apiKeyIndex``,
    ``tokenNetwork``, ``authDeadlineExpiry``) are not refused. ``anywhere`` accepts it anywhere
    in the name (the log redactor's choice: masking one value too many costs nothing).
    """
    if _ENV_SUFFIX.search(name):
        return False  # ``api_key_env`` names a variable; its value is not the secret
    words = key_words(name)
    if not words:
        return False
    joined = "".join(words)
    wanted = CREDENTIAL_WORDS | HEADER_WORDS if header else CREDENTIAL_WORDS
    if anywhere:
        return any(part in joined for part in CREDENTIAL_PARTS) or any(
            word in wanted for word in words
        )
    singular = joined.removesuffix("s")
    last = words[-1].removesuffix("s") if len(words[-1]) > 1 else words[-1]
    return last in wanted or any(
        joined.endswith(part) or singular.endswith(part) for part in CREDENTIAL_PARTS
    )


def url_credential(text: str) -> str | None:
    """What in ``text`` (a URL) is a credential: ``"user info"``, ``"a bot token"``,
    ``"query parameter apiKey"``; None when it carries none."""
    if _USERINFO.search(text):
        return "user info"
    if _BOT_TOKEN.search(text):
        return "a bot token"
    if "://" in text:
        try:
            query = urlsplit(text.strip()).query
        except ValueError:
            return None
        for name, _ in parse_qsl(query, keep_blank_values=True):
            if is_credential_key(name):
                return f"query parameter {name}"
    return None


def value_credential(text: str) -> str | None:
    """What in a configured string is a credential (see :func:`url_credential`), or an
    ``Authorization``-style ``Bearer ...`` value; None when it carries none."""
    if _AUTH_VALUE.match(text):
        return "an authorization value"
    return url_credential(text)


def find_credentials(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, what)`` for every credential in decoded YAML ``value`` found at ``path``.

    Keys are checked by name (inside a mapping called ``headers``, as header names), strings by
    shape; mappings and lists are walked. Paths read ``ccxt_config.headers.Authorization`` and
    ``ccxt_config.urls.api[0]``.
    """
    yield from _walk(value, path, header=False)


def _walk(value: Any, path: str, *, header: bool) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            where = f"{path}.{name}" if path else name
            if is_credential_key(name, header=header) and not isinstance(item, bool):
                yield where, "a credential"  # a flag (``useSecret: true``) holds none
                continue
            yield from _walk(item, where, header=name.lower() == "headers")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", header=False)
    elif isinstance(value, str):
        what = value_credential(value)
        if what is not None:
            yield path, what


def mask_shapes(text: str) -> str:
    """``text`` with URL user info, bot tokens and credential-shaped quoted header values masked.

    ``https://u:p@host`` -> ``https://***@host``; ``/bot123:AbC/sendMessage`` ->
    ``/bot***/sendMessage``; ``'OK-ACCESS-KEY': 'abc'`` -> ``'OK-ACCESS-KEY': '***'`` (the
    ``repr`` of a headers dict, as ccxt's request dump prints it).
    """
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _BOT_TOKEN.sub(lambda m: f"{m['prefix']}{MASK}", text)
    return _QUOTED_HEADER.sub(_mask_quoted_header, text)


def _mask_quoted_header(match: re.Match[str]) -> str:
    name = match["header"]
    if not match["value"] or not is_credential_key(name, header=True):
        return match.group(0)
    return f"{match['name']}{MASK}"


__all__ = [
    "CREDENTIAL_PARTS",
    "CREDENTIAL_WORDS",
    "HEADER_WORDS",
    "MASK",
    "find_credentials",
    "is_credential_key",
    "key_words",
    "mask_shapes",
    "url_credential",
    "value_credential",
]
