"""The JSON codec: strict JSON, non-finite numbers, escapes, and what is not JSON-ready."""

from __future__ import annotations

import enum
import json
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.daemon.journal import SqliteJournal, decode_json, encode_json
from tests.daemon.journal.helpers import T0


def test_non_finite_numbers_round_trip_and_are_stored_as_strict_json(
    journal: SqliteJournal,
) -> None:
    payload = {"figures": {"distance_pct": math.inf, "short": -math.inf, "sigma": math.nan}}

    journal.append("finding", "main", T0, payload)

    (entry,) = journal.entries()
    figures = entry.payload["figures"]
    assert figures["distance_pct"] == math.inf
    assert figures["short"] == -math.inf
    assert math.isnan(figures["sigma"])
    stored = journal._read(
        lambda conn: conn.execute(
            "SELECT json_extract(payload, '$.figures.distance_pct'), payload FROM entries"
        ).fetchone()
    )
    assert stored[0] == "inf"
    json.loads(stored[1], parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "'inf", "''nan", "'", "Inf", "", "x'inf"])
def test_strings_that_look_like_number_tokens_round_trip(text: str) -> None:
    assert decode_json(encode_json({"s": text, "l": [text]})) == {"s": text, "l": [text]}


def test_genuine_string_inf_is_stored_with_one_escape_quote() -> None:
    assert encode_json({"reason": "inf"}) == '{"reason":"\'inf"}'


class _Colour(str, enum.Enum):  # noqa: UP042 - the mixin str() gives the name
    RED = "red"


class _Rank(enum.IntEnum):
    ONE = 1


def test_str_and_int_enums_are_stored_as_their_values() -> None:
    assert decode_json(encode_json({"c": _Colour.RED, "r": _Rank.ONE})) == {"c": "red", "r": 1}


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"figures": {"when": object()}}, "plan payload.figures.when: object"),
        ({"ids": {1, 2}}, "plan payload.ids: set"),
        ({"by_side": {(1, 2): 3}}, "plan payload.by_side: key (1, 2) is not a string"),
    ],
)
def test_payload_that_is_not_json_ready_is_refused_before_writing(
    journal: SqliteJournal, payload: dict[str, Any], where: str
) -> None:
    with pytest.raises(TypeError, match=rf"^{re.escape(where)}"):
        journal.append("plan", "main", T0, payload)

    assert journal.count() == 0
    assert journal.last_seq() == 0


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["inf", "-inf", "nan", "'inf", "''-inf", "'nan'"])
)


_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(_values)
def test_every_json_ready_value_round_trips_through_the_codec(value: Any) -> None:
    text = encode_json(value)

    assert _same(decode_json(text), value)
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))
