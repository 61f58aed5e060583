"""The replay report: one PNG per position and an index.html that explains them, escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mimage

from riskguard.replay import OpenSpec, build_scenario, replay
from riskguard.replay.report import (
    DPI,
    FIGSIZE_IN,
    MAX_POINTS,
    _chart_title,
    _liquidation_time,
    _thin,
    write_report,
)
from riskguard.replay.result import AccountResult, ReplayResult, RunSeries, negative_words
from riskguard.replay.runner import format_time
from tests.replay.conftest import MINUTE, T0, crash_closes, write_klines

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHARTS = {"replay-BTC-USDT-USDT-long.png", "replay-ETH-USDT-USDT-long.png"}


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> ReplayResult:
    """A 20x BTC long and a 10x ETH long through a 30% fall (one price file for both)."""
    csv = write_klines(tmp_path_factory.mktemp("prices") / "crash.csv", crash_closes())
    scenario = build_scenario(
        prices=[(BTC, csv), (ETH, csv)],
        opens=[OpenSpec(BTC, "long", 20), OpenSpec(ETH, "long", 10)],
        poll_interval_s=60,
    )
    return replay(scenario)


@pytest.fixture(scope="module")
def report(crash: ReplayResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(crash, tmp_path_factory.mktemp("out") / "nested" / "report")


class _Page(HTMLParser):
    """Tables (rows of cell texts), images (attributes) and summaries of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[dict[str, str | None]] = []
        self.summaries: list[str] = []
        self._cell: list[str] | None = None
        self._summary: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs))
        elif tag == "summary":
            self._summary = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "summary" and self._summary is not None:
            self.summaries.append("".join(self._summary))
            self._summary = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._summary):
            if sink is not None:
                sink.append(data)

    def table(self, first_header: str, second_header: str) -> list[dict[str, str]]:
        """The rows of the table whose header starts with these two columns, by header."""
        for table in self.tables:
            head, *rows = table
            if head[:2] == [first_header, second_header]:
                return [dict(zip(head, row, strict=True)) for row in rows]
        raise AssertionError(f"no table starting with {first_header}, {second_header}")


def _page(index: Path) -> _Page:
    return _Page(index.read_text(encoding="utf-8"))


def test_write_report_creates_the_folder_and_one_png_per_position(report: Path) -> None:
    assert report.name == "index.html"
    assert report.is_file()
    assert {p.name for p in report.parent.glob("*.png")} == CHARTS


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_is_a_png_of_the_figure_size_with_something_drawn(
    report: Path, name: str
) -> None:
    path = report.parent / name
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = mimage.imread(path)
    height, width = round(FIGSIZE_IN[1] * DPI), round(FIGSIZE_IN[0] * DPI)
    assert pixels.shape[:2] == (height, width)
    assert pixels.shape[2] in (3, 4)
    assert float(np.std(pixels[..., :3])) > 0.05  # not a blank canvas


def test_index_gives_each_runs_final_equity_liquidations_and_cycles(
    crash: ReplayResult, report: Path
) -> None:
    rows = {r["run"]: r for r in _page(report).table("run", "liquidations")}
    assert list(rows) == ["guard", "none", "static-stop"]
    for name, run in crash.runs.items():
        assert rows[name]["final equity"] == f"{run.totals.final_equity:,.2f}"
        assert rows[name]["liquidations"] == str(run.totals.liquidations)
        assert rows[name]["cycles"] == f"{run.cycles:,}"
        assert rows[name]["alerts"] == f"{run.alerts:,}"
        assert rows[name]["went negative"] == run.negative_words()
    assert rows["none"]["liquidations"] == "2"
    assert rows["guard"]["went negative"] == "no"


def test_index_gives_each_accounts_lowest_equity_and_whether_it_went_negative(
    crash: ReplayResult, report: Path
) -> None:
    rows = _page(report).table("run", "account")
    expected = [(name, a) for name, run in crash.runs.items() for a in run.accounts]
    assert len(rows) == len(expected) == 3
    for row, (name, account) in zip(rows, expected, strict=True):
        assert (row["run"], row["account"]) == (name, account.account)
        assert row["start equity"] == "10,000.00"
        assert row["final equity"] == f"{account.final_equity:,.2f}"
        assert row["min equity"] == f"{account.min_equity:,.2f}"
        assert row["went negative"] == (
            "no" if not account.negative else negative_words(account.min_equity)
        )


