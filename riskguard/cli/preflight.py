"""What ``riskguard validate`` checks beyond the schema: it builds what ``run`` builds.

A config that passes the models can still fail when the daemon starts: a paper market whose
position cannot open, a live exchange riskguard has no margin profile for, an interval the
scheduler cannot hold. So ``validate`` builds the runtime the way ``run`` does
(:func:`riskguard.daemon.wiring.build_runtime`: the paper venue with its feeds and positions, the
rules, the guards, every account's ccxt client, which connects to nothing until it is used) and
the scheduler's triggers (:class:`~riskguard.daemon.scheduler.Daemon`'s jobs), without network:

- the journal is a memory journal (the daemon's file is neither created nor opened);
- no alert sink is built (``riskguard alert-test`` checks sinks and their secrets);
- credentials named by ``*_env`` may be unset: the environment of the host that runs the daemon
  is not the config's business, so a placeholder stands in for each missing variable. An account
  with no credentials at all, and a ``secrets_file`` that cannot be read, are problems.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger

from riskguard.daemon.scheduler import Daemon
from riskguard.daemon.wiring import Runtime, build_runtime
from riskguard.errors import ConfigError
from riskguard.guard.enforce.journal import MemoryJournal

PLACEHOLDER = "riskguard-validate-placeholder"
"""What stands in for a credential environment variable that is not set while validating."""


class _EnvironmentWithPlaceholders(Mapping[str, str]):
    """The process environment, where a missing variable reads as :data:`PLACEHOLDER`."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, key: str) -> str:
        return self._environ.get(key) or PLACEHOLDER

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def _schedule_problems(runtime: Runtime) -> list[str]:
    """Build every trigger the daemon schedules and compute its first two fire times."""
    daemon = Daemon(runtime, alert=lambda *_: None)
    settings = runtime.config.daemon
    jobs = [
        (f"guard.poll_interval_s (account {run.acct.account})", run.interval_s)
        for run in daemon.runs.values()
    ]
    jobs += [
        ("daemon.tier_refresh_s", settings.tier_refresh_s),
        ("daemon.retention_every_s", settings.retention_every_s),
        ("daemon.heartbeat_s", settings.heartbeat_s),
    ]
    now = datetime.now(UTC)
    problems = []
    for name, seconds in jobs:
        try:
            trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
            first = trigger.get_next_fire_time(None, now + timedelta(seconds=seconds))
            if first is None or trigger.get_next_fire_time(first, first) is None:
                raise ValueError("no next run")
        except (OverflowError, ValueError) as exc:
            problems.append(f"{name}: the scheduler cannot run a job every {seconds:g} s ({exc})")
    return problems


def preflight(config_path: Path | str, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem ``run`` would meet before its first cycle, one line each (empty: none).

    Call it on a config whose schema is valid (:func:`riskguard.config.problems` is empty).
    """
    env = _EnvironmentWithPlaceholders(os.environ if environ is None else environ)
    try:
        runtime = build_runtime(
            config_path,
            alert=lambda *_: None,
            conditions=lambda *_: None,
            environ=env,
            journal=MemoryJournal(),
            with_sinks=False,
        )
    except ConfigError as exc:
        return [str(exc)]
    try:
        return _schedule_problems(runtime)
    finally:
        asyncio.run(runtime.aclose())
