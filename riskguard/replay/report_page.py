"""A replay's ``index.html``: what was replayed, the runs, what the guard saved, each position.

Sections in order: the inputs (venue, poll interval, window, price files, how long the replay
took, the positions opened, notes), each run's totals and accounts (whether one went below zero,
in words), what the guard saved against each baseline, each position's figures per run, then
per position its chart and the guard's actions. Self-contained: inline CSS, no script, no
external file but the charts beside it. Every text from the result is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from riskguard.replay.report_chart import DPI, FIGSIZE_IN
from riskguard.replay.report_numbers import amount, count, num, price, signed
from riskguard.replay.report_positions import PositionKey, reference_run
from riskguard.replay.result import PositionResult, ReplayResult, negative_words
from riskguard.replay.runner import format_time


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Callable[[int], bool]
) -> str:
    """A table whose cells are already escaped; ``numeric(i)`` right-aligns column ``i``."""
    cls = [' class="num"' if numeric(i) else "" for i in range(len(head))]
    lines = ["<table>", "<thead><tr>"]
    lines += [f"<th{c}>{_e(h)}</th>" for h, c in zip(head, cls, strict=True)]
    lines.append("</tr></thead><tbody>")
    for row in rows:
        cells = "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cls, strict=True))
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.bad { color: #b00020; font-weight: 600; } .good { color: #1b7a1b; }
details { margin: 0.5em 0 2em; } summary { cursor: pointer; font-weight: 600; }
"""


def index_html(
    result: ReplayResult, keys: Sequence[PositionKey], names: Mapping[PositionKey, str]
) -> str:
    """The whole page for the positions ``keys``, whose charts are the files ``names``."""
    symbols = sorted({k[1] for k in keys})
    title = "riskguard replay" + (f": {', '.join(symbols)}" if symbols else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _inputs_html(result),
        "<h2>Runs</h2>",
        _runs_html(result),
        "<h2>What the guard saved</h2>",
        _saved_html(result),
        "<h2>Positions</h2>",
        _positions_html(result, keys),
    ]
    several = len({k[0] for k in keys}) > 1
    parts += [_position_section(result, k, names[k], several_accounts=several) for k in keys]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _window(result: ReplayResult) -> str:
    inputs = result.inputs
    start, end = inputs.get("from"), inputs.get("to")
    run = reference_run(result)
    times = run.series.times_ms if run is not None else []
    first = format_time(times[0]) + " UTC" if times else "the start of the file"
    last = format_time(times[-1]) + " UTC" if times else "its end"
    return f"{start or first} to {end or last}"


