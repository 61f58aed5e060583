"""The replay's runs on a synthetic crash: the guard, no guard, and a static stop."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from riskguard.domain import MarginMode, Side
from riskguard.replay import OpenSpec, build_scenario, replay
from riskguard.replay.baselines import StaticStopBot, stop_level
from riskguard.replay.result import NEGATIVE_TOLERANCE, ReplayResult
from riskguard.replay.runner import _setup, run_one
from riskguard.replay.scenario import Scenario

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def _scenario(
    csv: Path, *opens: OpenSpec, poll_s: float = 15, venue: str | None = None
) -> Scenario:
    symbols = sorted({o.symbol for o in opens})
    return build_scenario(
        prices=[(s, csv) for s in symbols], opens=list(opens), poll_interval_s=poll_s, venue=venue
    )


@pytest.fixture(scope="module")
def long_20x(tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    from tests.replay.conftest import crash_closes, write_klines

    csv = write_klines(tmp_path_factory.mktemp("crash") / "crash.csv", crash_closes())
    return replay(_scenario(csv, OpenSpec(BTC, "long", 20)))


def test_without_a_guard_the_venue_liquidates_the_20x_long(long_20x: ReplayResult) -> None:
    (position,) = long_20x.runs["none"].positions
    assert position.liquidated
    assert position.min_distance_pct == 0.0
    assert position.actions == ()
    assert long_20x.runs["none"].totals.liquidations == 1


def test_the_guard_keeps_the_20x_long_alive_and_ends_with_more(long_20x: ReplayResult) -> None:
    guard, none = long_20x.runs["guard"], long_20x.runs["none"]
    (position,) = guard.positions
    assert not position.liquidated
    assert position.shortfall == 0
    assert position.min_distance_pct is not None
    assert position.min_distance_pct > 4.0
    assert guard.totals.final_equity > none.totals.final_equity
    kinds = {a.kind for a in position.actions}
    assert "reduce" in kinds or "close" in kinds
    assert all(a.kind != "failed" for a in position.actions)
    saved = long_20x.saved()["none"]
    assert saved["liquidations"] == 1
    assert saved["final_equity"] == pytest.approx(
        guard.totals.final_equity - none.totals.final_equity
    )


def test_the_guard_acts_before_the_unguarded_position_is_liquidated(
    long_20x: ReplayResult,
) -> None:
    (guarded,) = long_20x.runs["guard"].positions
    none_series = long_20x.runs["none"].series
    key = (guarded.account, BTC, "long")
    gone = next(
        t
        for t, size in zip(none_series.times_ms, none_series.positions[key].size, strict=True)
        if size == 0
    )
    first_reduction = min(a.time_ms for a in guarded.actions if a.kind in ("reduce", "close"))
    assert first_reduction < gone


def test_the_static_stop_closes_the_position_before_the_venue_would(
    long_20x: ReplayResult,
) -> None:
    run = long_20x.runs["static-stop"]
    (position,) = run.positions
    assert not position.liquidated
    kinds = [a.kind for a in position.actions]
    assert kinds[0] == "place_stop"
    assert "stop_filled" in kinds
    assert position.final_size == 0


@pytest.mark.parametrize("name", ["guard", "none", "static-stop"])
def test_positions_and_free_balance_add_up_to_the_account(
    long_20x: ReplayResult, name: str
) -> None:
    run = long_20x.runs[name]
    free = run.totals.start_equity - sum(p.initial_margin + p.opening_fee for p in run.positions)
    assert sum(p.final_equity for p in run.positions) + free == pytest.approx(
        run.totals.final_equity, abs=1e-6
    )
    assert run.series.equity["replay"][-1] == pytest.approx(run.totals.final_equity)
    assert run.totals.fees == pytest.approx(sum(p.fees for p in run.positions))


def test_every_run_samples_the_same_path(long_20x: ReplayResult) -> None:
    key = ("replay", BTC, "long")
    guard = long_20x.runs["guard"].series
    none = long_20x.runs["none"].series
    for series in (guard, none):
        assert len(series.times_ms) == len(series.positions[key].mark)
        assert list(series.times_ms) == sorted(series.times_ms)
    # The marks are the venue's, whatever the run did.
    shared = sorted(set(guard.times_ms) & set(none.times_ms))
    assert len(shared) > 100
    g = dict(zip(guard.times_ms, guard.positions[key].mark, strict=True))
    n = dict(zip(none.times_ms, none.positions[key].mark, strict=True))
    assert all(math.isclose(g[t], n[t]) for t in shared)


def test_the_json_has_the_promised_shape(long_20x: ReplayResult) -> None:
    document = long_20x.to_json()
    assert set(document["runs"]) == {"guard", "none", "static-stop"}
    for run in document["runs"].values():
        assert {"liquidations", "shortfall", "final_equity", "fees"} <= set(run["totals"])
        for position in run["positions"]:
            assert {
                "account",
                "symbol",
                "side",
                "liquidated",
                "shortfall",
                "final_equity",
                "min_distance_pct",
                "actions",
            } <= set(position)
    assert set(document["saved"]) == {"none", "static-stop"}
    assert document["inputs"]["poll_interval_s"] == 15


def test_the_json_says_what_went_below_zero_per_position_account_and_run(
    long_20x: ReplayResult,
) -> None:
    document = long_20x.to_json()
    for name, run in document["runs"].items():
        result = long_20x.runs[name]
        assert {"negative_positions", "negative_accounts"} <= set(run["totals"])
        assert run["negative"] is result.negative
        for position in run["positions"]:
            assert {"min_equity", "negative"} <= set(position)
            assert position["negative"] is (position["min_equity"] < 0)
        (account,) = run["accounts"]
        assert set(account) == {
            "account",
            "start_equity",
            "final_equity",
            "min_equity",
            "negative",
        }
        assert account["account"] == "replay"
        assert run["min_equity"] == account["min_equity"]
    for saved in document["saved"].values():
        assert {"final_equity", "shortfall", "liquidations", "fees"} <= set(saved)
        assert {"negative_positions", "negative_accounts"} <= set(saved)


@pytest.mark.parametrize("name", ["guard", "none", "static-stop"])
def test_the_lowest_equity_is_never_above_the_final_and_the_totals_count_what_went_negative(
    long_20x: ReplayResult, name: str
) -> None:
    run = long_20x.runs[name]
    for p in run.positions:
        assert p.min_equity <= p.final_equity
        assert p.negative is (p.min_equity < -NEGATIVE_TOLERANCE)
    (account,) = run.accounts
    assert account.start_equity == run.totals.start_equity == 10_000
    assert account.final_equity == pytest.approx(run.totals.final_equity)
    assert account.min_equity <= account.final_equity
    assert account.min_equity <= min(run.series.equity["replay"]) + 1e-9
    assert run.min_equity == account.min_equity
    assert run.totals.negative_positions == sum(p.negative for p in run.positions)
    assert run.totals.negative_accounts == sum(a.negative for a in run.accounts)


def test_the_guarded_20x_long_and_its_account_never_go_below_zero(long_20x: ReplayResult) -> None:
    guard = long_20x.runs["guard"]
    (position,) = guard.positions
    assert position.min_equity > 0
    assert not position.negative
    assert guard.accounts[0].min_equity > 0
    assert not guard.negative
    assert guard.negative_words() == "no"


def test_a_dip_between_two_polls_is_seen_at_its_ticks(tmp_path: Path) -> None:
    """A cross 10x long with 2,000 of margin in a 10,000 account: a 15% dip for 40 s takes the
    position's own equity below zero (the account holds it) and back before the next poll."""
    from tests.replay.conftest import write_ticks

    prices = [40_000.0] * 13 + [34_000.0] * 4 + [40_000.0] * 44  # the dip: 130 s to 160 s
    csv = write_ticks(tmp_path / "dip.csv", prices)
    scenario = _scenario(csv, OpenSpec(BTC, "long", 10, "cross", notional=20_000), poll_s=60)

    run = asyncio.run(run_one(scenario, "none"))

    (position,) = run.positions
    key = position.key
    # No poll saw it: at every sampled mark the position kept more than half its margin.
    assert min(run.series.positions[key].mark) > 38_000
    assert not position.liquidated
    assert position.final_equity > 0
    assert position.min_equity < 0
    assert position.negative
    (account,) = run.accounts
    assert not account.negative  # the account's free balance carried the position
    assert account.min_equity < min(run.series.equity["replay"])
    assert run.totals.negative_positions == 1
    assert run.totals.negative_accounts == 0
    assert run.negative
    assert run.negative_words().startswith("no (1 position below zero, min -")


