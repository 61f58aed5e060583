"""`riskguard calc`: reading a snapshot, printing a table or JSON, and refusing bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from riskguard.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshots" / "binance_mixed.json"


def _isolated_snapshot(**overrides: object) -> dict[str, object]:
    position: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "side": "long",
        "size": 1,
        "entry_price": 100000,
        "mark_price": 100000,
        "collateral": 10000,
        "maintenance_margin_rate": 0.005,
        "maintenance_amount": 50,
    }
    position.update(overrides)
    return {"venue": "binance", "positions": [position]}


def _run_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], doc: object, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(doc)))
    code = main(["calc", "-", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_calc_json_reports_worked_example_liquidation_price(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run_stdin(monkeypatch, capsys, _isolated_snapshot(), "--json")

    assert code == 0, err
    doc = json.loads(out)
    position = doc["positions"][0]
    assert position["liquidation_price"] == pytest.approx(90402.01, abs=0.01)
    assert position["bankruptcy_price"] == pytest.approx(90000.0)
    assert position["maintenance_margin"] == pytest.approx(450.0)
    assert position["margin_ratio"] == pytest.approx(450.0 / 10000.0)
    assert position["distance_pct"] == pytest.approx((100000 - 90402.01005) / 1000, rel=1e-9)
    assert position["effective_leverage"] == pytest.approx(10.0)
    assert position["shortfall_scope"] == "position"
    assert doc["account"]["venue"] == "binance"


def test_calc_json_has_every_documented_position_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = _run_stdin(monkeypatch, capsys, _isolated_snapshot(), "--json")

    position = json.loads(out)["positions"][0]
    required = {
        "symbol",
        "side",
        "liquidation_price",
        "bankruptcy_price",
        "maintenance_margin",
        "margin_ratio",
        "distance_pct",
        "effective_leverage",
        "shortfall",
    }
    assert required <= set(position)


def test_calc_json_keeps_input_order_of_positions(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calc", str(EXAMPLE), "--json"])

    out, _ = capsys.readouterr()
    assert code == 0
    symbols = [p["symbol"] for p in json.loads(out)["positions"]]
    assert symbols == ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def test_calc_table_shows_every_symbol_and_account_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calc", str(EXAMPLE)])

    out, _ = capsys.readouterr()
    assert code == 0
    for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"):
        assert symbol in out
    assert "potential shortfall" in out


def test_calc_reports_no_liquidation_price_as_null_for_fully_paid_long(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _isolated_snapshot(collateral=100000)

    code, out, _ = _run_stdin(monkeypatch, capsys, doc, "--json")

    assert code == 0
    position = json.loads(out)["positions"][0]
    assert position["liquidation_price"] is None
    assert position["distance_pct"] is None


def test_calc_flags_position_past_liquidation_with_null_ratio_when_equity_is_gone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _isolated_snapshot(mark_price=89000)

    code, out, _ = _run_stdin(monkeypatch, capsys, doc, "--json")

    assert code == 0
    position = json.loads(out)["positions"][0]
    assert position["liquidatable"] is True
    assert position["margin_ratio"] is None
    assert position["distance_pct"] < 0


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_isolated_snapshot(size=-1), "positions[0].size: Input should be greater than 0"),
        (_isolated_snapshot(side="flat"), "positions[0].side:"),
        (_isolated_snapshot(collateral=None, leverage=None), "positions[0].collateral:"),
        (_isolated_snapshot(maintenance_margin_rate=None), "positions[0]: give tiers"),
        (_isolated_snapshot(colour="red"), "positions[0].colour: Extra inputs are not permitted"),
        ({"venue": "kraken", "positions": []}, "venue: unknown venue 'kraken'"),
        ({"positions": []}, "venue: Field required"),
        (
            {
                "venue": "binance",
                "margin_mode": "cross",
                "positions": _isolated_snapshot()["positions"],
            },
            "wallet_balance: required when any position is cross",
        ),
        (
            {
                "venue": "binance",
                "positions": [
                    _isolated_snapshot()["positions"][0],  # type: ignore[index]
                    {**_isolated_snapshot()["positions"][0], "inverse": True},  # type: ignore[index]
                ],
            },
            "positions: a snapshot cannot mix inverse and linear positions",
        ),
    ],
)
def test_calc_bad_input_gives_one_line_naming_the_field_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    doc: object,
    expected: str,
) -> None:
    code, out, err = _run_stdin(monkeypatch, capsys, doc)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert expected in err
    assert "Traceback" not in err


def test_calc_names_the_file_when_it_is_not_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "snap.json"
    bad.write_text("{not json", encoding="utf-8")

    code = main(["calc", str(bad)])

    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith(f"riskguard calc: {bad}: not valid JSON")


def test_calc_names_the_file_when_it_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.json"

    code = main(["calc", str(missing)])

    _, err = capsys.readouterr()
    assert code == 2
    assert f"{missing}: cannot read" in err
