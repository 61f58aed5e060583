"""The chaos audit counts each kind of violation it is meant to catch, and nothing else.

A venue, a journal and the webhook's bodies are set up by hand with one violation each (the
kinds of mistakes the executor made before issue 15), so each count is shown to be able to fail.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from riskguard.daemon.journal import SqliteJournal
from riskguard.domain import Side
from riskguard.guard.enforce.order_ids import client_order_id
from riskguard.paper.engine import PaperVenue
from riskguard.testing.paper import paper_section, paper_setup
from tests.chaos.audit import Findings, alerted_fills, audit
from tests.fakes.binance_faults import AppliedFault, DuplicateSend

ACCOUNT = "main"
SYMBOL = "BTC/USDT:USDT"
A1, A2, PENDING, NO_INTENT, ADDS = (client_order_id("rg", name) for name in "12345")


def venue() -> PaperVenue:
    section = paper_section(accounts=(ACCOUNT,), side=Side.LONG, leverage=5, notional=20_000)
    return paper_setup(section).venue


def size(v: PaperVenue) -> float:
    return sum(p.size for p in v.account(ACCOUNT).positions.values())


def sell(v: PaperVenue, cid: str, amount: float, *, reduce_only: bool = True) -> Any:
    return v.create_order(
        ACCOUNT, SYMBOL, "market", "sell", amount, None,
        client_order_id=cid, reduce_only=reduce_only,
    )  # fmt: skip


def intent(journal: SqliteJournal, cid: str, contracts: float, **more: Any) -> None:
    payload = {"client_id": cid, "plan_id": "p1", "symbol": SYMBOL, "side": "sell"}
    payload.update(kind="reduce", contracts=contracts, **more)
    journal.append("order_intent", ACCOUNT, 1, payload)
    journal.append("order_sent", ACCOUNT, 2, {"client_id": cid, "status": "closed"})


def told(cid: str, filled: float) -> dict[str, Any]:
    message = f"main: reduced (order {cid}: status closed, filled {filled})"
    return {"type": "alert", "alerts": [{"message": message, "figures": [["filled", filled]]}]}


def check(
    tmp_path: Path,
    v: PaperVenue,
    *,
    start: float,
    bodies: list[dict[str, Any]] | None = None,
    server: Any = None,
    up: list[tuple[int, int]] | None = None,
) -> Findings:
    return audit(
        venue=v,
        servers={ACCOUNT: server or SimpleNamespace(duplicate_sends=[], faults_applied=[])},
        initial={ACCOUNT: start},
        journal_path=tmp_path / "journal.sqlite3",
        webhook_bodies=bodies or [],
        up=up or [],
        wall_of=lambda ms: ms,
        prefix="rg",
    )


def nonzero(found: Findings) -> dict[str, int]:
    return {name: n for name, n in found.counts.items() if n}


def test_a_clean_reduction_told_by_an_alert_passes(tmp_path: Path) -> None:
    v = venue()
    start = size(v)
    with SqliteJournal(tmp_path / "journal.sqlite3") as journal:
        intent(journal, A1, 0.05, size_before=start, target_size=start - 0.05)
    sell(v, A1, 0.05)

    assert nonzero(check(tmp_path, v, start=start, bodies=[told(A1, 0.05)])) == {}


def test_each_violation_is_counted(tmp_path: Path) -> None:
    v = venue()
    start = size(v)
    with SqliteJournal(tmp_path / "journal.sqlite3") as journal:
        # Two orders of one plan that together take more than the plan's 0.05.
        intent(journal, A1, 0.05, size_before=start, target_size=start - 0.05)
        intent(journal, A2, 0.05)
        journal.append(
            "order_intent", ACCOUNT, 3, {"client_id": PENDING, "plan_id": "p2", "kind": "reduce"}
        )  # fmt: skip
    sell(v, A1, 0.05)
    sell(v, A2, 0.05)
    sell(v, NO_INTENT, 0.01)
    v.create_order(ACCOUNT, SYMBOL, "market", "buy", 0.01, None, client_order_id=ADDS)
    server = SimpleNamespace(
        duplicate_sends=[DuplicateSend(A1, "closed", 0.05, 0)], faults_applied=[]
    )

    found = check(tmp_path, v, start=start, bodies=[told(A1, 0.05)], server=server)

    assert nonzero(found) == {
        "duplicate fills": 1,
        "exposure-increasing": 2,  # sent without reduce-only, and the position grew
        "over-reductions": 1,
        "unresolved intents": 1,
        "unalerted fills": 3,  # A2, NO_INTENT, ADDS
        "orders without an intent": 2,
    }


def test_a_liquidation_counts_only_when_the_guard_saw_fresh_data(tmp_path: Path) -> None:
    v = venue()
    v.liquidations.append(
        SimpleNamespace(  # type: ignore[arg-type]
            account=ACCOUNT, time_ms=100_000, side="long", size=0.2, symbol=SYMBOL,
            mark_price=1.0,
        )
    )  # fmt: skip
    with SqliteJournal(tmp_path / "journal.sqlite3") as journal:
        journal.append("snapshot", ACCOUNT, 99_000, {})
    up = [(50_000, 200_000)]

    fresh = check(tmp_path, v, start=size(v), up=up)
    down = check(tmp_path, v, start=size(v), up=[(95_000, 200_000)])
    stale = SimpleNamespace(
        duplicate_sends=[], faults_applied=[AppliedFault("stale_answer", "GET", "/x", 90_000)]
    )
    misled = check(tmp_path, v, start=size(v), up=up, server=stale)

    assert nonzero(fresh) == {"liquidations with fresh data": 1}
    assert nonzero(down) == {}
    assert nonzero(misled) == {}
    assert [f.liquidations for f in (fresh, down, misled)] == [
        {"counted": 1},
        {"daemon down": 1},
        {"stale answers": 1},
    ]


@pytest.mark.parametrize(
    ("filled", "expected"), [(0.05, {A1}), (0.0, set())], ids=["fill", "no fill"]
)
def test_an_alert_tells_a_fill_only_when_it_names_one(filled: float, expected: set[str]) -> None:
    assert alerted_fills([told(A1, filled)]) & {A1} == expected
