"""What closing part of an isolated position moves to the wallet (proportional release)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskguard.domain import MarginMode, Position, Side
from riskguard.risk import closed_part_equity


def _position(side: Side, size: float, entry: float, collateral: float, **kw: object) -> Position:
    return Position(
        symbol="BTC/USDT:USDT",
        side=side,
        size=size,
        entry_price=entry,
        mark_price=entry,
        margin_mode=MarginMode.ISOLATED,
        collateral=collateral,
        **kw,  # type: ignore[arg-type]
    )


def test_long_half_closed_below_entry_returns_its_margin_less_the_loss_and_fee() -> None:
    long = _position(Side.LONG, 2.0, 100_000.0, 20_000.0)
    # 10,000 of margin comes back, less the 5,000 loss on 1 BTC and the 47.50 fee.
    assert closed_part_equity(long, 1.0, 95_000.0, 47.5) == pytest.approx(4_952.5)


def test_short_half_closed_above_entry_returns_its_margin_less_the_loss() -> None:
    short = _position(Side.SHORT, 2.0, 100_000.0, 20_000.0)
    assert closed_part_equity(short, 1.0, 105_000.0, 0.0) == pytest.approx(5_000.0)


def test_a_part_closed_past_its_bankruptcy_price_takes_money_from_the_wallet() -> None:
    long = _position(Side.LONG, 1.0, 100_000.0, 10_000.0)  # bankruptcy at 90,000
    assert closed_part_equity(long, 1.0, 85_000.0, 0.0) == pytest.approx(-5_000.0)


def test_inverse_contract_figures_are_in_the_base_coin() -> None:
    # 100,000 USD long at 50,000 on 0.2 BTC; half closed at 40,000: 0.1 BTC of margin comes
    # back and the closed half lost 50,000 * (1/40,000 - 1/50,000) = 0.25 BTC.
    inverse = _position(Side.LONG, 100_000.0, 50_000.0, 0.2, inverse=True)
    assert closed_part_equity(inverse, 50_000.0, 40_000.0, 0.0) == pytest.approx(-0.15)


def test_collateral_defaults_to_the_initial_margin_of_the_leverage() -> None:
    long = Position(
        symbol="BTC/USDT:USDT",
        side=Side.LONG,
        size=1.0,
        entry_price=100_000.0,
        mark_price=100_000.0,
        leverage=10.0,
    )
    assert closed_part_equity(long, 1.0, 100_000.0, 0.0) == pytest.approx(10_000.0)


@pytest.mark.parametrize(
    ("closed", "average", "field"),
    [
        (0.0, 1.0, "closed"),
        (3.0, 1.0, "closed"),
        (1.0, 0.0, "average"),
        (1.0, float("nan"), "average"),
    ],
)
def test_impossible_inputs_are_refused_naming_the_field(
    closed: float, average: float, field: str
) -> None:
    long = _position(Side.LONG, 2.0, 100_000.0, 20_000.0)
    with pytest.raises(ValueError, match=field):
        closed_part_equity(long, closed, average, 0.0)


sides = st.sampled_from([Side.LONG, Side.SHORT])
prices = st.floats(1.0, 1e6)


@given(
    side=sides,
    size=st.floats(0.001, 1_000.0),
    entry=prices,
    leverage=st.floats(1.0, 125.0),
    fill=prices,
)
def test_closing_everything_returns_the_position_equity_at_the_fill(
    side: Side, size: float, entry: float, leverage: float, fill: float
) -> None:
    collateral = size * entry / leverage
    position = _position(side, size, entry, collateral)
    equity_at_fill = collateral + side.sign * size * (fill - entry)
    got = closed_part_equity(position, size, fill, 0.0)
    assert got == pytest.approx(equity_at_fill, rel=1e-9, abs=1e-6 * size * max(entry, fill))


@given(
    side=sides,
    entry=prices,
    leverage=st.floats(1.0, 125.0),
    fill=prices,
    share=st.floats(0.01, 0.99),
    fee_rate=st.floats(0.0, 0.01),
)
def test_closing_in_two_parts_frees_what_closing_them_together_does(
    side: Side, entry: float, leverage: float, fill: float, share: float, fee_rate: float
) -> None:
    size = 10.0
    position = _position(side, size, entry, size * entry / leverage)
    a, b = size * share, size * (1 - share)
    parts = closed_part_equity(position, a, fill, a * fill * fee_rate) + closed_part_equity(
        position, b, fill, b * fill * fee_rate
    )
    whole = closed_part_equity(position, size, fill, size * fill * fee_rate)
    assert parts == pytest.approx(whole, rel=1e-9, abs=1e-6 * size * max(entry, fill))
