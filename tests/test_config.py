"""The configuration file and `riskguard validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskguard.cli.main import main
from riskguard.config import load_config
from riskguard.errors import ConfigError

VALID = """
accounts:
  - {id: main}
guard: {poll_interval_s: 5, dry_run: true}
rules:
  - type: liquidation_distance
    warn: {distance_pct: 15}
    act: {distance_pct: 8}
    critical: {distance_pct: 4}
    target: {distance_pct: 12}
paper:
  markets:
    - symbol: BTC/USDT:USDT
      maintenance_margin_rate: 0.005
      feed: {gbm: {start_price: 100}}
  accounts:
    - {id: main, balance: 1000}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "riskguard.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads_with_its_rules(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, VALID))

    assert config.guard.dry_run is True
    assert [r.type for r in config.rules] == ["liquidation_distance"]
    assert config.paper is not None


def test_validate_says_ok_for_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, VALID)

    code = main(["validate", str(path)])

    assert code == 0
    assert capsys.readouterr().out == f"{path}: ok\n"


def test_validate_reports_every_problem_by_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = VALID.replace("act: {distance_pct: 8}", "act: {distance_pct: 20}").replace(
        "guard: {poll_interval_s: 5, dry_run: true}", "guard: {poll_interval_s: -1, colour: red}"
    )
    path = _write(tmp_path, text)

    code = main(["validate", str(path)])

    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert f"{path}: guard.poll_interval_s: Input should be greater than 0" in err
    assert f"{path}: guard.colour: Extra inputs are not permitted" in err
    assert any(
        line.startswith(f"{path}: rules[0].act.distance_pct: must be below warn.distance_pct")
        for line in err
    )


def test_paper_account_reference_must_exist(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID.replace("- {id: main}\n", "- {id: ghost}\n", 1))

    with pytest.raises(ConfigError, match=r"accounts\[0\].paper_account: no paper account 'ghost'"):
        load_config(path)


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    text = VALID + "  \n"
    text = text.replace(
        "rules:\n",
        "rules:\n"
        "  - {type: liquidation_distance, name: liq}\n"
        "  - {type: liquidation_distance, name: liq}\n",
    )
    path = _write(tmp_path, text)

    with pytest.raises(ConfigError, match="names must be unique; repeated: liq"):
        load_config(path)


def test_unreadable_and_malformed_files_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "accounts: [\n")

    assert main(["validate", str(bad)]) == 2
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"riskguard validate: {bad}: not valid YAML at line")
    assert "cannot read" in err[1]


@pytest.mark.parametrize(
    "ccxt_config",
    ["{options: {portfolioMargin: true}}", "{options: {defaultType: portfolio}}"],
    ids=["binance-pm", "default-type"],
)
def test_a_portfolio_margin_account_is_refused_rather_than_guessed(
    tmp_path: Path, ccxt_config: str
) -> None:
    # Portfolio margin nets risk across the whole book by the venue's own model: not covered.
    text = VALID.replace(
        "- {id: main}\n", f"- {{id: pm, exchange: binance, ccxt_config: {ccxt_config}}}\n", 1
    )

    with pytest.raises(
        ConfigError, match=r"accounts\[0\].*portfolio margin accounts are not covered"
    ):
        load_config(_write(tmp_path, text))
