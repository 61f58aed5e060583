"""Venue order params for protective orders, and the in-memory journal."""

from __future__ import annotations

import pytest

from riskguard.domain import MarginMode
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.enforce.quirks import quirks_for, reduce_params, stop_params


def test_binance_stop_triggers_on_mark_price_and_never_sends_a_stoploss_dict() -> None:
    params = stop_params(quirks_for("binanceusdm"), "rgabc", 90_000.0, MarginMode.CROSS, False)

    assert params["workingType"] == "MARK_PRICE"
    assert params["stopLossPrice"] == 90_000.0
    assert params["reduceOnly"] is True
    assert params["clientOrderId"] == "rgabc"
    assert "stopLoss" not in params


def test_okx_isolated_stop_uses_mark_trigger_and_isolated_margin_mode() -> None:
    params = stop_params(quirks_for("okx"), "rgabc", 1.0, MarginMode.ISOLATED, False)

    assert params["slTriggerPxType"] == "mark"
    assert params["marginMode"] == "isolated"
    assert quirks_for("okx").open_stops_params == {"trigger": True, "ordType": "conditional"}


def test_bybit_stop_triggers_by_mark_price() -> None:
    params = stop_params(quirks_for("bybit"), "rgabc", 1.0, MarginMode.CROSS, False)

    assert params["triggerBy"] == "MarkPrice"


def test_hedged_reduce_order_says_so_and_unknown_venue_gets_the_generic_form() -> None:
    params = reduce_params(quirks_for("kraken"), "rgabc", MarginMode.CROSS, True)

    assert params == {"reduceOnly": True, "clientOrderId": "rgabc", "hedged": True}


def test_memory_journal_keeps_entries_in_order_and_filters() -> None:
    journal = MemoryJournal()

    journal.append("plan", "a", 1, {"steps": 2})
    journal.append("order_intent", "a", 2, {"cid": "rgx"})
    journal.append("plan", "b", 3, {"steps": 0})

    assert [e.seq for e in journal.entries()] == [1, 2, 3]
    assert [e.account for e in journal.entries(kind="plan")] == ["a", "b"]
    assert journal.entries(kind="plan", account="b")[0].payload == {"steps": 0}


def test_a_memory_journal_told_which_kinds_to_keep_counts_the_others_without_keeping_them() -> None:
    journal = MemoryJournal(keep={"order_intent"})

    for t in range(1, 101):
        journal.append("finding", "a", t, {"distance_pct": 4.0})
    intent = journal.append("order_intent", "a", 101, {"cid": "rgx"})

    assert intent.seq == 101
    assert journal.entries() == [intent]
    assert journal.entries(kind="order_intent") == [intent]
    assert (journal.count("finding"), journal.count("order_intent"), journal.count("plan")) == (
        100,
        1,
        0,
    )


def test_a_memory_journal_refuses_to_list_a_kind_it_does_not_keep() -> None:
    journal = MemoryJournal(keep={"order_intent"})
    journal.append("finding", "a", 1, {})

    with pytest.raises(ValueError, match="'finding'"):
        journal.entries(kind="finding")
