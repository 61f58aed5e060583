"""Client order ids: short, alphanumeric, deterministic, and recognisably the guard's.

An id is the prefix plus a base-36 digest of what the order is for (account, symbol, side, kind,
the plan it belongs to, its part number). Sending the same planned order twice gives the same id,
so a venue that refuses duplicate ids turns a resend after a timeout into a harmless rejection,
and the guard finds its own orders after a restart by the prefix. Venues limit ids (OKX clOrdId:
32 alphanumeric characters, Bybit orderLinkId: 36), so ids here are at most 20 characters.
"""

from __future__ import annotations

import hashlib
import re

MAX_PREFIX = 4
DIGEST_CHARS = 16
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def validate_prefix(prefix: str) -> str:
    """A prefix must be 1 to 4 ASCII letters or digits."""
    if not (1 <= len(prefix) <= MAX_PREFIX and _ALNUM.match(prefix) and prefix.isascii()):
        raise ValueError(f"client id prefix must be 1-{MAX_PREFIX} letters or digits: {prefix!r}")
    return prefix


def client_order_id(prefix: str, *parts: object) -> str:
    """The deterministic id for an order described by ``parts``."""
    validate_prefix(prefix)
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    number = int.from_bytes(digest[:12], "big")
    chars = []
    for _ in range(DIGEST_CHARS):
        number, rest = divmod(number, 36)
        chars.append(_DIGITS[rest])
    return prefix + "".join(chars)


def is_guard_client_id(client_id: str | None, prefix: str) -> bool:
    """Whether ``client_id`` was made by :func:`client_order_id` with ``prefix``."""
    if not client_id or not client_id.startswith(prefix):
        return False
    rest = client_id[len(prefix) :]
    return len(rest) == DIGEST_CHARS and all(c in _DIGITS for c in rest)
