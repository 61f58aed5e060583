"""``riskguard replay-margin FILE``: each account once guarded and once alone, a table or JSON,
exit code 1 when a guarded account was liquidated or went below zero; bad files get one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from riskguard.cli.main import main
from riskguard.replay.margin_command import load

CONFIG = Path(__file__).resolve().parents[2] / "config"
CRASH = {
    "jump_diffusion": {
        "start_price": 40_000,
        "daily_volatility_pct": 3.0,
        "bars": 720,
        "seed": 7,
        "crash_at_bar": 240,
        "crash_pct": -40.0,
        "crash_bars": 120,
        "start": "2024-01-01T00:00:00Z",
    }
}


def _file(tmp_path: Path, feed: dict[str, object] | None = None, **guard: object) -> Path:
    document = {
        "spot_margin": {
            "markets": [{"symbol": "BTC/USDT", "feed": feed or CRASH, "amount_step": 0.00001}],
            "rules": {"interest_per_hour_pct": {"USDT": 0.001}},
            "accounts": [
                {
                    "id": "long",
                    "holdings": {"USDT": 1000},
                    "open": [{"symbol": "BTC/USDT", "side": "buy", "quote_value": 2950}],
                }
            ],
        },
        "guard": {"poll_interval_s": 60, **guard},
    }
    path = tmp_path / "margin.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_replay_margin_prints_both_runs_and_exits_0_when_the_guard_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["replay-margin", str(_file(tmp_path)), "--json"])

    document = json.loads(capsys.readouterr().out)
    guarded, alone = document["accounts"]
    assert code == 0
    assert (guarded["guarded"], guarded["liquidations"], guarded["went_negative"]) == (
        True,
        0,
        False,
    )
    assert (alone["guarded"], alone["guard_orders"]) == (False, 0)
    assert alone["liquidations"] >= 1
    assert document["guard_failed"] is False


def test_replay_margin_exits_1_when_a_guarded_account_is_liquidated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a 60% fall inside one minute, before any large move was seen: no guard can act in time
    gap = {"jump_diffusion": {**CRASH["jump_diffusion"], "crash_bars": 1, "crash_pct": -60.0}}
    path = _file(tmp_path, feed=gap)

    code = main(["replay-margin", str(path)])

    assert code == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_bad_guard_section_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, spot_margin={"act_distance_pct": 40, "warn_distance_pct": 20})

    code = main(["replay-margin", str(path)])

    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1
    assert "guard.spot_margin" in err
    assert "act_distance_pct" in err


def test_the_shipped_margin_crash_example_loads() -> None:
    venue, guard = load(CONFIG / "paper-margin-crash.yaml")

    assert [a.id for a in venue.accounts] == ["borrowed-long", "borrowed-short"]
    assert guard.poll_interval_s == 10
