"""The paper venue's tick listeners, and the equity watch the replay keeps with them."""

from __future__ import annotations

from pathlib import Path

from riskguard.domain import Side
from riskguard.paper.engine import PaperVenue
from riskguard.replay import OpenSpec, build_scenario
from riskguard.replay.equity_watch import EquityWatch
from riskguard.replay.runner import _initial_margins, _opened_sides, _setup
from tests.replay.conftest import T0, TICK_MS

BTC = "BTC/USDT:USDT"


def _venue(csv: Path) -> PaperVenue:
    """A fresh venue holding the replay's 20x isolated long, at the first price."""
    scenario = build_scenario(prices=[(BTC, csv)], opens=[OpenSpec(BTC, "long", 20)])
    return _setup(scenario).venue


def test_a_tick_listener_is_called_once_per_tick_in_time_order_after_the_tick_played(
    gap_csv: Path,
) -> None:
    venue = _venue(gap_csv)
    seen: list[tuple[str, int, int, bool]] = []

    def listener(symbol: str, t_ms: int) -> None:
        held = (BTC, Side.LONG) in venue.account("replay").positions
        seen.append((symbol, t_ms, len(venue.liquidations), held))

    venue.add_tick_listener(listener)
    venue.advance_to(T0 + 40 * TICK_MS)

    times = [t for _, t, _, _ in seen]
    assert times == [T0 + i * TICK_MS for i in range(1, 41)]
    assert {symbol for symbol, _, _, _ in seen} == {BTC}
    # The gap is the 31st point: its own call already sees the liquidation it caused.
    gap = T0 + 30 * TICK_MS
    before = [s for s in seen if s[1] < gap]
    at = next(s for s in seen if s[1] == gap)
    assert all(n == 0 and held for _, _, n, held in before)
    assert at[2:] == (1, False)
    assert venue.liquidations[0].time_ms == gap


def test_the_watch_charges_a_liquidation_shortfall_at_its_tick(gap_csv: Path) -> None:
    venue = _venue(gap_csv)
    key = ("replay", BTC, "long")
    watch = EquityWatch(venue, _opened_sides(venue), _initial_margins(venue)).attach()
    start = watch.position_min[key]

    venue.advance_to(T0 + 29 * TICK_MS)  # flat: the position only paid its opening fee
    assert watch.position_min[key] == start
    venue.advance_to(T0 + 31 * TICK_MS)

    (record,) = venue.liquidations
    assert record.shortfall > 0
    after = watch.position_equity(key)  # the shortfall the fund paid is back in it
    assert watch.position_min[key] == after - record.shortfall
    assert watch.account_min["replay"] < 0
