"""``riskguard alert-test CONFIG``: send one test alert through every configured sink, now.

The test alert goes straight to each sink (one attempt, all sinks at once), not through the
outbox: the point is to learn, while someone is watching, whether each channel works, and why
not. Routing filters (``min_severity``, ``accounts``) do not apply to it. Exit code 0 when every
sink delivered, 1 when any failed, 2 for a config problem (a missing environment variable...).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from riskguard.alerts.config import SinkConfigBase
from riskguard.alerts.delivery import DeliveryError, Sink
from riskguard.alerts.factory import build_sinks, make_http_client, needs_http
from riskguard.alerts.model import Alert, Severity, new_alert_id
from riskguard.config import load_config
from riskguard.errors import ConfigError
from riskguard.observability.logs import redact


@dataclass(frozen=True, slots=True)
class SinkResult:
    """How one sink took the test alert."""

    sink: str
    type: str
    delivered: bool
    detail: str
    elapsed_ms: int


def test_alert(now_ms: int, config_name: str) -> Alert:
    """The alert every sink receives: clearly a test, with figures like a real one."""
    return Alert(
        id=new_alert_id(),
        time_ms=now_ms,
        severity=Severity.INFO,
        title="test alert: this channel reaches you",
        message=(
            f"riskguard alert-test for {config_name}. Nothing is wrong; real alerts will look "
            "like this, with the figures that triggered them."
        ),
        account="example-account",
        symbol="BTC/USDT:USDT",
        side="long",
        rule="alert-test",
        kind="test",
        figures=(
            ("distance_pct", 12.5),
            ("mark_price", 61250.5),
            ("liquidation_price", 53594.19),
        ),
    )


async def send_test(sinks: Sequence[tuple[Sink, SinkConfigBase]], alert: Alert) -> list[SinkResult]:
    """Send ``alert`` once through every sink, concurrently; one result per sink, in order."""

    async def one(sink: Sink, config: SinkConfigBase) -> SinkResult:
        started = time.perf_counter()
        kind = str(getattr(config, "type", "?"))
        try:
            await sink.send([alert])
        except DeliveryError as exc:
            how = "permanent" if exc.permanent else "temporary"
            detail = f"{how}: {exc.text}"
            if exc.retry_after_s is not None:
                detail += f" (retry after {exc.retry_after_s:g} s)"
            return SinkResult(sink.name, kind, False, detail, _ms_since(started))
        except Exception as exc:  # a sink bug is reported, not raised past the others
            detail = f"error: {type(exc).__name__}: {redact(str(exc))[:200]}"
            return SinkResult(sink.name, kind, False, detail, _ms_since(started))
        return SinkResult(sink.name, kind, True, "delivered", _ms_since(started))

    return list(await asyncio.gather(*(one(s, c) for s, c in sinks)))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def run_alert_test(
    config_path: Path | str,
    *,
    as_json: bool = False,
    environ: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
) -> int:
    """The ``alert-test`` command; returns the exit code."""
    path = Path(config_path)
    config = load_config(path)
    if not config.alerts:
        raise ConfigError(f"{path}: alerts: no sinks configured; nothing to test")
    env = os.environ if environ is None else environ

    async def main() -> list[SinkResult]:
        client = http
        if client is None and needs_http(config.alerts):
            client = make_http_client()
        try:
            sinks = build_sinks(config.alerts, env, client, path.parent)
            return await send_test(sinks, test_alert(int(time.time() * 1000), path.name))
        finally:
            if client is not None and http is None:
                await client.aclose()

    results = asyncio.run(main())
    if as_json:
        document = {
            "results": [
                {
                    "sink": r.sink,
                    "type": r.type,
                    "delivered": r.delivered,
                    "detail": r.detail,
                    "elapsed_ms": r.elapsed_ms,
                }
                for r in results
            ]
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)
        table = Table(title="riskguard alert-test")
        for name in ("sink", "type", "result", "detail", "ms"):
            table.add_column(name, justify="right" if name == "ms" else "left")
        for r in results:
            table.add_row(
                r.sink, r.type, "ok" if r.delivered else "FAILED", r.detail, str(r.elapsed_ms)
            )
        console.print(table)
    return 0 if all(r.delivered for r in results) else 1
