"""How options and a config become a replay scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from riskguard.errors import InputError
from riskguard.paper.feeds import read_price_csv
from riskguard.replay.scenario import REPLAY_ACCOUNT, build_scenario, default_market
from riskguard.replay.spec import OpenSpec
from tests.replay.conftest import T0

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def test_without_a_notional_each_position_gets_half_the_balance_shared_out(crash_csv: Path) -> None:
    scenario = build_scenario(
        prices=[(BTC, crash_csv), (ETH, crash_csv)],
        opens=[OpenSpec(BTC, "long", 20, "cross"), OpenSpec(ETH, "short", 5, "cross")],
        balance=8_000,
    )
    (account,) = scenario.paper.accounts
    assert account.id == REPLAY_ACCOUNT
    assert account.balance == 8_000
    # 8,000 / (2 x 2) = 2,000 of margin each, times the leverage.
    assert [(p.symbol, p.notional) for p in account.positions] == [(BTC, 40_000), (ETH, 10_000)]
    assert not account.hedge_mode
    assert [a.id for a in scenario.accounts] == [REPLAY_ACCOUNT]


def test_a_given_notional_is_kept_and_both_sides_of_a_symbol_make_a_hedge_account(
    crash_csv: Path,
) -> None:
    scenario = build_scenario(
        prices=[(BTC, crash_csv)],
        opens=[OpenSpec(BTC, "long", 10, notional=12_345), OpenSpec(BTC, "short", 10)],
    )
    (account,) = scenario.paper.accounts
    assert [p.notional for p in account.positions] == [12_345, 10_000 / 4 * 10]
    assert account.hedge_mode
    assert scenario.accounts[0].hedged


def test_built_in_market_terms_fit_the_prices(crash_csv: Path, tmp_path: Path) -> None:
    btc = default_market(BTC, read_price_csv(crash_csv, BTC))
    assert btc["amount_step"] == pytest.approx(0.0001)  # the power of ten nearest 10 USDT
    assert btc["price_tick"] == pytest.approx(0.1)  # five places under the lowest price (~27,000)
    cheap = tmp_path / "cheap.csv"
    cheap.write_text(f"{T0},0.00031\n{T0 + 60_000},0.00004\n", encoding="utf-8")
    luna = default_market("LUNA/USDT:USDT", read_price_csv(cheap, "LUNA/USDT:USDT"))
    assert luna["price_tick"] == pytest.approx(1e-10)
    assert luna["amount_step"] == pytest.approx(100_000)


def _config(tmp_path: Path, csv: Path, **extra: object) -> Path:
    document = {
        "accounts": [{"id": "bot", "exchange": "paper", "alert_only": True}],
        "guard": {"poll_interval_s": 30},
        "rules": [
            {
                "type": "liquidation_distance",
                "warn": {"distance_pct": 20},
                "act": {"distance_pct": 10},
                "critical": {"distance_pct": 5},
            }
        ],
        "paper": {
            "venue": "bybit",
            "markets": [
                {
                    "symbol": BTC,
                    "maintenance_margin_rate": 0.01,
                    "amount_step": 0.01,
                    "min_amount": 0.01,
                    "feed": {"csv": str(csv)},
                }
            ],
            "accounts": [
                {
                    "id": "bot",
                    "balance": 3_000,
                    "positions": [
                        {"symbol": BTC, "side": "long", "leverage": 5, "notional": 9_000}
                    ],
                }
            ],
        },
        **extra,
    }
    path = tmp_path / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_a_config_gives_its_rules_markets_accounts_and_settings(
    tmp_path: Path, crash_csv: Path, squeeze_csv: Path
) -> None:
    config = _config(tmp_path, crash_csv)

    scenario = build_scenario(config_path=config, prices=[(BTC, squeeze_csv)])

    assert [r.type for r in scenario.rules] == ["liquidation_distance"]
    assert scenario.poll_interval_s == 30
    assert scenario.paper.venue == "bybit"
    (market,) = scenario.paper.markets
    assert market.maintenance_margin_rate == 0.01  # the config's terms ...
    assert market.feed.csv == str(squeeze_csv.resolve())  # ... on the --prices file
    assert scenario.paper.accounts[0].positions[0].notional == 9_000
    (guarded,) = scenario.accounts
    assert (guarded.id, guarded.alert_only) == ("bot", True)
    assert scenario.notes == ()


def test_options_override_the_config(tmp_path: Path, crash_csv: Path) -> None:
    config = _config(tmp_path, crash_csv)

    scenario = build_scenario(
        config_path=config,
        opens=[OpenSpec(BTC, "short", 4)],
        balance=1_000,
        venue="okx",
        poll_interval_s=2,
        start_ms=T0 + 30 * 60_000,
        end_ms=T0 + 90 * 60_000,
    )

    assert scenario.poll_interval_s == 2
    assert scenario.paper.venue == "okx"
    (account,) = scenario.paper.accounts
    assert (account.id, account.balance) == (REPLAY_ACCOUNT, 1_000)
    assert account.positions[0].notional == 1_000 / 2 * 4
    # The --open account takes the settings of the config's paper account.
    assert scenario.accounts[0].alert_only
    assert scenario.paper.start is not None
    assert int(scenario.paper.start.timestamp() * 1000) == T0 + 30 * 60_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opens": [OpenSpec(BTC, "long", 3)]}, "no prices; give --prices SYMBOL=FILE"),
        (
            {"prices": "crash", "opens": [OpenSpec(ETH, "long", 3)]},
            "--open ETH/USDT:USDT: no prices",
        ),
        ({"prices": "crash"}, "no positions; give --open"),
        ({"prices": "crash", "opens": [OpenSpec(BTC, "long", 3)], "balance": 0}, "--balance"),
        (
            {"prices": "crash", "opens": [OpenSpec(BTC, "long", 3)], "poll_interval_s": -1},
            "--poll-interval-s: must be positive",
        ),
        (
            {"prices": "crash", "opens": [OpenSpec(BTC, "long", 3)], "start_ms": T0 * 2},
            "--from/--to: no BTC/USDT:USDT price in the window; its prices cover 2023-11-15T00:00Z",
        ),
        (
            {
                "prices": "crash",
                "opens": [OpenSpec(BTC, "long", 3)],
                "start_ms": T0 + 600_000,
                "end_ms": T0 + 60_000,
            },
            "--to: must be after --from",
        ),
    ],
)
def test_what_cannot_be_replayed_is_one_line_naming_the_option(
    crash_csv: Path, kwargs: dict[str, object], message: str
) -> None:
    if kwargs.get("prices") == "crash":
        kwargs = {**kwargs, "prices": [(BTC, crash_csv)]}
    with pytest.raises(InputError) as caught:
        build_scenario(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_symbol_must_name_its_settlement_and_a_file_must_exist(
    crash_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="BASE/QUOTE:SETTLE"):
        build_scenario(prices=[("BTCUSDT", crash_csv)])
    with pytest.raises(InputError, match=r"missing\.csv: cannot read"):
        build_scenario(prices=[(BTC, tmp_path / "missing.csv")])
    with pytest.raises(InputError, match="given twice"):
        build_scenario(prices=[(BTC, crash_csv), (BTC, crash_csv)])


def _gappy(tmp_path: Path) -> Path:
    """Kline rows at minutes 0, 1, 2, then 10, 11 and 12: minutes 3 to 9 are missing, the row
    after the gap (minute 10) on line 5 of the file (the header is line 1)."""
    minutes = [0, 1, 2, 10, 11, 12]
    rows = ["timestamp_ms,open,high,low,close,volume"]
    rows += [f"{T0 + m * 60_000},40000.0,40010.0,39990.0,40000.0,1.0" for m in minutes]
    path = tmp_path / "gappy.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_each_gap_of_a_price_file_read_is_a_note_naming_the_file_line(tmp_path: Path) -> None:
    scenario = build_scenario(prices=[(BTC, _gappy(tmp_path))], opens=[OpenSpec(BTC, "long", 3)])

    gap_notes = [n for n in scenario.notes if "missing" in n]

    assert gap_notes == [
        f"{BTC}: 7 minutes missing after 2023-11-15 00:02 UTC (gappy.csv line 5)",
    ]


def test_a_gap_outside_the_replayed_window_is_not_noted(tmp_path: Path) -> None:
    scenario = build_scenario(
        prices=[(BTC, _gappy(tmp_path))],
        opens=[OpenSpec(BTC, "long", 3)],
        start_ms=T0 + 10 * 60_000,
    )

    assert [n for n in scenario.notes if "missing" in n] == []
    assert any("built-in market terms" in n for n in scenario.notes)
