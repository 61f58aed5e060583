"""Shared helpers for validated input: a strict frozen base model and one-line problem messages.

Every problem is reported by its path in the document, e.g.
``paper.markets[0].taker_fee_pct: Input should be less than 10``.
"""

from __future__ import annotations

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


def problem_lines(exc: ValidationError, prefix: str = "") -> list[str]:
    """One ``path: message`` line per problem, paths prefixed with ``prefix`` (e.g. ``paper``)."""
    lines = []
    for error in exc.errors():
        loc = tuple(
            p
            for p in error["loc"]
            if not (isinstance(p, str) and (p.startswith("function") or p.startswith("tagged")))
        )
        where = _path(((prefix,) if prefix else ()) + loc)
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def one_line(exc: ValidationError, prefix: str = "") -> str:
    """The first problem, and how many more there are, in one line."""
    lines = problem_lines(exc, prefix)
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more
