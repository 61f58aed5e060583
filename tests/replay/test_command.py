"""``riskguard replay`` on the command line: a table, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from riskguard.cli.main import main

BTC = "BTC/USDT:USDT"


def test_json_has_every_run_and_what_the_guard_saved(
    crash_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "--prices",
            f"{BTC}={crash_csv}",
            "--open",
            f"{BTC},long,20x,isolated",
            "--poll-interval-s",
            "15",
            "--json",
        ]
    )

    assert code == 0
    document = json.loads(capsys.readouterr().out)
    runs = document["runs"]
    assert set(runs) == {"guard", "none", "static-stop"}
    assert runs["none"]["totals"]["liquidations"] == 1
    assert runs["guard"]["totals"]["liquidations"] == 0
    (position,) = runs["guard"]["positions"]
    assert (position["account"], position["symbol"], position["side"]) == ("replay", BTC, "long")
    assert position["actions"]
    assert document["saved"]["none"]["liquidations"] == 1
    assert document["saved"]["none"]["final_equity"] > 0
    assert document["inputs"]["prices"] == {BTC: "crash.csv"}
    assert position["negative"] is False
    assert position["min_equity"] > 0
    (account,) = runs["guard"]["accounts"]
    assert account["account"] == "replay"
    assert account["negative"] is False
    assert account["min_equity"] <= account["final_equity"]
    assert runs["guard"]["totals"]["negative_positions"] == 0
    assert runs["guard"]["totals"]["negative_accounts"] == 0
    for run in runs.values():
        assert run["totals"]["negative_positions"] == sum(p["negative"] for p in run["positions"])
    assert {"negative_positions", "negative_accounts"} <= set(document["saved"]["none"])
    assert set(document["cost"]["none"]) == {"gave_up", "positions"}


def test_the_table_names_each_run_and_the_savings(
    crash_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "--prices",
            f"{BTC}={crash_csv}",
            "--open",
            f"{BTC},long,20x",
            "--baselines",
            "none",
            "--poll-interval-s",
            "30",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "guard polling every 30 s" in out
    assert "LIQUIDATED" in out
    assert "guard vs none: final equity +" in out
    assert "cost of protection vs none: gave up " in out
    assert "static-stop" not in out
    assert "built-in market terms" in out
    assert "went negative" in out
    guard_rows = _rows(out, "guard")
    assert len(guard_rows) == 2  # the runs table and the positions table
    assert all(row[-1] == "no" for row in guard_rows)
    assert "negative accounts avoided" in out


def _rows(out: str, run: str) -> list[list[str]]:
    """The cells of the table rows (runs, positions) whose first cell is ``run``."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells and cells[0] == run:
            rows.append(cells)
    return rows


def test_the_table_says_in_words_when_a_stop_filled_past_bankruptcy_went_below_zero(
    gap_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "--prices",
            f"{BTC}={gap_csv}",
            "--open",
            f"{BTC},long,20x",
            "--baselines",
            "static-stop",
            "--venue",
            "bybit",  # no market price band: the stop fills in the gap
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    runs_row, position_row = _rows(out, "static-stop")
    assert runs_row[1] == "0"  # no liquidation ...
    assert runs_row[2] == "0.00"  # ... and no shortfall, but:
    assert re.fullmatch(r"yes \(min -[\d,]+\.\d\d\)", runs_row[-1])
    assert re.fullmatch(r"yes \(min -[\d,]+\.\d\d\)", position_row[-1])


def test_a_window_replays_only_that_stretch(
    crash_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "replay",
            "--prices",
            f"{BTC}={crash_csv}",
            "--open",
            f"{BTC},short,3x",
            "--from",
            "2023-11-15T00:00Z",
            "--to",
            "2023-11-15T00:30Z",
            "--poll-interval-s",
            "60",
            "--baselines",
            "",
            "--json",
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(document["runs"]) == {"guard"}
    assert document["runs"]["guard"]["cycles"] == 31  # minutes 0 to 30, both ends
    assert document["saved"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--open", f"{BTC},long,20x"], "riskguard replay: replay: no prices"),
        (["--prices", f"{BTC}=CSV", "--open", f"{BTC},sideways,20x"], "side must be long or"),
        (["--prices", f"{BTC}=CSV", "--open", f"{BTC},long,3x", "--baselines", "x"], "unknown"),
        (["--prices", f"{BTC}=nowhere.csv", "--open", f"{BTC},long,3x"], "nowhere.csv: cannot"),
        (["--prices", f"{BTC}=CSV", "--open", f"{BTC},long,3x", "--from", "soon"], "not a time"),
    ],
)
def test_bad_options_are_one_line_on_stderr_and_exit_2(
    crash_csv: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["replay", *[a.replace("CSV", str(crash_csv)) for a in args]]

    code = main(argv)

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_report_writes_a_png_per_position_and_an_index(
    crash_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "report"

    code = main(
        [
            "replay",
            "--prices",
            f"{BTC}={crash_csv}",
            "--open",
            f"{BTC},long,20x",
            "--poll-interval-s",
            "30",
            "--report",
            str(folder),
            "--json",
        ]
    )

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["report"] == str(folder / "index.html")
    (png,) = folder.glob("*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.name in (folder / "index.html").read_text(encoding="utf-8")
