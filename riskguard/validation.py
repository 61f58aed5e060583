"""Shared helpers for validated input: reading JSON and YAML documents safely, a strict frozen
base model with bounded numbers, one-line problem messages, the input models of shared domain
values (a margin tier, read by ``calc`` and the paper config), and JSON output that is never
``Infinity`` or ``NaN``.

Every problem is reported by its path in the document, e.g.
``paper.markets[0].taker_fee_pct: Input should be less than 10``.

Bounds every input obeys (README, "Inputs and their bounds"):

- documents nest at most :data:`MAX_DEPTH` levels and expand (YAML aliases counted each time they
  are used) to at most :data:`MAX_NODES` values; a YAML mapping never gives a key twice;
- every number is finite, and at most :data:`MAX_MAGNITUDE` (10^15) in size: amounts, sizes,
  prices and balances beyond that are typos, and products of two such figures stay far from
  overflow; a positive figure (price, size, leverage...) is at least :data:`MIN_POSITIVE`;
- fields with a natural scale say their own, tighter bound (``poll_interval_s <= 86,400``,
  ``daily_volatility_pct <= 1,000``...).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Annotated, Any, Final, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from riskguard.domain import Tier, TierUnit
from riskguard.errors import ConfigError, InputError

MAX_DEPTH: Final = 64
"""Deepest nesting of lists and mappings in a JSON or YAML input (real ones nest under 10)."""
MAX_NODES: Final = 200_000
"""Most values a YAML document may expand to, each alias counted every time it is used."""
MAX_MAGNITUDE: Final = 1e15
"""Largest number (in absolute value) any input field accepts."""
MIN_POSITIVE: Final = 1e-12
"""Smallest non-zero figure a price, size, rate or leverage may be."""


def _not_tiny(value: float) -> float:
    if value != 0 and abs(value) < MIN_POSITIVE:
        raise ValueError(f"{value!r} is below {MIN_POSITIVE:g}, the smallest figure accepted")
    return value


def at_least(low: float) -> AfterValidator:
    """A lower bound checked after ``gt=0`` (so a negative still reads "greater than 0")."""

    def check(value: float) -> float:
        if value < low:
            raise ValueError(f"must be at least {low:g}, got {value:g}")
        return value

    return AfterValidator(check)


Amount = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
"""Any finite signed amount (a balance, a maintenance amount) up to 10^15 in size."""
Positive = Annotated[
    float, Field(gt=0, le=MAX_MAGNITUDE, allow_inf_nan=False), AfterValidator(_not_tiny)
]
NonNegative = Annotated[
    float, Field(ge=0, le=MAX_MAGNITUDE, allow_inf_nan=False), AfterValidator(_not_tiny)
]
Rate = Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False), AfterValidator(_not_tiny)]
Leverage = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False), AfterValidator(_not_tiny)]
"""A leverage or maximum leverage: no venue offers more than 1,000x."""


def _too_large(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return abs(value) > MAX_MAGNITUDE
    if isinstance(value, tuple | list):
        return any(_too_large(v) for v in value)
    return False


class StrictModel(BaseModel):
    """Frozen, no unknown keys: a typo in a config is an error, not a silent default.

    Every float is finite, and no number (float or int, also inside tuples) is larger than
    :data:`MAX_MAGNITUDE`: the backstop for fields that name no tighter bound.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _bounded_numbers(self) -> Self:
        for name in type(self).model_fields:
            if _too_large(getattr(self, name)):
                raise ValueError(f"{name}: must be at most {MAX_MAGNITUDE:g} in absolute value")
        return self


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def key_text(key: object) -> str:
    """A mapping key as a path part: plain keys as they are, others quoted (never a newline)."""
    text = str(key)
    return text if _PLAIN_KEY.match(text) else repr(text)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + key_text(part)
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
    maintenance_amount: Amount = Field(0.0, description="cum / deduction")
    max_leverage: Leverage | None = Field(None, description="the bracket's maximum leverage")

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


# ---------------------------------------------------------------- reading documents

_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON ``text`` nests lists and objects deeper than ``limit`` (strings skipped)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def load_json(text: str, label: str) -> Any:
    """Decode a JSON input, or raise one-line :class:`InputError` starting with ``label``."""
    if json_too_deep(text):
        raise InputError(f"{label}: not accepted: nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, ...
        raise InputError(f"{label}: not valid JSON: {exc}") from None


class _TooDeepError(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that refuses nesting deeper than :data:`MAX_DEPTH` while composing."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeepError
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _key_text(node: yaml.Node) -> str:
    return key_text(node.value) if isinstance(node, yaml.ScalarNode) else "?"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys (by path), too deep nesting and too large expansions.

    Raises ``ValueError`` with a ``path: problem`` message. Aliases share their node, so sizes
    are memoised by node and a bomb of nested aliases is measured without being expanded.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, path: str, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ValueError(f"{path or 'document'}: nested deeper than {MAX_DEPTH} levels")
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                total += size(child, f"{path}[{i}]", depth + 1)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                key = (key_node.tag, _key_text(key_node))
                where = _join(path, key[1])
                line = key_node.start_mark.line + 1
                if key_node.tag != "tag:yaml.org,2002:merge" and key in seen:
                    raise ValueError(f"{where}: key given twice (lines {seen[key]} and {line})")
                seen[key] = line
                total += size(key_node, where, depth + 1) + size(value_node, where, depth + 1)
        if total > MAX_NODES:
            raise ValueError(f"{path or 'document'}: too large (over {MAX_NODES:,} values)")
        sizes[id(node)] = total
        return total

    size(root, "", 1)


def load_yaml(text: str, source: str) -> Any:
    """Decode a YAML input, or raise one-line :class:`ConfigError` starting with ``source``.

    Safe tags only; duplicate keys, nesting deeper than :data:`MAX_DEPTH` and documents that
    expand past :data:`MAX_NODES` values are refused by their path.
    """
    loader = _BoundedLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except _TooDeepError:
            line = loader.get_mark().line + 1
            raise ConfigError(
                f"{source}: not accepted: nested deeper than {MAX_DEPTH} levels (line {line})"
            ) from None
        if node is None:
            return None
        try:
            _check_nodes(node)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return loader.construct_document(node)
    except InputError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(
            f"{source}: not valid YAML{where}" + (f": {problem}" if problem else "")
        ) from None
    except (ValueError, OverflowError, TypeError) as exc:  # a date like 2024-13-45, ...
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def read_text(path: Any, label: str, error: type[InputError] = InputError) -> str:
    """A UTF-8 text file, or one-line ``error`` naming ``label`` (unreadable, not UTF-8)."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{label}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{label}: not UTF-8 text (byte {exc.start})") from None


# ---------------------------------------------------------------- writing JSON


def _first_non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path or "document"
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_non_finite(item, _join(path, key_text(key)))
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _first_non_finite(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def finite_json(document: Any, indent: int | None = 2) -> str:
    """``document`` as strict JSON (never ``Infinity`` or ``NaN``).

    A non-finite figure raises :class:`InputError` naming its path in the output: the input was
    outside what the math can represent, and printing ``Infinity`` would be a silent wrong value.
    """
    try:
        return json.dumps(document, indent=indent, allow_nan=False)
    except ValueError:
        where = _first_non_finite(document, "")
        raise InputError(
            f"result {where}: not finite; an input is too large or too small to compute with"
        ) from None
