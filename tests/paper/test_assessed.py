"""The venue's risk figures of an account, reused while its book stands, are the fresh ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import MarginMode, Side
from riskguard.risk import assess_account
from tests.paper.test_engine import ACCOUNT, ENTRY, SYMBOL, make_venue, open_position, tick_time

steps = st.lists(
    st.tuples(
        st.sampled_from([-0.02, -0.005, 0.0, 0.0, 0.004, 0.03]),  # the price move of the tick
        st.sampled_from(["hold", "hold", "add", "reduce", "margin"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(steps, st.sampled_from(list(MarginMode)), st.sampled_from(list(Side)))
def test_the_figures_asked_again_are_those_of_the_book_as_it_stands(
    moves: list[tuple[float, str]], mode: MarginMode, side: Side
) -> None:
    prices = [ENTRY]
    for move, _ in moves:
        prices.append(prices[-1] * (1 + move))
    venue = make_venue(prices)
    open_position(venue, mode, side, amount=0.5, leverage=5.0)
    assert venue.assessed(ACCOUNT) == assess_account(venue.snapshot(ACCOUNT), venue.profile)

    for i, (_, what) in enumerate(moves, start=1):
        venue.advance_to(tick_time(i))
        if what == "add" and venue.account(ACCOUNT).positions:
            open_position(venue, mode, side, amount=0.1, leverage=5.0)
        elif what == "reduce" and venue.account(ACCOUNT).positions:
            venue.create_order(
                ACCOUNT,
                SYMBOL,
                "market",
                "sell" if side is Side.LONG else "buy",
                0.1,
                None,
                reduce_only=True,
            )
        elif what == "margin" and mode is MarginMode.ISOLATED and venue.account(ACCOUNT).positions:
            venue.add_margin(ACCOUNT, SYMBOL, 100.0, side)

        for _ in range(2):  # asked twice: the second answer is the remembered one
            assert venue.assessed(ACCOUNT) == assess_account(venue.snapshot(ACCOUNT), venue.profile)
