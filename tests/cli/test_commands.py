"""``riskguard run --once``, ``riskguard check`` and ``riskguard journal`` from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from riskguard.cli.main import main
from tests.daemon.conftest import paper_config, write_config


def test_check_exits_2_when_the_guard_would_act_and_prints_both_liquidation_prices(
    tmp_path: Path, journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, paper_config(journal_path, leverage=50))

    code = main(["check", str(config), "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code == 2
    assert document["exit_code"] == 2
    (account,) = document["accounts"]
    assert account["actionable"]
    assert account["settle"] == "USDT"  # the currency every money figure is in
    assert account["notes"] == []
    assert account["wallet_balance"] > 0
    (position,) = account["positions"]
    assert position["symbol"] == "BTC/USDT:USDT"
    assert position["liquidation_price"] < position["mark_price"]
    # The paper venue reports a liquidation price, as Binance does for isolated positions.
    assert position["exchange_liquidation_price"] == pytest.approx(
        position["liquidation_price"], rel=1e-3
    )
    assert position["distance_pct"] < 4
    assert any(r["level"] in ("ACT", "CRITICAL") for r in position["rules"])
    assert account["planned"]
    assert not journal_path.exists()  # a check never writes the daemon's journal


def test_check_exits_0_for_a_calm_low_leverage_book_and_prints_a_table(
    tmp_path: Path, journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(journal_path, leverage=5)
    # Only distance and margin ratio rules: nothing to say about a 5x position.
    document["rules"] = [{"type": "liquidation_distance"}, {"type": "margin_ratio"}]
    config = write_config(tmp_path, document)

    code = main(["check", str(config)])

    out = capsys.readouterr().out
    assert code == 0
    assert "BTC/USDT:USDT" in out
    assert "liq (riskguard)" in out
    assert "result: ok (exit code 0)" in out


def test_check_reports_warnings_with_exit_code_1(
    tmp_path: Path, journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(journal_path, leverage=5)
    document["rules"] = [
        {
            "type": "max_leverage",
            "warn": {"leverage": 1.5},
            "act": {"leverage": 50},
            "critical": {"leverage": 60},
        }
    ]
    config = write_config(tmp_path, document)

    code = main(["check", str(config)])

    assert code == 1
    assert "warnings (exit code 1)" in capsys.readouterr().out


def test_run_once_then_journal_exports_csv_and_json(
    tmp_path: Path, journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, paper_config(journal_path))

    assert main(["run", str(config), "--once"]) == 0
    capsys.readouterr()

    assert main(["journal", str(config), "--format", "json", "--kind", "order_intent"]) == 0
    intents = json.loads(capsys.readouterr().out)
    assert intents
    assert {e["kind"] for e in intents} == {"order_intent"}
    # Paper accounts journal in the venue's (simulated) time: January 2024 here.
    assert main(["journal", "--db", str(journal_path), "--since", "2023-12-31"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "start"
    assert kinds[-1] == "stop"
    stop_rows = [r for r in rows if r["kind"] == "order_intent"]
    assert stop_rows[0]["symbol"] == "BTC/USDT:USDT"


def test_journal_of_a_missing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["journal", "--db", str(tmp_path / "nope.sqlite3")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "nope.sqlite3" in err


def test_run_with_a_missing_credential_variable_names_it_in_one_line(
    tmp_path: Path, journal_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(journal_path)
    document["accounts"].append(
        {"id": "live", "exchange": "bybit", "api_key_env": "RG_SURELY_UNSET_KEY"}
    )
    config = write_config(tmp_path, document)

    code = main(["run", str(config), "--once"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "accounts[1].api_key_env: environment variable RG_SURELY_UNSET_KEY is not set" in err


def test_help_loads_no_exchange_library_model_or_replay_engine() -> None:
    # `riskguard --help` must be instant (issue 17): the parser imports no command's engine.
    import subprocess
    import sys

    probe = (
        "import sys; from riskguard.cli.main import _build_parser; _build_parser(); "
        "heavy = ['ccxt', 'pydantic', 'numpy', 'matplotlib', 'riskguard.replay.runner', "
        "'riskguard.guard.cycle', 'rich.console']; "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )

    assert out.stdout.strip() == ""
