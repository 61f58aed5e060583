"""Which rules a cycle runs: those whose scope covers the account or a symbol it holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskguard.clock import VirtualClock
from riskguard.config import GuardConfig
from riskguard.guard.cycle import Guard
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.liquidation_distance import LiquidationDistanceConfig
from riskguard.guard.rules.margin_ratio import MarginRatioConfig
from riskguard.guard.rules.registry import build_rules
from riskguard.guard.rules.stop_loss import StopLossConfig
from riskguard.testing import position, snapshot

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


def _guard() -> Guard:
    configs = [
        LiquidationDistanceConfig.model_validate(
            {"type": "liquidation_distance", "scope": {"symbols": ["BTC/*"]}}
        ),
        StopLossConfig.model_validate(
            {"type": "stop_loss", "scope": {"accounts": ["a"], "symbols": ["ETH/*", "SOL/*"]}}
        ),
        MarginRatioConfig.model_validate({"type": "margin_ratio", "scope": {"accounts": ["b"]}}),
    ]
    return Guard(
        GuardConfig(),
        build_rules(configs),
        journal=MemoryJournal(),
        clock=VirtualClock(0),
        alert=lambda level, message, payload: None,
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.lists(st.sampled_from(SYMBOLS), max_size=3, unique=True),
        ),
        max_size=10,
    )
)
def test_the_rules_remembered_for_an_account_are_those_its_book_calls_for(
    cycles: list[tuple[str, list[str]]],
) -> None:
    guard = _guard()

    for account, symbols in cycles:
        book = snapshot(*(position(symbol=s) for s in symbols), account=account)
        fresh = tuple(
            rule
            for rule in guard.rules
            if rule.applies_to(account, None) or any(rule.applies_to(account, s) for s in symbols)
        )

        assert tuple(guard._rules_for(account, book)) == fresh
