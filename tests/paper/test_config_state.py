"""The paper section: validation by path, building a venue, and state that survives a restart."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from riskguard.errors import ConfigError, InputError
from riskguard.paper.config import build_paper, load_paper_config, parse_paper_config
from riskguard.paper.state import load_state, save_state

REPO = Path(__file__).resolve().parents[2]
SHARED_CRASHES = REPO.parent / "shared" / "data" / "crashes"


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "venue": "binance",
        "markets": [
            {
                "symbol": "BTC/USDT:USDT",
                "maintenance_margin_rate": 0.005,
                "mark_half_life_s": 0,
                "feed": {
                    "jump_diffusion": {
                        "start_price": 50_000,
                        "start": "2024-01-01T00:00:00Z",
                        "daily_volatility_pct": 4,
                        "bars": 600,
                        "seed": 3,
                        "crash_at_bar": 300,
                        "crash_pct": -25,
                        "crash_bars": 20,
                    }
                },
            }
        ],
        "accounts": [
            {
                "id": "main",
                "balance": 10_000,
                "positions": [
                    {
                        "symbol": "BTC/USDT:USDT",
                        "side": "long",
                        "leverage": 10,
                        "margin_mode": "isolated",
                        "notional": 20_000,
                    },
                    {
                        "symbol": "BTC/USDT:USDT",
                        "side": "long",
                        "leverage": 10,
                        "margin_mode": "isolated",
                        "notional": 10_000,
                    },
                ],
            },
            {"id": "other", "balance": 5_000},
        ],
    }
    config.update(overrides)
    return config


def test_example_config_builds_a_venue_with_its_accounts_and_positions() -> None:
    if not SHARED_CRASHES.exists():
        pytest.skip(f"shared crash data not found at {SHARED_CRASHES}")

    setup = build_paper(load_paper_config(REPO / "config" / "paper-crash.yaml"), REPO / "config")

    venue = setup.venue
    assert set(venue.accounts) == {"bot", "hedger"}
    assert len(venue.accounts["bot"].positions) == 2
    assert len(venue.accounts["hedger"].positions) == 2  # hedge mode keeps both legs


def test_configured_positions_open_at_the_first_price_with_their_leverage() -> None:
    setup = build_paper(parse_paper_config(_config()))

    (pos,) = setup.venue.accounts["main"].positions.values()
    assert pos.size * pos.entry_price == pytest.approx(30_000, rel=0.01)
    assert pos.leverage == 10
    assert pos.isolated_margin == pytest.approx(pos.size * pos.entry_price / 10, rel=1e-9)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(venue="kraken"), "unknown venue 'kraken'"),
        (
            lambda c: c["markets"][0].update(taker_fee=0.1),
            "paper.markets[0].taker_fee: Extra inputs are not permitted",
        ),
        (
            lambda c: c["markets"][0].update(
                tiers=[{"min_notional": 0, "maintenance_margin_rate": 0.01}]
            ),
            "give either tiers or maintenance_margin_rate",
        ),
        (
            lambda c: c["accounts"][0].update(balance=-5),
            "paper.accounts[0].balance: Input should be greater than or equal to 0",
        ),
        (
            lambda c: c["accounts"][0]["positions"][0].update(symbol="ETH/USDT:USDT"),
            "accounts[0].positions[0].symbol: no market 'ETH/USDT:USDT'",
        ),
        (
            lambda c: c.update(faults={"methods": {"create_order": {"timeout_pct": 150}}}),
            "paper.faults.methods.create_order.timeout_pct",
        ),
        (
            lambda c: c["markets"][0].update(feed={"parquet": "x"}),
            "paper.markets[0].feed",
        ),
    ],
)
def test_invalid_paper_section_is_reported_by_path(change: Any, expected: str) -> None:
    config = copy.deepcopy(_config())
    change(config)

    with pytest.raises(ConfigError) as info:
        parse_paper_config(config, "my.yaml")

    assert expected in str(info.value)
    assert str(info.value).startswith("my.yaml: ")
    assert "\n" not in str(info.value)


def test_missing_csv_feed_is_a_config_error_naming_the_market(tmp_path: Path) -> None:
    config = _config()
    config["markets"][0]["feed"] = {"csv": "nowhere.csv"}

    with pytest.raises(InputError, match=r"nowhere\.csv"):
        build_paper(parse_paper_config(config), tmp_path)


def test_a_csv_feed_with_missing_bars_builds_and_warns_naming_the_gap(tmp_path: Path) -> None:
    minutes = (0, 1, 2, 30, 31)  # minutes 3 to 29 are missing
    rows = ["timestamp_ms,open,high,low,close,volume"]
    rows += [f"{1_700_000_000_000 + m * 60_000},100,101,99,100,1" for m in minutes]
    (tmp_path / "gappy.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = _config()
    config["markets"][0]["feed"] = {"csv": "gappy.csv"}

    with capture_logs() as logs:
        setup = build_paper(parse_paper_config(config), tmp_path)

    assert setup.venue is not None
    (warning,) = [e for e in logs if e["event"] == "price file has a gap"]
    assert warning["log_level"] == "warning"
    assert "gappy.csv:5: 27 minutes missing" in warning["gap"]


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("paper:\n  venue: binance\n  markets: [\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_paper_config(path)


def test_file_without_paper_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("accounts: []\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="paper: section missing"):
        load_paper_config(path)


def _run_until(setup: Any, t_ms: int) -> None:
    setup.clock.advance_to(t_ms)


def _summary(setup: Any) -> dict[str, Any]:
    venue = setup.venue
    return {
        "now": venue.now_ms,
        "wallets": {a.id: round(a.wallet, 9) for a in venue.accounts.values()},
        "positions": {
            a.id: sorted((s, side.value, round(p.size, 12)) for (s, side), p in a.positions.items())
            for a in venue.accounts.values()
        },
        "trades": sum(len(a.trades) for a in venue.accounts.values()),
        "liquidations": [(r.time_ms, r.account, round(r.shortfall, 9)) for r in venue.liquidations],
        "insurance": round(venue.ledger.insurance_fund, 6),
    }


def test_saved_and_restored_venue_continues_exactly_like_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    config = parse_paper_config(_config())
    uninterrupted = build_paper(config)
    interrupted = build_paper(config)
    middle = uninterrupted.venue.now_ms + 250 * 60_000
    end = uninterrupted.venue.end_ms

    _run_until(interrupted, middle)
    save_state(interrupted.venue, tmp_path / "paper.json")
    restarted = build_paper(config)
    restarted.restore(tmp_path / "paper.json")
    _run_until(restarted, end)
    _run_until(uninterrupted, end)

    assert _summary(restarted) == _summary(uninterrupted)
    assert restarted.venue.liquidations, "the crash should liquidate the 10x long"


def test_restored_state_keeps_resting_orders_working(tmp_path: Path) -> None:
    config = parse_paper_config(_config())
    setup = build_paper(config)
    client = setup.client("main", with_faults=False)
    mark = setup.venue.mark_price("BTC/USDT:USDT")
    asyncio.run(
        client.create_order(
            "BTC/USDT:USDT",
            "market",
            "sell",
            0.1,
            None,
            {"stopLossPrice": mark * 0.9, "reduceOnly": True, "clientOrderId": "stop1"},
        )
    )

    save_state(setup.venue, tmp_path / "paper.json")
    restarted = build_paper(config)
    restarted.restore(tmp_path / "paper.json")
    restarted_client = restarted.client("main", with_faults=False)
    stops = asyncio.run(
        restarted_client.fetch_open_orders("BTC/USDT:USDT", params={"trigger": True})
    )

    assert [o["clientOrderId"] for o in stops] == ["stop1"]


def test_damaged_state_file_is_a_one_line_input_error(tmp_path: Path) -> None:
    setup = build_paper(parse_paper_config(_config()))
    path = tmp_path / "paper.json"
    save_state(setup.venue, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["accounts"][0]["wallet"]
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(InputError, match="paper state is damaged"):
        load_state(setup.venue, path)


def test_state_from_other_markets_is_refused(tmp_path: Path) -> None:
    setup = build_paper(parse_paper_config(_config()))
    path = tmp_path / "paper.json"
    save_state(setup.venue, path)
    other = _config()
    other["markets"][0]["symbol"] = "ETH/USDT:USDT"
    other["accounts"][0]["positions"] = []
    other_setup = build_paper(parse_paper_config(other))

    with pytest.raises(InputError, match="other markets"):
        load_state(other_setup.venue, path)


def test_paced_clock_plays_the_feed_faster_than_the_wall_clock() -> None:
    config = parse_paper_config(_config(clock={"mode": "paced", "speed": 60_000}))
    setup = build_paper(config)
    client = setup.client("other", with_faults=False)
    start = setup.venue.now_ms

    time.sleep(0.05)
    ticker = asyncio.run(client.fetch_ticker("BTC/USDT:USDT"))

    # 50 ms of wall time at 60,000x is 50 simulated minutes.
    assert ticker["timestamp"] - start >= 45 * 60_000
    assert ticker["timestamp"] <= setup.venue.end_ms
