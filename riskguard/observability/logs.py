"""Structured logging for the daemon, with secrets redacted from every line it writes.

One handler on the root logger renders everything, structlog events and the stdlib records of
ccxt, aiohttp and apscheduler alike, through :class:`structlog.stdlib.ProcessorFormatter`:

    structlog event ─┐
                     ├─ level, logger, ISO UTC time ─ format_exc_info ─ SecretRedactor ─ render
    stdlib record ───┘   (message merged with args)     (to text)       (always last)

Rendering is JSON lines when the stream is not a terminal (or ``json=True``) and structlog's
``ConsoleRenderer`` on a terminal. Exceptions are turned into text *before* redaction, so a key
that appears in an exception message is masked too; the price is that the console shows plain
tracebacks rather than rich ones.

What is masked, with ``***``:

- every value registered with :meth:`SecretRedactor.add` (at least 4 characters, so that ``"1"``
  is never a secret), wherever it appears: strings, dict keys and values, lists, tuples, sets,
  the text of exceptions and the ``repr`` of any other object; its URL-encoded form too;
- the value of every key that looks secret (``api_key``, ``apiKey``, ``secret``, ``password``,
  ``token``, ``passphrase``, ``privateKey``, ``authorization``, ``signature``, ``cookie``, a word
  ``sign`` or ``auth``, case-insensitive and as part of a longer name such as ``x_api_key``,
  ``webhook_token`` or ``OK-ACCESS-SIGN``; inside a ``headers`` mapping also ``KEY``), whatever
  the value (the shapes are :mod:`riskguard.observability.secret_shapes`, which config
  validation refuses by too);
- inside free text, ``name: value`` and ``name=value`` pairs whose name looks secret, and the
  values of credential-shaped quoted header names (ccxt's verbose request lines print the headers
  dict: ``'X-MBX-APIKEY': '...'``, ``'OK-ACCESS-SIGN': '...'``, Gate's ``'KEY': '...'``);
- the user info of a URL (``https://user:pass@host`` -> ``https://***@host``) and a Telegram
  bot token in a path (``/bot123:AbC/sendMessage`` -> ``/bot***/sendMessage``), as httpx's
  ``HTTP Request: POST <url>`` lines and ccxt's request dumps print them.

The shapes are a second line of defence; registering the values is the guarantee.

The daemon registers the secrets it loads (from the environment, a secrets file) into the module's
default redactor with :func:`register_secret`; :func:`redact` masks the same values in text the
CLI prints outside the log.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from riskguard.observability.secret_shapes import CREDENTIAL_PARTS, is_credential_key, mask_shapes

MASK = "***"
"""What a secret is replaced with."""

MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: masking every "1" would hide the figures, not a key."""

SECRET_KEY_PARTS = CREDENTIAL_PARTS
"""Key names containing one of these (lower case, without ``_`` and ``-``) are masked."""

_KEY_NAMES = (
    r"(?:api[_-]?key|secret|password|passphrase|token|private[_-]?key|authorization"
    r"|signature|cookie|access[_-]?key|(?<![a-z])(?:sign|auth)\b)"
)
_SECRET_PAIR = re.compile(
    rf"(?P<name>{_KEY_NAMES}[\w-]*[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<scheme>(?:Bearer|Basic|Token)\s+)?"
    r"(?P<value>[^\s\"',&;}\]]+)",
    re.IGNORECASE,
)

_LEVELS = {"debug", "info", "warning", "error", "critical"}

_MEMO_TEXT_CHARS = 64
"""Texts up to this long are remembered with their redaction (a key, a symbol, a figure)."""
_MEMO_TEXTS = 4096
"""How many texts are remembered at most (the memo starts afresh when full)."""


def looks_secret(key: str, *, header: bool = False) -> bool:
    """Whether a field called ``key`` holds a secret (``apiKey``, ``x_api_key``, ``token``,
    ``OK-ACCESS-SIGN``, ``Cookie``...; with ``header``, also ``KEY``); never ``api_key_env``, the
    name of an environment variable. The shapes are :mod:`.secret_shapes`'."""
    return is_credential_key(key, header=header, anywhere=True)