def test_a_liquidation_past_bankruptcy_takes_the_unguarded_position_and_account_below_zero(
    gap_csv: Path,
) -> None:
    scenario = _scenario(gap_csv, OpenSpec(BTC, "long", 20))

    run = asyncio.run(run_one(scenario, "none"))

    (position,) = run.positions
    (account,) = run.accounts
    assert position.liquidated
    assert position.shortfall > 0
    # Charged at the fill, before the insurance fund paid the shortfall back.
    assert position.min_equity == pytest.approx(position.final_equity - position.shortfall)
    assert account.min_equity == pytest.approx(account.final_equity - position.shortfall)
    assert position.negative
    assert account.negative == (account.min_equity < 0)
    assert run.totals.negative_positions == 1
    assert run.negative
    assert run.negative_words() in (
        f"yes (min {account.min_equity:,.2f})",
        f"no (1 position below zero, min {position.min_equity:,.2f})",
    )


def test_a_stop_filled_past_bankruptcy_goes_below_zero_without_a_liquidation(
    gap_csv: Path,
) -> None:
    """The case the liquidation and shortfall counters miss: the static stop fires on the gap
    and fills far under the bankruptcy price; nothing is liquidated, the insurance fund pays
    nothing, and the account owes the difference. (Bybit's profile: no market price band.)"""
    scenario = _scenario(gap_csv, OpenSpec(BTC, "long", 20), venue="bybit")

    run = asyncio.run(run_one(scenario, "static-stop"))

    (position,) = run.positions
    (account,) = run.accounts
    assert "stop_filled" in [a.kind for a in position.actions]
    assert run.totals.liquidations == 0
    assert run.totals.shortfall == 0
    assert position.final_equity < 0
    assert position.min_equity <= position.final_equity
    assert position.negative
    assert account.final_equity < 0
    assert account.negative
    assert (run.totals.negative_positions, run.totals.negative_accounts) == (1, 1)
    assert run.negative_words() == f"yes (min {account.min_equity:,.2f})"


