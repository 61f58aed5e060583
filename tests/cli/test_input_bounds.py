"""Every command turns a hostile input into a result or one line naming the field or file.

Each test here reproduces a defect found by a session (issue 15, part 4): a traceback or a silent
wrong value for deep nesting, huge numbers, duplicate YAML keys, and configs that ``validate``
accepted but ``run`` could not build.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskguard.cli.main import main
from riskguard.errors import InputError
from riskguard.validation import MAX_DEPTH, finite_json
from tests.daemon.conftest import paper_config, write_config


def _snapshot(risk: dict[str, Any] | None = None, **overrides: object) -> dict[str, Any]:
    position: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "side": "long",
        "size": 1,
        "entry_price": 100000,
        "mark_price": 100000,
        "collateral": 10000,
        "maintenance_margin_rate": 0.005,
    }
    position.update(overrides)
    document: dict[str, Any] = {"venue": "binance", "positions": [position]}
    if risk is not None:
        document["risk"] = risk
    return document


def _calc(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["calc", "-", "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------- calc


def test_calc_refuses_json_nested_100000_deep_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _calc(monkeypatch, capsys, "[" * 100_000 + "]" * 100_000)

    assert code == 2
    assert out == ""
    assert f"nested deeper than {MAX_DEPTH}" in _one_line(err)


def test_calc_accepts_brackets_inside_strings_when_counting_depth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _calc(monkeypatch, capsys, json.dumps(_snapshot(symbol="[" * 500 + '"\\"')))

    assert code == 0, err


def test_calc_refuses_a_daily_volatility_of_1e308_by_its_field(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(_snapshot(risk={"daily_volatility_pct": 1e308}))

    code, out, err = _calc(monkeypatch, capsys, text)

    assert code == 2
    assert out == ""
    assert "risk.daily_volatility_pct: Input should be less than or equal to 1000" in _one_line(err)


@pytest.mark.parametrize("size", [1, 10])
def test_calc_refuses_a_short_entered_at_1e308_instead_of_printing_infinity(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], size: int
) -> None:
    text = json.dumps(_snapshot(side="short", size=size, entry_price=1e308))

    code, out, err = _calc(monkeypatch, capsys, text)

    assert code == 2
    assert "Infinity" not in out
    assert "positions[0].entry_price: Input should be less than or equal to" in _one_line(err)


def test_calc_refuses_a_wallet_balance_beyond_the_bound(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _snapshot(margin_mode="cross")
    document["wallet_balance"] = 1e300

    code, _, err = _calc(monkeypatch, capsys, json.dumps(document))

    assert code == 2
    assert "wallet_balance: Input should be less than or equal to" in _one_line(err)


def test_calc_refuses_nan_written_in_the_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _calc(monkeypatch, capsys, json.dumps(_snapshot()).replace("100000", "NaN", 1))

    assert code == 2
    assert "positions[0].entry_price" in _one_line(err)


def test_finite_json_names_the_path_of_an_infinite_figure() -> None:
    with pytest.raises(InputError, match=r"account\.equity: .*not finite"):
        finite_json({"account": {"equity": math.inf}, "positions": []})

    assert json.loads(finite_json({"a": [1.5, None]})) == {"a": [1.5, None]}


# ---------------------------------------------------------------- config files


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def _paper_yaml(tmp_path: Path, **sections: Any) -> Path:
    document = paper_config(tmp_path / "journal.sqlite3")
    document.update(sections)
    return write_config(tmp_path, document)


def test_validate_refuses_a_section_given_twice_instead_of_keeping_the_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _paper_yaml(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        "guard: {dry_run: true}\n" + text.replace("guard:", "guard:  # again", 1),
        encoding="utf-8",
    )

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert f"{path}: guard: key given twice" in _one_line(err)


def test_validate_names_a_nested_duplicate_key_by_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "accounts:\n  - id: a\n    exchange: paper\n    exchange: binanceusdm\n", encoding="utf-8"
    )

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "accounts[0].exchange: key given twice" in _one_line(err)


def test_validate_refuses_yaml_nested_100000_deep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("accounts: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert f"nested deeper than {MAX_DEPTH}" in _one_line(err)


def test_validate_refuses_an_alias_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "too large" in _one_line(err)


def test_validate_refuses_a_duplicate_paper_tier_that_run_could_not_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(tmp_path / "journal.sqlite3")
    market = document["paper"]["markets"][0]
    market["tiers"] = [market["tiers"][0], market["tiers"][0], market["tiers"][1]]
    path = write_config(tmp_path, document)

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "paper.markets[0].tiers" in err
    assert "Traceback" not in err


def test_check_of_a_duplicate_paper_tier_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(tmp_path / "journal.sqlite3")
    market = document["paper"]["markets"][0]
    market["tiers"] = [market["tiers"][1], market["tiers"][0]]  # unsorted is fine; equal is not
    market["tiers"][0] = dict(market["tiers"][1])
    path = write_config(tmp_path, document)

    code = main(["check", str(path), "--json"])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "paper.markets[0].tiers" in _one_line(err)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("guard", "poll_interval_s", 1e308),
        ("guard", "poll_interval_s", 86_401),
        ("guard", "latency_s", 1e308),
        ("daemon", "heartbeat_s", 1e308),
        ("daemon", "tier_refresh_s", 1e12),
        ("journal", "retention_days", 1e308),
    ],
)
def test_validate_refuses_intervals_no_scheduler_can_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, field: str, value: float
) -> None:
    path = _paper_yaml(tmp_path, **{section: {field: value}})

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert f"{section}.{field}: Input should be less than or equal to" in err


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_validate_refuses_nan_and_infinity_in_any_float_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = _paper_yaml(tmp_path)
    text = path.read_text(encoding="utf-8").replace("poll_interval_s: 5", f"latency_s: {value}")
    path.write_text(text, encoding="utf-8")

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "guard.latency_s: Input should be a finite number" in err


def test_validate_refuses_a_paper_position_run_could_not_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(tmp_path / "journal.sqlite3")
    document["paper"]["accounts"][0]["positions"][0]["leverage"] = 1000
    path = write_config(tmp_path, document)

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "paper.accounts[0].positions[0]" in err


def test_validate_refuses_a_paced_clock_that_makes_the_poll_unschedulable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = paper_config(tmp_path / "journal.sqlite3")
    document["paper"]["clock"] = {"mode": "paced", "speed": 1e-9}
    path = write_config(tmp_path, document)

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "paper.clock.speed" in err


def test_validate_still_accepts_the_test_kit_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _validate(_paper_yaml(tmp_path), capsys)

    assert code == 0, err
    assert out.strip().endswith(": ok")


def test_validate_refuses_a_ccxt_config_number_that_is_not_finite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "accounts": [
                    {
                        "id": "b",
                        "exchange": "binanceusdm",
                        "api_key_env": "K",
                        "secret_env": "S",
                        "ccxt_config": {"timeout": 1e400},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "accounts[0].ccxt_config.timeout" in err


# ---------------------------------------------------------------- replay


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--poll-interval-s", "1e308"], "--poll-interval-s"),
        (["--poll-interval-s", "nan"], "--poll-interval-s"),
        (["--balance", "inf"], "--balance"),
        (["--balance", "-5"], "--balance"),
        (["--from", "99999999999999999999"], "--from"),
        (["--open", "BTC/USDT:USDT,long,1e308x"], "--open"),
    ],
)
def test_replay_names_the_bad_option_in_one_line(
    capsys: pytest.CaptureFixture[str], options: list[str], named: str
) -> None:
    code = main(["replay", "--prices", "BTC/USDT:USDT=/nonexistent.csv", *options])

    _, err = capsys.readouterr()
    assert code == 2
    assert named in _one_line(err)


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        (
            {"type": "liquidation_distance", "target": {"distance_pct": 12, "sigma": 7e12}},
            "rules[0].target.sigma",
        ),
        (
            {"type": "stop_loss", "buffer": {"distance_pct": 2, "sigma": 4e12}},
            "rules[0].buffer.sigma",
        ),
    ],
)
def test_validate_refuses_sigma_counts_that_check_could_not_evaluate(
    rule: dict[str, Any], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by bench/fuzz_inputs.py: 4e12 sigmas made the stop's buffer overflow in check
    (OverflowError), 7e12 a reduction of a 100% move; no rule takes more than 100 sigmas."""
    path = _paper_yaml(tmp_path, rules=[rule])

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert f"{where}: Input should be less than or equal to 100" in _one_line(err)


def test_validate_refuses_an_empty_ccxt_config_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the suite's fuzzer in CI: ccxt's constructor raised IndexError on a '' key."""
    document = paper_config(tmp_path / "journal.sqlite3")
    document["accounts"][0]["ccxt_config"] = {"": None}
    path = write_config(tmp_path, document)

    code, _, err = _validate(path, capsys)

    assert code == 2
    assert "ccxt_config: an empty key" in err
