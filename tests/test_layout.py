"""The house's layout: packages by concern, imports that run downward only, small modules.

The import rules are import-linter contracts in ``pyproject.toml``; these tests run them on this
tree and on a copy with one forbidden import added, so a contract that could never fail would be
caught here.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import riskguard

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "riskguard"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_MODULE_LINES = 700
MAX_LOOSE_MODULES = 6


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own venv's linter, fixed arguments)
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_hold_on_this_tree() -> None:
    result = _lint_imports(REPO)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("risk/distance.py", "import riskguard.daemon.scheduler", "risk is pure math"),
        ("risk/margin.py", "import ccxt", "risk is pure math"),
        ("guard/planner/plan.py", "import riskguard.cli.main", "the guard never reaches up"),
        ("guard/cycle.py", "import riskguard.replay.runner", "the guard never reaches up"),
        ("guard/rules/base.py", "import sqlite3", "rules and planner are pure"),
        ("exchange/markets.py", "import riskguard.guard.cycle", "the adapters"),
        ("paper/feeds.py", "import riskguard.exchange.live", "know nothing of each other"),
        ("paper/state.py", "import riskguard.testing", "no production package imports"),
        ("testing/paper.py", "import riskguard.guard.cycle", "the test kit builds from"),
    ],
)
def test_import_contracts_break_when_a_forbidden_import_is_added(
    tmp_path: Path, module: str, forbidden_import: str, contract: str
) -> None:
    shutil.copytree(PACKAGE, tmp_path / "riskguard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "riskguard" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{forbidden_import}\n")

    importer = "riskguard." + module.removesuffix(".py").replace("/", ".")
    imported = forbidden_import.removeprefix("import ")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert "Broken contracts" in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert f"{importer} -> {imported}" in broken


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_under_riskguard_is_over_700_lines() -> None:
    sizes = {
        p.relative_to(REPO): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()
    }

    too_long = {str(path): lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}

    assert too_long == {}


def test_the_top_folder_holds_at_most_six_loose_modules() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")

    assert len(loose) <= MAX_LOOSE_MODULES, loose


def test_every_top_level_package_says_what_it_owns_and_what_it_may_import() -> None:
    packages = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))
    assert {p.name for p in packages} >= {"risk", "guard", "exchange", "paper", "alerts"}

    silent = []
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        if not doc or "import" not in doc:
            silent.append(package.name)

    assert silent == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        *riskguard.MOVED_MODULES.items(),
        ("riskguard.rules.registry", "riskguard.guard.rules.registry"),
        ("riskguard.enforce.executor", "riskguard.guard.enforce.executor"),
    ],
)
def test_a_moved_module_path_imports_the_same_module_with_a_deprecation_warning(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    current = importlib.import_module(new)
    for name in [n for n in sys.modules if n == old or n.startswith(old + ".")]:
        monkeypatch.delitem(sys.modules, name)

    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        moved = importlib.import_module(old)

    assert moved is current
    assert current.__spec__ is not None
    assert current.__spec__.name == new


def test_an_unmoved_name_is_not_taken_by_the_moved_module_finder() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("riskguard.rulesets")


def test_the_guard_package_hands_out_the_cycle_s_names() -> None:
    import riskguard.guard
    import riskguard.guard.cycle
    import riskguard.guard.risk_inputs

    assert riskguard.guard.Guard is riskguard.guard.cycle.Guard
    assert riskguard.guard.guard_risk_settings is riskguard.guard.risk_inputs.guard_risk_settings
    with pytest.raises(AttributeError, match="no attribute 'Planner'"):
        _ = riskguard.guard.Planner
