"""A journal that cannot be trusted stops the guard from acting (issue 15, part 3: D11).

The journal is deleted under a running daemon before its first cycle: no order may go out, one
CRITICAL alert goes straight to the sinks (the outbox lived in the lost journal), and the daemon
ends with one line naming the journal and what was wrong.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from riskguard.daemon.journal import JournalWriteError, SqliteJournal
from riskguard.daemon.scheduler import Daemon
from riskguard.daemon.wiring import build_runtime
from tests.daemon.conftest import paper_config, write_config

HOOK_URL = "https://alerts.example.com/riskguard"
_ACTING = frozenset(
    {"create_order", "cancel_order", "edit_order", "add_margin", "reduce_margin", "set_leverage"}
)


class _CountingPort:
    """The paper port, counting every call that would act on the account."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.acted: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if name in _ACTING:
            self.acted.append(name)
        return value


def _webhook_document(journal_path: Path) -> dict[str, Any]:
    document = paper_config(journal_path)
    document["alerts"] = [
        {"type": "webhook", "url_env": "RG_HOOK", "secret_env": "RG_HOOK_KEY"},
    ]
    document["alerting"] = {"gather_s": 0.0, "flush_on_stop_s": 2}
    return document


def test_a_journal_deleted_under_the_daemon_stops_it_before_any_order_with_one_direct_alert(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, _webhook_document(journal_path))
    environ = {"RG_HOOK": HOOK_URL, "RG_HOOK_KEY": "hmac-key-for-the-test"}

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK_URL).mock(return_value=httpx.Response(204))
        runtime = build_runtime(config, environ=environ)
        port = _CountingPort(runtime.accounts[0].port)
        runtime.accounts[0].port = port
        daemon = Daemon(runtime)
        started = daemon.start

        async def start_then_lose_the_journal() -> None:
            await started()
            journal_path.unlink()

        daemon.start = start_then_lose_the_journal  # type: ignore[method-assign]

        with pytest.raises(JournalWriteError) as caught:
            asyncio.run(daemon.run(run_for_s=10.0, handle_signals=False))

    message = str(caught.value)
    assert message.startswith(f"journal {journal_path}: ")
    assert "deleted" in message
    assert "\n" not in message
    assert port.acted == []  # the first cycle would have put a stop on the position
    (rescued,) = tmp_path.glob("journal.sqlite3.rescued-*")
    assert f"saved in {rescued}" in message
    with SqliteJournal(rescued, readonly=True) as copy:
        assert [e.kind for e in copy.entries()] == ["start"]
    received = [a for call in route.calls for a in json.loads(call.request.content)["alerts"]]
    critical = [a for a in received if a["severity"] == "critical"]
    assert len(critical) == 1, received
    assert str(journal_path) in critical[0]["message"]
    assert "deleted" in critical[0]["message"]


def test_the_daemon_process_exits_non_zero_with_one_line_naming_the_lost_journal(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, paper_config(journal_path))
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "riskguard", "run", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "160"},
    )
    try:
        deadline = time.monotonic() + 30
        wal = journal_path.with_name(journal_path.name + "-wal")
        while time.monotonic() < deadline and not (wal.exists() and wal.stat().st_size > 0):
            time.sleep(0.05)
        journal_path.unlink()
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    lines = err.decode().strip().splitlines()
    assert process.returncode not in (0, None)
    assert lines[-1].startswith(f"riskguard run: journal {journal_path}: "), lines[-3:]
    assert "deleted" in lines[-1]
