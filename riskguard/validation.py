"""Shared helpers for validated input: a strict frozen base model, one-line problem messages, and
the input models of shared domain values (a margin tier, read by ``calc`` and the paper config).

Every problem is reported by its path in the document, e.g.
``paper.markets[0].taker_fee_pct: Input should be less than 10``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from riskguard.domain import Tier, TierUnit

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)]


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


class TierIn(StrictModel):
    """A maintenance-margin bracket: bounds in notional (quote) or in size (base units)."""

    min_notional: NonNegative | None = Field(None, description="inclusive lower notional bound")
    max_notional: Positive | None = Field(None, description="exclusive upper bound; null: none")
    min_size: NonNegative | None = Field(None, description="inclusive lower size bound (base)")
    max_size: Positive | None = Field(None, description="exclusive upper size bound (base)")
    maintenance_margin_rate: Rate = Field(description="maintenance margin rate, 0.005 = 0.5%")
    maintenance_amount: float = Field(0.0, allow_inf_nan=False, description="cum / deduction")
    max_leverage: Positive | None = Field(None, description="the bracket's maximum leverage")

    @model_validator(mode="after")
    def _one_kind_of_bound(self) -> Self:
        by_notional = self.min_notional is not None or self.max_notional is not None
        by_size = self.min_size is not None or self.max_size is not None
        if by_notional and by_size:
            raise ValueError("give notional bounds or size bounds, not both")
        if not by_notional and not by_size:
            raise ValueError("needs min_notional (or min_size for size tiers)")
        low = self.min_notional if by_notional else self.min_size
        high = self.max_notional if by_notional else self.max_size
        if low is None:
            raise ValueError("min_notional/min_size is required")
        if high is not None and high <= low:
            raise ValueError("the upper bound must be above the lower bound")
        return self

    def to_tier(self) -> Tier:
        by_size = self.min_size is not None
        low = self.min_size if by_size else self.min_notional
        high = self.max_size if by_size else self.max_notional
        return Tier(
            min_bound=float(low or 0.0),
            max_bound=float("inf") if high is None else high,
            maintenance_margin_rate=self.maintenance_margin_rate,
            maintenance_amount=self.maintenance_amount,
            max_leverage=self.max_leverage,
            unit=TierUnit.SIZE if by_size else TierUnit.NOTIONAL,
        )
