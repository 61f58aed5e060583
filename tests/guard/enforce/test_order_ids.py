"""Client order ids: deterministic, short, alphanumeric, recognisable by prefix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.guard.enforce.order_ids import client_order_id, is_guard_client_id, validate_prefix


def test_same_parts_give_the_same_id_and_other_parts_another() -> None:
    first = client_order_id("rg", "main", "BTC/USDT:USDT", "long", "reduce", "plan7", 0)
    again = client_order_id("rg", "main", "BTC/USDT:USDT", "long", "reduce", "plan7", 0)
    other = client_order_id("rg", "main", "BTC/USDT:USDT", "long", "reduce", "plan7", 1)

    assert first == again
    assert first != other


@given(st.lists(st.text(), max_size=6), st.sampled_from(["rg", "G", "ab12"]))
def test_ids_fit_every_venue_and_are_recognised_by_their_prefix(
    parts: list[str], prefix: str
) -> None:
    cid = client_order_id(prefix, *parts)

    assert len(cid) <= 20  # OKX allows 32, Bybit 36
    assert cid.isalnum()
    assert cid.isascii()
    assert is_guard_client_id(cid, prefix)


@pytest.mark.parametrize(
    "client_id", [None, "", "bot123", "rgSHORT", "rg" + "A" * 16, "xx" + "a" * 16]
)
def test_other_ids_are_not_taken_for_the_guards(client_id: str | None) -> None:
    assert not is_guard_client_id(client_id, "rg")


@pytest.mark.parametrize("prefix", ["", "toolong", "r-g", "rä"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        validate_prefix(prefix)