def test_index_flags_the_liquidated_positions_of_each_run(
    crash: ReplayResult, report: Path
) -> None:
    rows = _page(report).table("account", "symbol")
    flags = {(r["symbol"], r["run"]): r["liquidated"] for r in rows if "run" in r}
    assert flags == {
        (p.symbol, name): "yes" if p.liquidated else "no"
        for name, run in crash.runs.items()
        for p in run.positions
    }
    assert flags[(BTC, "none")] == "yes"
    assert flags[(BTC, "guard")] == "no"
    by_run = {(r["symbol"], r["run"]): r for r in rows if "run" in r}
    guard_btc = crash.runs["guard"].position(("replay", BTC, "long"))
    assert guard_btc is not None
    assert by_run[(BTC, "guard")]["final equity"] == f"{guard_btc.final_equity:,.2f}"
    assert by_run[(BTC, "guard")]["actions"] == str(len(guard_btc.actions))
    assert by_run[(BTC, "guard")]["went negative"] == "no"
    for name, run in crash.runs.items():
        for p in run.positions:
            words = by_run[(p.symbol, name)]["went negative"]
            assert words == ("no" if not p.negative else f"yes (min {p.min_equity:,.2f})")


def test_index_says_what_the_guard_saved_against_each_baseline(
    crash: ReplayResult, report: Path
) -> None:
    rows = {r["against"]: r for r in _page(report).table("against", "final equity (more)")}
    saved = crash.saved()
    assert set(rows) == {"none", "static-stop"}
    for name, figures in saved.items():
        assert rows[name]["final equity (more)"] == f"{figures['final_equity']:+,.2f}"
        for what in ("accounts", "positions"):
            avoided = int(figures[f"negative_{what}"])
            assert rows[name][f"negative {what} avoided"] == (f"{avoided:+d}" if avoided else "0")
    assert rows["none"]["liquidations avoided"] == "+2"


def test_index_says_what_protection_cost_against_each_baseline(
    crash: ReplayResult, report: Path
) -> None:
    rows = {r["against"]: r for r in _page(report).table("against", "gave up")}
    assert set(rows) == {"none", "static-stop"}
    for name, cost in crash.cost().items():
        assert rows[name]["gave up"] == f"{float(cost['gave_up']):,.2f}"
        assert rows[name]["positions"] == str(cost["positions"])


def test_index_says_in_words_how_low_a_position_and_its_account_went(
    crash: ReplayResult, tmp_path: Path
) -> None:
    """A stop filled far past bankruptcy: no liquidation, no shortfall, and the page says it."""
    guard = crash.runs["guard"]
    btc = guard.position(("replay", BTC, "long"))
    assert btc is not None
    sunk = replace(btc, min_equity=-8_779.12, negative=True)
    (account,) = guard.accounts
    owing = AccountResult(account.account, 10_000.0, -3_779.12, -3_779.12, negative=True)
    positions = tuple(sunk if p.key == btc.key else p for p in guard.positions)
    runs = {**crash.runs, "guard": replace(guard, positions=positions, accounts=(owing,))}

    index = write_report(replace(crash, runs=runs), tmp_path)

    page = _page(index)
    text = index.read_text(encoding="utf-8")
    assert {r["run"]: r for r in page.table("run", "liquidations")}["guard"]["went negative"] == (
        "yes (min -3,779.12)"
    )
    positions_rows = {(r["symbol"], r["run"]): r for r in page.table("account", "symbol")}
    assert positions_rows[(BTC, "guard")]["went negative"] == "yes (min -8,779.12)"
    assert positions_rows[(BTC, "guard")]["liquidated"] == "no"
    accounts_rows = {r["run"]: r for r in page.table("run", "account")}
    assert accounts_rows["guard"]["min equity"] == "-3,779.12"
    assert '<span class="bad">yes (min -3,779.12)</span>' in text


def test_index_shows_each_chart_with_its_file_and_a_description(report: Path) -> None:
    images = _page(report).images
    assert {i["src"] for i in images} == CHARTS
    for image in images:
        assert image["alt"]
        assert "long" in str(image["alt"])


