"""When the paper venue's calls answer at once, and the times its answers carry."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from riskguard.clock import iso8601
from riskguard.paper.exchange import _iso8601
from riskguard.testing import paper_section, paper_setup


def test_a_client_without_faults_on_a_virtual_clock_answers_at_once() -> None:
    assert paper_setup().client("main").answers_at_once


def test_a_client_with_faults_does_not_answer_at_once() -> None:
    section = paper_section()
    section["faults"] = {"seed": 1, "methods": {"fetch_balance": {"latency_ms": {"ms": 80}}}}

    setup = paper_setup(section)

    assert not setup.client("main").answers_at_once
    assert setup.client("main", with_faults=False).answers_at_once


def test_a_client_on_a_paced_clock_does_not_answer_at_once() -> None:
    setup = paper_setup(paper_section(clock={"mode": "paced", "speed": 600}))

    assert not setup.client("main").answers_at_once


@given(st.integers(min_value=0, max_value=7_258_118_400_000))
def test_answer_times_read_as_the_clock_writes_them(ms: int) -> None:
    assert _iso8601(ms) == iso8601(ms)


def test_balance_and_positions_carry_the_venue_s_time() -> None:
    setup = paper_setup()
    client = setup.client("main")

    async def answers() -> tuple[dict[str, object], list[dict[str, object]]]:
        return await client.fetch_balance(), await client.fetch_positions()

    balance, positions = asyncio.run(answers())

    now = setup.venue.now_ms
    assert balance["datetime"] == iso8601(now)
    assert [p["datetime"] for p in positions] == [iso8601(now)]