def test_on_binance_the_same_stop_expires_beyond_the_price_band_and_the_engine_liquidates(
    gap_csv: Path,
) -> None:
    """Binance's market order price floor: the stop's sell would fill more than 5% under the
    mark, so it expires; the position is left to the liquidation engine, whose loss past
    bankruptcy the insurance fund pays. The account ends above zero."""
    scenario = _scenario(gap_csv, OpenSpec(BTC, "long", 20), venue="binance")

    run = asyncio.run(run_one(scenario, "static-stop"))

    (position,) = run.positions
    (account,) = run.accounts
    assert "stop_filled" not in [a.kind for a in position.actions]
    assert run.totals.liquidations == 1
    assert run.totals.shortfall > 0
    assert account.final_equity >= 0


def test_a_short_survives_a_squeeze_with_the_guard_and_not_without(squeeze_csv: Path) -> None:
    result = replay(_scenario(squeeze_csv, OpenSpec(BTC, "short", 10)), runs=["guard", "none"])
    assert result.runs["none"].positions[0].liquidated
    assert not result.runs["guard"].positions[0].liquidated
    assert result.runs["guard"].totals.final_equity > result.runs["none"].totals.final_equity
    assert "static-stop" not in result.saved()


def test_a_cross_account_with_two_markets_is_guarded_as_one(crash_csv: Path) -> None:
    scenario = _scenario(
        crash_csv, OpenSpec(BTC, "long", 10, "cross"), OpenSpec(ETH, "long", 10, "cross")
    )
    none = asyncio.run(run_one(scenario, "none"))
    guard = asyncio.run(run_one(scenario, "guard"))
    assert [p.liquidated for p in none.positions] == [True, True]  # cross: together
    assert [p.margin_mode for p in guard.positions] == ["cross", "cross"]
    assert not any(p.liquidated for p in guard.positions)
    # Half the balance shared out, as filled: rounded to the step, at the ask.
    assert all(p.initial_margin == pytest.approx(2_500, rel=0.01) for p in guard.positions)


def test_unknown_runs_are_refused(crash_csv: Path) -> None:
    with pytest.raises(ValueError, match="unknown run 'trailing'"):
        asyncio.run(run_one(_scenario(crash_csv, OpenSpec(BTC, "long", 3)), "trailing"))


