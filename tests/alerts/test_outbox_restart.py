"""The outbox survives a restart in the middle of a retry: every alert delivered, none lost.

A real delivery process is killed with SIGKILL while the webhook it sends to is failing (the
alerts are mid-retry) and one request is hanging (a send in flight). A second process on the
same journal file, with the webhook healthy again, delivers every alert (and exits, so the test
can read the journal, which its writer holds exclusively while open).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from riskguard.daemon.journal import SqliteJournal

WORKER = Path(__file__).with_name("outbox_worker.py")
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """A webhook endpoint whose answer the test switches: fail (500), hang, or ok (200)."""

    def __init__(self) -> None:
        self.mode = "fail"
        self.requests: list[tuple[str, list[str]]] = []
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ids = [a["id"] for a in json.loads(body)["alerts"]]
            mode = receiver.mode
            with receiver.lock:
                receiver.requests.append((mode, ids))
            if mode == "hang":
                receiver.hanging.set()
                receiver.release.wait(10)
                return
            status = 200 if mode == "ok" else 500
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _start(journal: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603 - our own worker script
        [sys.executable, str(WORKER), str(journal), url, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _wait_for(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)


def test_alerts_mid_retry_survive_a_kill_and_are_all_delivered_after_restart(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    journal_path = tmp_path / "journal.sqlite3"
    queued = {f"restart-{n}" for n in range(12)}

    # First process: the webhook fails, the alerts are retried; then a send hangs and we kill.
    first = _start(journal_path, url, "--queue", "12")
    _wait_for(lambda: len(state.requests) >= 20)  # each alert tried, some twice
    state.mode = "hang"
    _wait_for(state.hanging.is_set)
    _kill(first)

    with SqliteJournal(journal_path, readonly=True) as journal:
        before = journal.outbox_rows()
    assert {r.alert_id for r in before} == queued
    assert {r.status for r in before} == {"pending"}
    assert max(r.attempts for r in before) >= 2  # killed in the middle of retrying

    # Second process on the same file: the webhook is healthy again.
    state.release.set()
    state.mode = "ok"
    # (It delivers what is due and exits: no other process reads a journal while it is open.)
    second = _start(journal_path, url, "--flush")
    try:
        second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            _kill(second)
    assert second.returncode == 0

    delivered_ids = {i for mode, ids in state.requests if mode == "ok" for i in ids}
    assert delivered_ids == queued  # every alert at least once, none lost
    with SqliteJournal(journal_path, readonly=True) as journal:
        rows = journal.outbox_rows()
        dead = journal.entries(kind="alert_dead")
    assert dead == []
    tried_before = {r.alert_id: r.attempts for r in before}
    # The attempts made before the kill were kept and counted on.
    assert all(r.attempts == tried_before[r.alert_id] + 1 for r in rows)