def test_index_lists_the_guards_actions_per_position_in_time_order(
    crash: ReplayResult, report: Path
) -> None:
    page = _page(report)
    action_tables = [t for t in page.tables if t[0][:2] == ["time (UTC)", "kind"]]
    guard = crash.runs["guard"]
    assert len(action_tables) == len(guard.positions)
    for position, table in zip(guard.positions, action_tables, strict=True):
        assert position.actions, "the guard acts on a 20x long in a 30% fall"
        listed = [(row[0], row[1]) for row in table[1:]]
        assert listed == [(format_time(a.time_ms), a.kind) for a in position.actions]
    assert page.summaries == [f"The guard's actions ({len(p.actions)})" for p in guard.positions]


def test_the_none_baseline_liquidation_is_found_where_its_size_falls_to_zero(
    crash: ReplayResult,
) -> None:
    key = ("replay", BTC, "long")
    when = _liquidation_time(crash.runs["none"], key)
    assert when is not None
    assert T0 + 60 * MINUTE < when <= T0 + 120 * MINUTE  # during the fall
    assert _liquidation_time(crash.runs["guard"], key) is None


def test_the_chart_title_compares_the_guard_with_the_baselines(crash: ReplayResult) -> None:
    title = _chart_title(crash, ("replay", BTC, "long"), several_accounts=False)
    assert title.startswith(f"{BTC} long 20x isolated")
    assert "none " in title
    assert "(liquidated)" in title
    assert "guard " in title
    assert "static-stop " in title


def _two_accounts(result: ReplayResult, accounts: dict[str, str]) -> ReplayResult:
    """The same runs with each symbol's position moved to the account named for it."""
    runs = {}
    for name, run in result.runs.items():
        equity = next(iter(run.series.equity.values()))
        series = RunSeries(
            times_ms=run.series.times_ms,
            equity=dict.fromkeys(accounts.values(), equity),
            positions={
                (accounts[symbol], symbol, side): track
                for (_, symbol, side), track in run.series.positions.items()
            },
        )
        positions = tuple(replace(p, account=accounts[p.symbol]) for p in run.positions)
        runs[name] = replace(run, positions=positions, series=series)
    return replace(result, runs=runs)


def test_hostile_names_and_notes_are_escaped_and_file_names_are_safe(
    crash: ReplayResult, tmp_path: Path
) -> None:
    script = '<script>alert("x")</script>'
    desk = r"desk $\frac$ <img src=x onerror=alert(1)>"  # and invalid mathtext for the chart
    hostile = _two_accounts(crash, {BTC: desk, ETH: script})
    hostile = replace(hostile, inputs={**hostile.inputs, "notes": [f"{script} & more"]})

    index = write_report(hostile, tmp_path)

    text = index.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in text
    names = {p.name for p in tmp_path.glob("*.png")}
    assert len(names) == 2
    assert all(re.fullmatch(r"replay-[A-Za-z0-9._-]+\.png", n) for n in names)
    assert "replay-desk-frac-img-src-x-onerror-alert-1-BTC-USDT-USDT-long.png" in names
    assert "desk $\\frac$ &lt;img" in text
    assert {i["src"] for i in _page(index).images} == names


def test_without_a_guard_run_the_first_runs_positions_are_charted(
    crash: ReplayResult, tmp_path: Path
) -> None:
    none = crash.runs["none"]
    btc_only = replace(none, positions=tuple(p for p in none.positions if p.symbol == BTC))
    only_none = replace(crash, runs={"none": btc_only})

    index = write_report(only_none, tmp_path)

    assert [p.name for p in tmp_path.glob("*.png")] == ["replay-BTC-USDT-USDT-long.png"]
    text = index.read_text(encoding="utf-8")
    assert "nothing to compare" in text
    assert "The guard&#x27;s actions" not in text
    assert "The guard's actions" not in text


def test_thinning_a_long_line_keeps_its_wicks_and_its_time_order() -> None:
    n = 100_000
    times = np.arange(n).astype("datetime64[ms]")
    values = np.full(n, 100.0)
    values[31_337] = 40.0  # a one-sample wick down
    values[77_777] = 130.0  # and one up
    values[50_000:50_010] = np.nan

    thin_times, thin_values = _thin(times, values)

    assert len(thin_values) <= MAX_POINTS
    assert np.nanmin(thin_values) == 40.0
    assert np.nanmax(thin_values) == 130.0
    assert bool(np.all(np.diff(thin_times.astype(np.int64)) > 0))


def test_a_short_line_is_not_thinned() -> None:
    times = np.arange(10).astype("datetime64[ms]")
    values = np.linspace(1.0, 2.0, 10)

    thin_times, thin_values = _thin(times, values)

    assert thin_times is times
    assert thin_values is values