@pytest.mark.parametrize(
    ("entry", "liquidation", "side", "expected"),
    [
        (100.0, 90.0, Side.LONG, 90.5),  # 5% of the 10 back toward the entry
        (100.0, 110.0, Side.SHORT, 109.5),
        (40_000.0, 38_123.45, Side.LONG, 38_217.3),  # rounded up to the 0.1 tick
        (40_000.0, 41_876.55, Side.SHORT, 41_782.7),  # rounded down
    ],
)
def test_the_static_stop_sits_5pct_of_the_way_from_liquidation_to_entry(
    entry: float, liquidation: float, side: Side, expected: float
) -> None:
    tick = 0.5 if entry == 100.0 else 0.1
    assert stop_level(entry, liquidation, tick, side) == pytest.approx(expected)


def _bot(csv: Path) -> StaticStopBot:
    setup = _setup(_scenario(csv, OpenSpec(BTC, "long", 20)))
    return StaticStopBot(setup.venue, ("replay",))


def test_the_bot_moves_its_stop_when_the_size_changes_and_exits_when_past_it(
    crash_csv: Path,
) -> None:
    bot = _bot(crash_csv)
    venue = bot.venue
    bot.refresh()
    bot.refresh()  # nothing changed: nothing done
    assert [a.kind for a in bot.actions[("replay", BTC, "long")]] == ["place_stop"]
    (stop,) = [o for o in venue.account("replay").orders.values() if o.status == "open"]
    assert stop.reduce_only
    assert stop.trigger_price is not None
    position = venue.account("replay").positions[(BTC, Side.LONG)]
    assert position.margin_mode is MarginMode.ISOLATED
    venue.create_order("replay", BTC, "market", "sell", position.size / 2, None, reduce_only=True)
    bot.refresh()
    kinds = [a.kind for a in bot.actions[("replay", BTC, "long")]]
    assert kinds == ["place_stop", "move_stop"]
    assert stop.status == "canceled"
    # Walk the clock into the crash without refreshing: the stop fires on the venue.
    venue.advance_to(venue.now_ms + 119 * 60_000)
    assert (BTC, Side.LONG) not in venue.account("replay").positions
    bot.refresh()  # the position is gone: the bot forgets it
    assert bot.actions[("replay", BTC, "long")][-1].kind == "move_stop"


def test_the_bot_exits_at_market_when_the_mark_is_already_past_its_level(tmp_path: Path) -> None:
    from riskguard.risk import assess_account
    from tests.replay.conftest import T0

    flat = tmp_path / "flat.csv"
    flat.write_text(f"{T0},40000\n{T0 + 60_000},40000\n", encoding="utf-8")
    probe = _bot(flat).venue
    (figures,) = assess_account(probe.snapshot("replay"), probe.profile).positions
    assert figures.liquidation_price is not None
    level = stop_level(40_000, figures.liquidation_price, 0.1, Side.LONG)
    between = (level + figures.liquidation_price) / 2  # past the stop, short of liquidation
    path = tmp_path / "dip.csv"
    rows = [40_000.0, between, between, between]
    path.write_text(
        "".join(f"{T0 + i * 60_000},{p:.2f}\n" for i, p in enumerate(rows)), encoding="utf-8"
    )
    bot = _bot(path)
    bot.venue.advance_to(T0 + 3 * 60_000)
    assert bot.venue.liquidations == []

    bot.refresh()

    (action,) = bot.actions[("replay", BTC, "long")]
    assert action.kind == "close"
    assert "past the stop level" in action.detail
    assert bot.venue.account("replay").positions == {}


def test_a_replay_is_silent_whatever_the_logging_set_up_and_restores_it(
    crash_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import logging

    import structlog

    from riskguard.observability.logs import configure_logging

    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    try:
        before = structlog.get_config()
        replay(_scenario(crash_csv, OpenSpec(BTC, "long", 20)), runs=["guard"])
        assert structlog.get_config() == before
        assert stream.getvalue() == ""
        structlog.get_logger("after").info("still_logging")
        assert "still_logging" in stream.getvalue()
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved_config)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", ["none", "static-stop"])
def test_the_cost_of_protection_sums_what_the_guard_gave_up_where_the_baseline_ended_better(
    long_20x: ReplayResult, name: str
) -> None:
    guard, other = long_20x.runs["guard"], long_20x.runs[name]
    better = [
        b.final_equity - g.final_equity
        for g in guard.positions
        if (b := other.position(g.key)) is not None and b.final_equity > g.final_equity
    ]

    cost = long_20x.cost()[name]

    assert cost["positions"] == len(better)
    assert cost["gave_up"] == pytest.approx(sum(better))
    assert cost["gave_up"] >= 0
    assert long_20x.to_json()["cost"][name] == cost
