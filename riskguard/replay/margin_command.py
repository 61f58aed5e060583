"""``riskguard replay-margin FILE``: borrowed spot margin accounts through a price history, each
once guarded and once alone, on the paper spot margin venue; a table (or JSON) of what each
ended with.

FILE holds a ``spot_margin:`` section (the paper venue: markets with their price feeds, rules,
accounts and the orders that open their positions; see ``riskguard.paper.spot_margin.config``)
and optionally ``guard: {poll_interval_s, spot_margin: {...}}``, the guard's cycle and its spot
margin thresholds as in a daemon config. The exit code is 0 when no guarded account was
liquidated or went below zero, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from rich.console import Console
from rich.table import Table

from riskguard.config import SpotMarginRuleConfig
from riskguard.errors import ConfigError
from riskguard.guard.spot_margin.judge import settings_from
from riskguard.paper.spot_margin.config import SpotMarginConfig, parse_spot_margin_config
from riskguard.replay.spot_margin import MarginReplayOutcome, replay_spot_margin
from riskguard.validation import StrictModel, finite_json, load_yaml, problem_lines, read_text

# The parser's options live in riskguard.cli.main (no import of this module to print --help).

EXIT_FAILED = 1


class _GuardIn(StrictModel):
    """The part of a daemon's ``guard:`` section a margin replay uses."""

    poll_interval_s: float = Field(10.0, gt=0, le=3_600, description="simulated s between cycles")
    spot_margin: SpotMarginRuleConfig = SpotMarginRuleConfig()


def load(path: Path) -> tuple[SpotMarginConfig, _GuardIn]:
    """The venue section and the guard settings of ``path``; one-line errors by field."""
    source = str(path)
    document = load_yaml(read_text(path, source, ConfigError), source)
    if not isinstance(document, dict) or "spot_margin" not in document:
        raise ConfigError(f"{source}: spot_margin: section missing")
    extra = sorted(set(document) - {"spot_margin", "guard"})
    if extra:
        raise ConfigError(f"{source}: {extra[0]}: not a section of a margin replay")
    venue = parse_spot_margin_config(document["spot_margin"], source)
    try:
        guard = _GuardIn.model_validate(document.get("guard") or {})
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(problem_lines(exc, "guard"))) from None
    return venue, guard


def _row(outcome: MarginReplayOutcome) -> dict[str, Any]:
    return {
        "account": outcome.account,
        "guarded": outcome.guarded,
        "liquidations": outcome.liquidations,
        "min_margin_level": outcome.min_level,
        "min_equity": outcome.min_equity,
        "end_equity": outcome.equity,
        "guard_orders": outcome.orders,
        "stale_cycles": outcome.stale_cycles,
        "went_negative": outcome.went_negative,
    }


def run(args: argparse.Namespace) -> int:
    """Replay every account guarded, then alone; print; the exit code."""
    path = Path(args.file)
    venue, guard = load(path)
    ids = [a.id for a in venue.accounts]
    settings = settings_from(guard.spot_margin)
    common = {"settings": settings, "poll_s": guard.poll_interval_s, "base_dir": path.parent}
    guarded = replay_spot_margin(venue, guarded=ids, **common)  # type: ignore[arg-type]
    alone = replay_spot_margin(venue, guarded=(), **common)  # type: ignore[arg-type]
    rows = [_row(o) for pair in zip(guarded, alone, strict=True) for o in pair]
    failed = any(o.liquidations or o.went_negative for o in guarded)
    if args.json:
        sys.stdout.write(finite_json({"accounts": rows, "guard_failed": failed}) + "\n")
    else:
        table = Table(title=f"riskguard replay-margin {path.name}")
        for name in ("account", "guard", "liquidations", "min level", "min equity", "end equity",
                     "guard orders"):  # fmt: skip
            table.add_column(name, justify="left" if name in ("account", "guard") else "right")
        for r in rows:
            table.add_row(
                r["account"],
                "guarded" if r["guarded"] else "alone",
                str(r["liquidations"]),
                f"{r['min_margin_level']:.3f}",
                f"{r['min_equity']:,.2f}" + (" (below zero)" if r["went_negative"] else ""),
                f"{r['end_equity']:,.2f}",
                str(r["guard_orders"]),
            )
        console = Console(width=max(100, Console().width))
        console.print(table)
        verdict = (
            "FAILED: a guarded account was liquidated or went below zero"
            if failed
            else ("no guarded account was liquidated or went below zero")
        )
        console.print(verdict)
    return EXIT_FAILED if failed else 0