def _inputs_html(result: ReplayResult) -> str:
    inputs = result.inputs
    rows: list[tuple[str, str]] = []
    if "venue" in inputs:
        rows.append(("venue", _e(inputs["venue"])))
    if "poll_interval_s" in inputs:
        rows.append(("poll interval", f"{_e(inputs['poll_interval_s'])} s"))
    rows.append(("window", _e(_window(result))))
    prices = inputs.get("prices")
    if isinstance(prices, Mapping) and prices:
        files = "<br>".join(f"{_e(s)}: <code>{_e(f)}</code>" for s, f in prices.items())
        rows.append(("price files", files))
    known = {"venue", "poll_interval_s", "prices", "from", "to", "accounts", "notes"}
    rows += [(str(k), _e(v)) for k, v in inputs.items() if k not in known]
    rows.append(("replay took", f"{result.wall_s:,.1f} s"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    out = [f"<h2>What was replayed</h2>\n<dl>{dl}</dl>"]

    position_rows: list[list[str]] = []
    accounts = inputs.get("accounts")
    for account in accounts if isinstance(accounts, Sequence) else []:
        if not isinstance(account, Mapping):
            continue
        for p in account.get("positions", []) or []:
            if not isinstance(p, Mapping):
                continue
            notional, size = p.get("notional"), p.get("size")
            position_rows.append(
                [
                    _e(account.get("id", "")),
                    num(_float(account.get("balance"))),
                    _e(p.get("symbol", "")),
                    _e(p.get("side", "")),
                    _e(f"{_float(p.get('leverage')) or 0:g}x"),
                    _e(p.get("margin_mode", "")),
                    num(_float(notional)) if notional is not None else "—",
                    amount(_float(size)) if size is not None else "—",
                ]
            )
    if position_rows:
        head = ["account", "balance", "symbol", "side", "leverage", "mode", "notional", "size"]
        out.append("<h3>Opened at the first price</h3>")
        out.append(_table(head, position_rows, lambda i: i in (1, 4, 6, 7)))
    notes = inputs.get("notes")
    if isinstance(notes, Sequence) and not isinstance(notes, str) and notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes)
        out.append(f"<h3>Notes</h3>\n<ul>{items}</ul>")
    return "\n".join(out)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _runs_html(result: ReplayResult) -> str:
    head = [
        "run",
        "liquidations",
        "shortfall",
        "start equity",
        "final equity",
        "fees",
        "funding",
        "alerts",
        "cycles",
        "went negative",
    ]
    rows = []
    for run in result.runs.values():
        t = run.totals
        liq = f'<span class="bad">{t.liquidations}</span>' if t.liquidations else "0"
        rows.append(
            [
                _e(run.name),
                liq,
                num(t.shortfall),
                num(t.start_equity),
                num(t.final_equity),
                num(t.fees),
                num(t.funding),
                f"{run.alerts:,}",
                f"{run.cycles:,}",
                _negative(run.negative_words(), bad=run.negative),
            ]
        )
    note = (
        "<p>Money in the settlement currency. Shortfall: losses past a position's collateral, "
        "paid by the venue's insurance fund (a debt on some venues). Went negative: whether an "
        "account's equity (wallet, isolated margins and unrealised PnL) went below zero at any "
        "price tick, and its lowest; a fill past bankruptcy counts at the fill, before any "
        "insurance fund pays. When only a position did, the count and its lowest say so.</p>"
    )
    out = note + _table(head, rows, lambda i: 0 < i < len(head) - 1)
    account_rows = [
        [
            _e(run.name),
            _e(a.account),
            num(a.start_equity),
            num(a.final_equity),
            num(a.min_equity),
            _negative(negative_words(a.min_equity), bad=a.negative),
        ]
        for run in result.runs.values()
        for a in run.accounts
    ]
    if account_rows:
        head = ["run", "account", "start equity", "final equity", "min equity", "went negative"]
        out += "\n<h3>Accounts</h3>\n" + _table(head, account_rows, lambda i: 2 <= i <= 4)
    return out


def _negative(words: str, *, bad: bool) -> str:
    """``went negative`` words, escaped, marked when something went below zero."""
    return f'<span class="bad">{_e(words)}</span>' if bad else _e(words)


def _saved_html(result: ReplayResult) -> str:
    saved = result.saved()
    if not saved:
        return "<p>No guard run or no baseline: nothing to compare.</p>"
    head = [
        "against",
        "final equity (more)",
        "shortfall avoided",
        "liquidations avoided",
        "fees (less)",
        "negative accounts avoided",
        "negative positions avoided",
    ]
    rows = []
    for name, figures in saved.items():
        equity = float(figures["final_equity"])
        cls = "good" if equity > 0 else "bad" if equity < 0 else ""
        rows.append(
            [
                _e(name),
                f'<span class="{cls}">{signed(equity)}</span>' if cls else signed(equity),
                signed(float(figures["shortfall"])),
                count(int(figures["liquidations"])),
                signed(float(figures["fees"])),
                count(int(figures["negative_accounts"])),
                count(int(figures["negative_positions"])),
            ]
        )
    note = "<p>Positive: the guard did better than the baseline.</p>"
    costs = result.cost()
    cost_rows = [
        [_e(name), num(float(c["gave_up"])), str(int(c["positions"]))] for name, c in costs.items()
    ]
    cost_note = (
        "<p>The cost of protection: on the positions where the baseline ended with more equity "
        "(a rally the guard cut, a stop that never fired), what the guard gave up.</p>"
    )
    return (
        note
        + _table(head, rows, lambda i: i > 0)
        + cost_note
        + _table(["against", "gave up", "positions"], cost_rows, lambda i: i > 0)
    )


def _positions_html(result: ReplayResult, keys: Sequence[PositionKey]) -> str:
    head = [
        "account",
        "symbol",
        "side",
        "run",
        "liquidated",
        "margin",
        "shortfall",
        "final equity",
        "min distance %",
        "actions",
        "went negative",
    ]
    rows = []
    for key in keys:
        for run in result.runs.values():
            p = run.position(key)
            if p is None:
                continue
            rows.append(
                [
                    _e(p.account),
                    _e(p.symbol),
                    _e(p.side),
                    _e(run.name),
                    '<span class="bad">yes</span>' if p.liquidated else "no",
                    num(p.initial_margin),
                    num(p.shortfall),
                    num(p.final_equity),
                    num(p.min_distance_pct),
                    f"{len(p.actions):,}",
                    _negative(negative_words(p.min_equity), bad=p.negative),
                ]
            )
    note = (
        "<p>Margin: put into the position when it was opened. Final equity: what is left of "
        "it (below zero when the loss went past it and no shortfall covered it). Min distance: "
        "the smallest distance from the mark to the liquidation price at any poll "
        "(0 when liquidated). Went negative: whether the position's own equity (its margin plus "
        "what it made or lost so far, fees and funding included) went below zero at any price "
        "tick, and its lowest.</p>"
    )
    return note + _table(head, rows, lambda i: 5 <= i < len(head) - 1)


def _position_section(
    result: ReplayResult, key: PositionKey, png: str, *, several_accounts: bool
) -> str:
    account, symbol, side = key
    heading = f"{symbol} {side}" + (f" (account {account})" if several_accounts else "")
    alt = f"{symbol} {side}, account {account}: mark, liquidation and stop prices, the guard's "
    alt += "actions, and each run's equity over time"
    out = [
        f"<h2>{_e(heading)}</h2>",
        f'<p><img src="{_e(png)}" alt="{_e(alt)}" width="{int(FIGSIZE_IN[0] * DPI)}" '
        f'height="{int(FIGSIZE_IN[1] * DPI)}"></p>',
    ]
    guard = result.runs.get("guard")
    position: PositionResult | None = guard.position(key) if guard is not None else None
    if position is None:
        return "\n".join(out)
    rows = [
        [
            _e(format_time(a.time_ms)),
            _e(a.kind),
            _e(a.rule or ""),
            amount(a.contracts),
            price(a.price),
            _e(a.detail),
        ]
        for a in position.actions
    ]
    out.append(f"<details><summary>The guard's actions ({len(rows):,})</summary>")
    if rows:
        head = ["time (UTC)", "kind", "rule", "contracts", "price", "detail"]
        out.append(_table(head, rows, lambda i: i in (3, 4)))
    else:
        out.append("<p>The guard did nothing to this position.</p>")
    out.append("</details>")
    return "\n".join(out)
