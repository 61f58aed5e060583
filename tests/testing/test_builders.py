"""What ``riskguard.testing`` promises: valid values from the real constructors, known defaults.

Numbers: the default position is 1 BTC long at 100,000 at 10x, so its isolated collateral is
10,000; with a flat 0.5% maintenance rate on Binance it liquidates at
``(100,000 - 10,000) / 0.995 = 90,452.26``. The paper preset's account holds a 20,000 long at
10x on a 10,000 balance: 0.2 BTC at the first price.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskguard import testing
from riskguard.clock import VirtualClock
from riskguard.config import load_config
from riskguard.domain import MarginMode, Position, Side, Tier
from riskguard.errors import ConfigError, InputError
from riskguard.paper.config import load_paper_config
from riskguard.paper.exchange import PaperExchange
from riskguard.risk import assess_account, assess_isolated, get_profile
from riskguard.testing.paper import START_MS

BINANCE = get_profile("binance")


def _positions(client: PaperExchange) -> list[dict[str, Any]]:
    return asyncio.run(client.fetch_positions())


def _written(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


# --- position -----------------------------------------------------------------------------


def test_position_defaults_to_an_isolated_10x_btc_long_at_100000() -> None:
    built = testing.position()

    assert built == Position(
        symbol="BTC/USDT:USDT",
        side=Side.LONG,
        size=1.0,
        entry_price=100_000.0,
        mark_price=100_000.0,
        margin_mode=MarginMode.ISOLATED,
        leverage=10.0,
        collateral=10_000.0,
        maintenance_margin_rate=0.005,
    )


def test_position_default_is_evaluated_by_the_risk_core() -> None:
    risk = assess_isolated(testing.position(), BINANCE)

    assert risk.liquidation_price == pytest.approx(90_000.0 / 0.995, rel=1e-12)
    assert risk.collateral == 10_000.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("symbol", "ETH/USDT:USDT"),
        ("side", Side.SHORT),
        ("size", 2.5),
        ("entry_price", 3_000.0),
        ("mark_price", 2_900.0),
        ("margin_mode", MarginMode.CROSS),
        ("leverage", 3.0),
        ("collateral", 1_234.0),
        ("contract_size", 0.01),
        ("tiers", (Tier(0.0, 1e9, 0.01),)),
        ("maintenance_margin_rate", 0.02),
        ("maintenance_amount", 50.0),
        ("taker_fee", 0.0005),
        ("max_leverage", 50.0),
        ("inverse", True),
    ],
)
def test_position_takes_every_field_by_keyword(field: str, value: object) -> None:
    built = testing.position(**{field: value})  # type: ignore[arg-type]

    assert getattr(built, field) == value


def test_position_names_every_field_of_the_domain_value() -> None:
    fields = {f.name for f in dataclasses.fields(Position)}

    assert set(testing.position.__kwdefaults__ or {}) == fields


def test_position_mark_defaults_to_the_entry() -> None:
    assert testing.position(entry_price=50_000.0).mark_price == 50_000.0


def test_position_collateral_is_the_initial_margin_of_the_leverage() -> None:
    built = testing.position(size=2.0, entry_price=50_000.0, leverage=25.0)

    assert built.collateral == pytest.approx(4_000.0)


def test_position_inverse_collateral_is_in_the_base_coin() -> None:
    # 100,000 USD at 50,000 is 2 BTC of value; at 10x, 0.2 BTC of margin.
    built = testing.position(
        symbol="BTC/USD:BTC", size=100_000.0, entry_price=50_000.0, leverage=10.0, inverse=True
    )

    assert built.collateral == pytest.approx(0.2)


def test_position_given_collateral_wins_over_the_leverage() -> None:
    assert testing.position(collateral=2_500.0, leverage=10.0).collateral == 2_500.0


def test_position_cross_keeps_its_collateral_unset() -> None:
    assert testing.position(margin_mode=MarginMode.CROSS).collateral is None


def test_position_without_leverage_or_collateral_is_refused_by_the_risk_core() -> None:
    built = testing.position(leverage=None)

    assert built.collateral is None
    with pytest.raises(InputError, match="needs collateral"):
        assess_isolated(built, BINANCE)


@pytest.mark.parametrize(
    "margin", [{"tiers": testing.BINANCE_BTC_BRACKETS}, {"max_leverage": 40.0}]
)
def test_position_with_other_margin_data_gets_no_flat_rate(margin: dict[str, Any]) -> None:
    assert testing.position(**margin).maintenance_margin_rate is None


def test_position_impossible_value_is_refused_by_the_domain() -> None:
    with pytest.raises(ValueError, match="size must be a positive"):
        testing.position(size=0.0)


# --- snapshot -----------------------------------------------------------------------------


def test_snapshot_defaults_to_a_binance_account_with_10000_in_the_wallet() -> None:
    first, second = testing.position(), testing.position(symbol="ETH/USDT:USDT", size=10.0)

    built = testing.snapshot(first, second)

    assert built.venue == "binance"
    assert built.wallet_balance == 10_000.0
    assert built.positions == (first, second)
    assert built.taken_at == testing.TAKEN_AT == datetime(2025, 1, 1, tzinfo=UTC)
    assert built.account == "default"
    assert built.notes == ()


def test_snapshot_takes_every_field_by_keyword() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)

    built = testing.snapshot(
        venue="okx", wallet_balance=5.0, taken_at=at, account="sub-1", notes=["stale"]
    )

    assert (built.venue, built.wallet_balance, built.taken_at) == ("okx", 5.0, at)
    assert (built.account, built.notes, built.positions) == ("sub-1", ("stale",), ())


def test_snapshot_of_a_cross_position_is_a_healthy_10x_account() -> None:
    built = testing.snapshot(testing.position(margin_mode=MarginMode.CROSS))

    risk = assess_account(built, BINANCE)

    # 500 of maintenance margin against 10,000 of equity
    assert risk.effective_leverage == pytest.approx(10.0)
    assert risk.margin_ratio == pytest.approx(0.05)


def test_snapshot_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        testing.snapshot(taken_at=datetime(2025, 1, 1))


# --- tiers --------------------------------------------------------------------------------


def test_binance_btc_brackets_carry_continuous_maintenance_amounts() -> None:
    brackets = testing.BINANCE_BTC_BRACKETS

    assert [t.maintenance_amount for t in brackets] == pytest.approx([0.0, 50.0, 950.0, 11_450.0])
    assert [t.max_leverage for t in brackets] == [125.0, 100.0, 75.0, 50.0]
    for below, above in itertools.pairwise(brackets):
        assert below.max_bound == above.min_bound
        floor = above.min_bound
        assert floor * below.maintenance_margin_rate - below.maintenance_amount == pytest.approx(
            floor * above.maintenance_margin_rate - above.maintenance_amount
        )


def test_binance_btc_brackets_price_a_position_by_its_notional() -> None:
    built = testing.position(size=10.0, tiers=testing.BINANCE_BTC_BRACKETS)

    risk = assess_isolated(built, BINANCE)

    # 1,000,000 of notional is in the third bracket: 1,000,000 x 0.65% - 950.
    assert risk.maintenance_margin == pytest.approx(5_550.0)


# --- the paper preset ---------------------------------------------------------------------


def test_paper_setup_client_returns_the_position_via_fetch_positions() -> None:
    setup = testing.paper_setup()

    (held,) = _positions(setup.client("main"))

    assert held["symbol"] == testing.BTC
    assert held["side"] == "long"
    assert held["marginMode"] == "isolated"
    assert held["leverage"] == 10.0
    assert held["contracts"] == pytest.approx(0.2)
    assert held["markPrice"] == 100_000.0


def test_paper_setup_account_holds_its_balance_less_nothing_but_fees() -> None:
    setup = testing.paper_setup()

    balance = asyncio.run(setup.client("main").fetch_balance())

    # the 2,000 of margin moved into the position; the opening fee and slippage are small
    assert balance["USDT"]["total"] == pytest.approx(10_000.0, rel=2e-3)


def test_paper_section_options_reach_the_venue() -> None:
    section = testing.paper_section(
        accounts=("bot", "guard"),
        balance=50_000.0,
        side=Side.SHORT,
        leverage=5.0,
        margin_mode=MarginMode.CROSS,
        notional=30_000.0,
        start_price=3_000.0,
        symbol="ETH/USDT:USDT",
    )

    setup = testing.paper_setup(section)

    for account in ("bot", "guard"):
        (held,) = _positions(setup.client(account))
        assert (held["symbol"], held["side"], held["marginMode"]) == (
            "ETH/USDT:USDT",
            "short",
            "cross",
        )
        assert held["leverage"] == 5.0
        assert held["contracts"] == pytest.approx(10.0)


def test_paper_section_without_notional_leaves_the_accounts_flat() -> None:
    setup = testing.paper_setup(testing.paper_section(notional=None))

    assert _positions(setup.client("main")) == []


def test_paper_setup_prices_replace_the_feed_and_the_position_opens_at_the_first() -> None:
    setup = testing.paper_setup(prices=[50_000.0, 49_000.0, 48_000.0])
    client = setup.client("main")

    (opened,) = _positions(client)
    assert isinstance(setup.clock, VirtualClock)
    setup.clock.advance_to(setup.venue.end_ms)
    (later,) = _positions(client)

    assert opened["markPrice"] == 50_000.0
    assert opened["contracts"] == pytest.approx(0.4)
    assert later["lastPrice"] == 48_000.0
    assert setup.venue.end_ms == START_MS + 2 * 60_000


def test_price_ticks_are_a_tick_series_one_step_apart() -> None:
    bars = testing.price_ticks(testing.BTC, [1.0, 2.0, 3.0], step_s=5.0)

    assert bars.times_ms == (START_MS, START_MS + 5_000, START_MS + 10_000)
    assert bars.closes == bars.opens == bars.highs == bars.lows == (1.0, 2.0, 3.0)
    assert bars.bar_ms == 0


def test_paper_section_tiers_take_the_place_of_the_flat_rate() -> None:
    tiers = [{"min_notional": 0, "maintenance_margin_rate": 0.01}]

    section = testing.paper_section(market={"tiers": tiers, "taker_fee_pct": 0.04})

    (market,) = section["markets"]
    assert "maintenance_margin_rate" not in market
    assert (market["tiers"], market["taker_fee_pct"]) == (tiers, 0.04)
    assert testing.paper_setup(section).venue.market(testing.BTC).taker_fee == pytest.approx(4e-4)


def test_paper_section_is_a_fresh_document_each_call() -> None:
    first = testing.paper_section(accounts=("a", "b"))
    first["accounts"][0]["positions"][0]["leverage"] = 99

    assert first["accounts"][1]["positions"][0]["leverage"] == 10.0
    assert testing.paper_section() == testing.paper_section()
    assert testing.paper_section()["accounts"][0]["positions"][0]["leverage"] == 10.0


def test_paper_section_is_a_valid_paper_section_of_a_yaml_file(tmp_path: Path) -> None:
    path = _written(tmp_path, {"paper": testing.paper_section()})

    config = load_paper_config(path)

    assert [a.id for a in config.accounts] == ["main"]
    assert config.clock.mode == "virtual"


def test_paper_setup_bad_section_names_the_path() -> None:
    with pytest.raises(ConfigError, match=r"paper\.accounts\[0\]\.positions\[0\]\.leverage"):
        testing.paper_setup(testing.paper_section(leverage=0.5))


# --- the daemon's config document ---------------------------------------------------------


def test_paper_daemon_config_validates_with_the_config_loader(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"

    config = load_config(_written(tmp_path, testing.paper_daemon_config(journal, accounts=2)))

    assert [a.id for a in config.accounts] == ["acct0", "acct1"]
    assert [a.exchange for a in config.accounts] == ["paper", "paper"]
    assert config.journal.path == str(journal)
    assert config.paper is not None
    assert config.paper.clock.mode == "paced"
    assert [a.id for a in config.paper.accounts] == ["acct0", "acct1"]


def test_paper_daemon_config_accounts_hold_a_long_of_40000_at_the_leverage(tmp_path: Path) -> None:
    document = testing.paper_daemon_config(tmp_path / "journal.sqlite3", leverage=25)

    setup = testing.paper_setup(document["paper"])

    (held,) = _positions(setup.client("acct0"))
    assert (held["side"], held["marginMode"], held["leverage"]) == ("long", "isolated", 25.0)
    assert held["contracts"] == pytest.approx(0.4)


def test_paper_daemon_config_crash_and_extra_sections(tmp_path: Path) -> None:
    rules = [{"type": "stale_data", "warn_age_s": 30, "max_age_s": 120}]

    document = testing.paper_daemon_config(
        tmp_path / "journal.sqlite3", crash_pct=-12, extra={"rules": rules}
    )

    (market,) = document["paper"]["markets"]
    assert market["feed"]["jump_diffusion"]["crash_pct"] == -12
    assert document["rules"] == rules
    assert load_config(_written(tmp_path, document)).rules[0].type == "stale_data"