def secret_env_values(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of environment variables whose names look secret (``BINANCE_API_KEY``...).

    Pass ``os.environ`` to register every such value at start-up, before anything is logged.
    """
    return tuple(value for name, value in environ.items() if looks_secret(name) and value)


class SecretRedactor:
    """A structlog processor that masks registered secret values and secret-looking keys.

    Secrets may be added at any time, from any thread (the daemon loads some after start-up);
    the processor always sees a complete set.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        # The registered secrets' pattern with the texts already redacted by it, swapped as one
        # when a secret is added, so no text is ever answered from a memo of a smaller set.
        self._state: tuple[re.Pattern[str] | None, dict[str, str]] = (None, {})
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> bool:
        """Register ``secret``; returns False (and registers nothing) when it is too short."""
        if len(secret) < MIN_SECRET_LENGTH:
            return False
        forms = {secret, quote(secret, safe="")}
        with self._lock:
            secrets = self._secrets | forms
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(secrets, key=len, reverse=True)
            self._state = (re.compile("|".join(re.escape(s) for s in ordered)), {})
            self._secrets = secrets
        return True

    def __len__(self) -> int:
        return len(self._secrets)

    def redact_text(self, text: str) -> str:
        """``text`` with registered secrets and secret-looking ``name: value`` pairs masked.

        Short texts (keys, symbols, names: most of an event) are remembered with their answer
        until a secret is added; the regular expressions run once per distinct text.
        """
        pattern, memo = self._state
        known = memo.get(text)
        if known is not None:
            return known
        masked = text if pattern is None else pattern.sub(MASK, text)
        masked = _SECRET_PAIR.sub(_mask_pair, mask_shapes(masked))
        if len(text) <= _MEMO_TEXT_CHARS:
            if len(memo) >= _MEMO_TEXTS:
                memo.clear()
            memo[text] = masked
        return masked

    def redact_value(self, value: Any, *, headers: bool = False) -> Any:
        """``value`` with secrets masked, recursing through dicts, lists, tuples and sets.

        The keys of a mapping found under a key called ``headers`` are judged as HTTP header
        names (Gate's ``KEY`` is a credential there). Other objects are kept as they are unless
        their ``repr`` (what the renderers print) carries a secret; then the masked ``repr``
        replaces them.
        """
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            return {
                self.redact_value(k): MASK
                if isinstance(k, str) and looks_secret(k, header=headers)
                else self.redact_value(v, headers=isinstance(k, str) and k.lower() == "headers")
                for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            items = [self.redact_value(v) for v in value]
            if isinstance(value, list):
                return items
            if isinstance(value, tuple) and hasattr(value, "_make"):
                return value._make(items)  # a named tuple keeps its field names
            return type(value)(items)
        try:
            text = repr(value)
        except Exception as exc:  # the renderer would fail on it the same way
            return f"<{type(value).__name__} whose repr failed: {type(exc).__name__}>"
        masked = self.redact_text(text)
        return value if masked == text else masked

    def __call__(
        self,
        logger: WrappedLogger,  # noqa: ARG002 - structlog's processor signature
        method_name: str,  # noqa: ARG002
        event_dict: EventDict,
    ) -> EventDict:
        redacted: EventDict = self.redact_value(event_dict)
        return redacted


def _mask_pair(match: re.Match[str]) -> str:
    if _ENV_NAME.search(match["name"]):
        return match.group(0)  # ``api_key_env: BINANCE_KEY`` names a variable, not a secret
    return f"{match['name']}{match['scheme'] or ''}{MASK}"


_ENV_NAME = re.compile(r"[_-]env[\"']?\s*[:=]", re.IGNORECASE)


DEFAULT_REDACTOR = SecretRedactor()
"""The registry :func:`configure_logging`, :func:`register_secret` and :func:`redact` share."""


def register_secret(secret: str) -> bool:
    """Register ``secret`` with the default redactor (False when too short to be registered)."""
    return DEFAULT_REDACTOR.add(secret)


def redact(text: str) -> str:
    """``text`` with the default redactor's secrets masked: for messages printed outside the log."""
    return DEFAULT_REDACTOR.redact_text(text)


class _RedactingHandler(logging.StreamHandler[TextIO]):
    """A stream handler whose formatting failures do not print the raw record.

    The stdlib's ``handleError`` prints the record's message and arguments, unredacted (for a
    structlog event, the whole event dict); this one writes the exception, redacted, instead.
    """

    def __init__(self, stream: TextIO, redactor: SecretRedactor) -> None:
        super().__init__(stream)
        self.redactor = redactor

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - stdlib's name
        exc = sys.exc_info()[1]
        problem = self.redactor.redact_text(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):  # nowhere left to report to
            self.stream.write(
                f"riskguard: a {record.levelname} record from {record.name} "
                f"could not be written ({problem})\n"
            )
            self.flush()


def configure_logging(
    *,
    json: bool | None = None,
    level: str = "info",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
    redactor: SecretRedactor | None = None,
) -> None:
    """Send structlog events and stdlib records to ``stream`` (stderr), rendered and redacted.

    ``json`` None chooses JSON lines unless ``stream`` is a terminal. ``secrets`` are registered
    with ``redactor`` (the module's default unless given) before anything is written. The root
    logger's handlers are replaced, so calling this again reconfigures rather than duplicates.
    """
    name = level.lower()
    if name not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(sorted(_LEVELS))}, got {level!r}")
    out = sys.stderr if stream is None else stream
    redactor = DEFAULT_REDACTOR if redactor is None else redactor
    for secret in secrets:
        redactor.add(secret)
    if json is None:
        json = not out.isatty()
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=True)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,  # last before rendering: sees the exception text too
            renderer,
        ],
    )
    handler = _RedactingHandler(out, redactor)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a reconfiguration (tests, a reload) reaches module-level loggers too.
        cache_logger_on_first_use=False,
    )


__all__ = [
    "DEFAULT_REDACTOR",
    "MASK",
    "MIN_SECRET_LENGTH",
    "SecretRedactor",
    "configure_logging",
    "looks_secret",
    "redact",
    "register_secret",
    "secret_env_values",
]
