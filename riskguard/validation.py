"""Shared helpers for validated input: a strict frozen base model and one-line problem messages.

Every problem is reported by its path in the document, e.g.
``paper.markets[0].taker_fee_pct: Input should be less than 10``.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """Frozen, no unknown keys: a typo in a config is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


_FIELD_PATH = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def problem_lines(
    exc: ValidationError, prefix: str = "", union_tags: Collection[str] = ()
) -> list[str]:
    """One ``path: message`` line per problem, paths prefixed with ``prefix`` (e.g. ``paper``).

    ``union_tags`` are discriminator values pydantic puts in the path of a tagged union (the rule
    ``type``s); they are left out. A cross-field message that starts with a field path
    (``act.distance_pct: must be ...``) is joined onto the path of the model that raised it.
    """
    lines = []
    for error in exc.errors():
        loc = tuple(
            p
            for p in error["loc"]
            if not (
                isinstance(p, str) and (p.startswith(("function", "tagged")) or p in union_tags)
            )
        )
        where = _path(((prefix,) if prefix else ()) + loc)
        message = error["msg"].removeprefix("Value error, ")
        nested = _FIELD_PATH.match(message)
        if nested and where:
            where = f"{where}.{nested.group(1)}"
            message = nested.group(2)
        lines.append(f"{where}: {message}" if where else message)
    return lines


def one_line(exc: ValidationError, prefix: str = "") -> str:
    """The first problem, and how many more there are, in one line."""
    lines = problem_lines(exc, prefix)
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more
