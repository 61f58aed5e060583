"""``riskguard run`` and ``riskguard check``: wiring, event loop and terminal output.

Both build the runtime from the config (:func:`riskguard.daemon.wiring.build_runtime`). ``run``
starts the metrics endpoint and the daemon; ``check`` runs one cycle per account in alert-only mode
on a memory journal and prints the table (:mod:`riskguard.cli.check`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.live import Live

from riskguard.cli.check import print_table, summarise, to_json
from riskguard.cli.console import action_lines, console_for_output, positions_table, summary_table
from riskguard.config import load_config
from riskguard.daemon.metrics import GuardMetrics, MetricsServer, start_metrics_server
from riskguard.daemon.scheduler import AccountRun, Daemon
from riskguard.daemon.wiring import Runtime, build_runtime
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.observability.logs import configure_logging, secret_env_values
from riskguard.validation import finite_json


def run_daemon(config_path: str | Path, *, once: bool = False) -> int:
    """Run the daemon until a signal (or ``daemon.run_for_s``); the process exit code."""
    config = load_config(config_path)
    configure_logging(
        json=config.logging.json_lines,
        level=config.logging.level,
        secrets=secret_env_values(os.environ),
    )
    runtime = build_runtime(config_path)
    metrics = GuardMetrics()
    console = console_for_output()
    show_live = config.daemon.live_table and console.is_terminal and not once
    live = Live(positions_table([]), console=console, refresh_per_second=4) if show_live else None

    def on_cycle(run: AccountRun) -> None:
        for line in action_lines(run):
            console.print(line)
        if live is not None:
            live.update(positions_table(daemon.runs.values()))

    daemon = Daemon(runtime, metrics=metrics, on_cycle=on_cycle)
    with _metrics_server(config.metrics, metrics, enabled=not once) as server:
        if server is not None:
            console.print(f"metrics on http://{config.metrics.host}:{server.port}/metrics")
        if once:
            asyncio.run(daemon.run_once())
        elif live is not None:
            with live:
                code = asyncio.run(daemon.run(run_for_s=config.daemon.run_for_s))
        else:
            code = asyncio.run(daemon.run(run_for_s=config.daemon.run_for_s))
    console.print(positions_table(daemon.runs.values(), title="positions at stop"))
    console.print(summary_table(daemon.runs.values(), paper_results(runtime)))
    return 0 if once else code


@contextlib.contextmanager
def _metrics_server(settings: Any, metrics: GuardMetrics, *, enabled: bool) -> Iterator[Any]:
    server: MetricsServer | None = None
    if enabled and settings.enabled:
        server = start_metrics_server(metrics, settings.host, settings.port)
    try:
        yield server
    finally:
        if server is not None:
            server.close()


def paper_results(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Per paper account: liquidations and shortfall on the venue, and its equity there."""
    if runtime.paper is None:
        return {}
    venue = runtime.paper.venue
    results: dict[str, dict[str, Any]] = {}
    for acct_cfg in runtime.config.accounts:
        if acct_cfg.exchange != "paper":
            continue
        paper_id = acct_cfg.paper_account or acct_cfg.id
        records = [r for r in venue.liquidations if r.account == paper_id]
        results[acct_cfg.id] = {
            "liquidations": len(records),
            "shortfall": f"{sum(r.shortfall for r in records):,.2f}",
        }
    return results


def run_check(config_path: str | Path, *, as_json: bool) -> int:
    """One alert-only cycle of every account; print; the exit code of :mod:`riskguard.cli.check`."""
    config = load_config(config_path)
    configure_logging(
        json=True,
        level="error" if as_json else config.logging.level,
        secrets=secret_env_values(os.environ),
    )
    runtime = build_runtime(
        config_path,
        alert=lambda *_: None,
        conditions=lambda *_: None,
        journal=MemoryJournal(),
        with_sinks=False,
    )
    for acct in runtime.accounts:
        acct.alert_only = True
    for margin in runtime.margin_accounts:
        margin.alert_only = True
    margin_guard = runtime.margin_guard

    async def one_cycle() -> tuple[list[Any], list[Any]]:
        try:
            reports = await asyncio.gather(
                *(runtime.guards[a.account].cycle(a) for a in runtime.accounts)
            )
            margins = []
            if margin_guard is not None:
                margins = await asyncio.gather(
                    *(margin_guard.cycle(m) for m in runtime.margin_accounts)
                )
            return list(reports), list(margins)
        finally:
            await runtime.aclose()

    reports, margins = asyncio.run(one_cycle())
    result = summarise(list(zip(runtime.accounts, reports, strict=True)), margins)
    if as_json:
        sys.stdout.write(finite_json(to_json(result)) + "\n")
    else:
        print_table(result, console_for_output())
    return result.exit_code
