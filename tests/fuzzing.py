"""Hostile inputs for the command line: Hypothesis strategies and a harness that classifies what a
command did with them. Used by ``tests/test_fuzz_inputs.py`` (a few hundred examples) and
``bench/fuzz_inputs.py`` (ten thousand).

An outcome is a defect when the command raised (a traceback), exited with an undocumented code,
printed ``Infinity`` or ``NaN`` on stdout, or reported a refusal on more than one line (calc) or
on lines that do not start with the file's name (validate: one line per problem).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from riskguard.cli.main import main
from riskguard.testing import paper_daemon_config

ROOT = Path(__file__).resolve().parents[1]
_NON_FINITE = re.compile(r"\b(-?Infinity|NaN)\b")

INTERESTING_NUMBERS: tuple[Any, ...] = (
    0,
    -0.0,
    1,
    -1,
    0.5,
    2.0**53,
    5e-324,
    1e-320,
    1e-13,
    1e-12,
    1e15,
    1e15 + 1,
    1e16,
    1e100,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
    10**20,
    -(10**20),
    10**400,
    86_400,
    86_401,
    1_000,
    1_001,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command did: exit code, stdout, stderr, and the traceback if it raised."""

    code: int | None
    out: str
    err: str
    crash: str | None = None


def run_cli(argv: Sequence[str], stdin: str | None = None) -> Outcome:
    """Run ``riskguard ARGV`` in this process, capturing its output and any exception."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    code: int | None = None
    crash = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except Exception:
        crash = traceback.format_exc()
    finally:
        sys.stdin = saved_stdin
    return Outcome(code, out.getvalue(), err.getvalue(), crash)


def defects(
    outcome: Outcome,
    codes: Sequence[int],
    error_prefixes: Sequence[str],
    *,
    results: Sequence[int] = (0,),
) -> list[str]:
    """What was wrong with ``outcome`` (empty: a result or a clean refusal).

    ``codes``: the documented exit codes; ``results``: those that may also print a result on
    stdout (check's 1 and 2). Any other exit is a refusal: each of its stderr lines starts with
    one of ``error_prefixes``.
    """
    found = []
    if outcome.crash is not None or "Traceback" in outcome.err:
        found.append("traceback: " + (outcome.crash or outcome.err).strip().splitlines()[-1])
    elif outcome.code not in codes:
        found.append(f"exit code {outcome.code}")
    if _NON_FINITE.search(outcome.out):
        found.append("Infinity/NaN on stdout")
    refused = outcome.code not in results or (outcome.code != 0 and not outcome.out)
    if outcome.crash is None and refused:
        lines = outcome.err.strip().splitlines()
        if not lines:
            found.append("refused without a message")
        bad = [line for line in lines if not line.startswith(tuple(error_prefixes))]
        if bad:
            found.append(f"stray error line: {bad[0][:120]}")
    return found


def is_traceback(problem: str) -> bool:
    return problem.startswith(("traceback", "exit code"))


def is_non_finite(problem: str) -> bool:
    return problem.startswith("Infinity/NaN")


# ---------------------------------------------------------------- documents and mutations

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(INTERESTING_NUMBERS)
    | st.text(max_size=12)
)
json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return document
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return document


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


SCALES = (-1.0, 0.0, 1e-12, 1e-6, 0.5, 2.0, 1e3, 1e6, 1e12, 1e300)


@st.composite
def mutated(draw: st.DrawFn, bases: Sequence[Any], keys: Sequence[str]) -> Any:
    """A copy of one of ``bases`` with one to three changes, most of them to numbers (so most
    documents stay valid enough to reach the math): a number scaled or replaced by an extreme
    one, a value replaced by random JSON, a key deleted, or a known key added somewhere."""
    document = copy.deepcopy(draw(st.sampled_from(list(bases))))
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 3)))):
        paths = _paths(document)
        numbers = [p for p in paths if _is_number(_get(document, p))]
        action = draw(st.sampled_from(("scale", "scale", "number", "number", "replace", "other")))
        if action in ("scale", "number") and numbers:
            path = draw(st.sampled_from(numbers))
            if action == "scale":
                factor = draw(st.sampled_from(SCALES))
                try:
                    value = _get(document, path) * factor
                except OverflowError:  # 10**400 times a float
                    value = math.inf
            else:
                value = draw(st.sampled_from(INTERESTING_NUMBERS) | st.floats())
            document = _set(document, path, value)
            continue
        path = draw(st.sampled_from(paths))
        target = _get(document, path)
        if action == "replace":
            document = _set(document, path, draw(json_values))
        elif path and draw(st.booleans()):
            document = _delete(document, path)
        elif isinstance(target, dict):
            target[draw(st.sampled_from(list(keys)))] = draw(
                st.sampled_from(INTERESTING_NUMBERS) | json_values
            )
    return document


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> str:
    """``text`` with a line duplicated, a slice cut out, or characters inserted."""
    lines = text.splitlines(keepends=True)
    action = draw(st.sampled_from(("duplicate", "cut", "insert", "same")))
    if action == "duplicate" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines)))
        lines.insert(j, lines[i])
        return "".join(lines)
    if action == "cut" and text:
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + text[i + draw(st.integers(1, 20)) :]
    if action == "insert":
        i = draw(st.integers(0, len(text)))
        return (
            text[:i] + draw(st.text(alphabet="[]{}:,-&*!'\"\n .0123456789e", max_size=6)) + text[i:]
        )
    return text


KINDS = ("random", "deep", "text", "text", *("mutated",) * 8)
"""How often each kind of input is drawn: mostly one or two changes to a valid document."""


def _json_text(document: Any) -> str:
    try:
        return json.dumps(document, allow_nan=True)
    except (ValueError, OverflowError):
        return "{}"


# ---------------------------------------------------------------- calc


def calc_bases() -> list[Any]:
    example = json.loads((ROOT / "examples/snapshots/binance_mixed.json").read_text("utf-8"))
    isolated = {
        "venue": "binance",
        "risk": {"daily_volatility_pct": 5, "horizon_s": 60, "gap_moves_pct": [-12, 12]},
        "positions": [
            {
                "symbol": "BTC/USDT:USDT",
                "side": "short",
                "size": 1,
                "entry_price": 100000,
                "mark_price": 100000,
                "collateral": 10000,
                "tiers": [
                    {"min_notional": 0, "max_notional": 50000, "maintenance_margin_rate": 0.004},
                    {"min_notional": 50000, "maintenance_margin_rate": 0.005},
                ],
            }
        ],
    }
    inverse = copy.deepcopy(isolated)
    inverse["positions"][0].update(inverse=True, size=100000, collateral=0.1)
    return [example, isolated, inverse]


CALC_KEYS = (
    "wallet_balance",
    "size",
    "entry_price",
    "mark_price",
    "leverage",
    "collateral",
    "maintenance_amount",
    "maintenance_margin_rate",
    "taker_fee",
    "max_leverage",
    "contract_size",
    "daily_volatility_pct",
    "horizon_s",
    "slippage_pct",
    "gap_moves_pct",
    "min_notional",
    "max_notional",
    "min_size",
    "max_size",
    "margin_mode",
    "inverse",
)


@st.composite
def calc_inputs(draw: st.DrawFn) -> str:
    """The text of a ``calc`` input: random JSON, a mutated valid snapshot, or mangled text."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "random":
        return _json_text(draw(json_values))
    if kind == "deep":
        depth = draw(st.integers(1, 3000))
        return "[" * depth + "]" * draw(st.sampled_from((depth, depth - 1, 0)))
    text = _json_text(draw(mutated(calc_bases(), CALC_KEYS)))
    return draw(text_mutations(text)) if kind == "text" else text


def calc_defects(text: str) -> list[str]:
    """Run ``calc - --json`` (and the table for results) on ``text``."""
    problems = defects(run_cli(["calc", "-", "--json"], stdin=text), (0, 2), ("riskguard calc: ",))
    table = run_cli(["calc", "-"], stdin=text)
    return problems + [p for p in defects(table, (0, 2), ("riskguard calc: ",)) if is_traceback(p)]


# ---------------------------------------------------------------- configs


def _absolute_feeds(document: Any, folder: Path) -> Any:
    paper = document.get("paper") if isinstance(document, dict) else None
    for market in (paper or {}).get("markets", []):
        feed = market.get("feed", {})
        if "csv" in feed:
            feed["csv"] = str((folder / feed["csv"]).resolve())
    return document


def config_bases() -> list[Any]:
    """The example configs (feeds made absolute) and the test kit's paper daemon config."""
    bases: list[Any] = []
    for path in sorted((ROOT / "config").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document = _absolute_feeds(document, path.parent)
        feeds = [m.get("feed", {}) for m in document.get("paper", {}).get("markets", [])]
        if any("csv" in f and not Path(f["csv"]).exists() for f in feeds):
            continue  # ../shared/data is absent here
        bases.append(document)
    bases.append(paper_daemon_config("riskguard-journal.sqlite3"))
    return bases


CONFIG_KEYS = (
    "poll_interval_s",
    "latency_s",
    "volatility_floor_daily_pct",
    "volatility_half_life_s",
    "cooldown_s",
    "fight_window_s",
    "retention_days",
    "snapshot_every_s",
    "heartbeat_s",
    "tier_refresh_s",
    "misfire_grace_s",
    "run_for_s",
    "speed",
    "balance",
    "leverage",
    "notional",
    "size",
    "tiers",
    "min_notional",
    "maintenance_margin_rate",
    "bars",
    "bar_s",
    "start_price",
    "daily_volatility_pct",
    "seed",
    "crash_pct",
    "funding_interval_h",
    "price_tick",
    "amount_step",
    "min_amount",
    "max_leverage",
    "insurance_fund",
    "stress_gaps_pct",
    "distance_pct",
    "sigma",
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """The text of a config file: random YAML, a mutated example, or mangled text."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "random":
        return yaml.safe_dump(draw(json_values))
    if kind == "deep":
        depth = draw(st.integers(1, 3000))
        return "accounts: " + "[" * depth + "]" * depth + "\n"
    document = draw(mutated(config_bases(), CONFIG_KEYS))
    try:
        text = yaml.safe_dump(document, sort_keys=False)
    except (yaml.YAMLError, ValueError, OverflowError):
        text = "{}"
    return draw(text_mutations(text)) if kind == "text" else text


_FOLDER = Path(tempfile.mkdtemp(prefix="riskguard-fuzz-"))


def config_defects(text: str, *, check: bool = False) -> list[str]:
    """Run ``validate`` on ``text`` written to a file; with ``check``, also ``check --json`` on
    a config ``validate`` accepted (whose accounts are all paper: no network)."""
    path = _FOLDER / "config.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = run_cli(["validate", str(path)])
    problems = defects(outcome, (0, 2), (f"{path}: ", "riskguard validate: "))
    if check and outcome.code == 0 and _all_paper(text):
        checked = run_cli(["check", str(path), "--json"])
        problems += defects(checked, (0, 1, 2), ("riskguard check: ",), results=(0, 1, 2))
        if checked.code == 2 and not checked.out:
            problems.append(f"validate accepted, check refused: {checked.err.strip()[:160]}")
    return problems


def _all_paper(text: str) -> bool:
    document = yaml.safe_load(text)
    accounts = document.get("accounts") if isinstance(document, dict) else None
    return bool(accounts) and all(a.get("exchange", "paper") == "paper" for a in accounts)
