"""The invariants of a chaos episode, read from the venue's own record, the journal and the
alerts that reached the webhook.

==========================  ===============================================================
duplicate fills             new-order requests for a client id the venue already held as a
                            closed order: Binance refuses a duplicate id only among open
                            orders, so each would have been a second order (a second fill
                            for a market order)
exposure-increasing         guard orders sent without reduce-only, and guard fills after
                            which the position was larger or on the other side
over-reductions             a guard order that filled more than its intent, or a plan whose
                            orders together took more than the plan's reduction
unresolved intents          journalled orders whose fate is still unknown after the final,
                            fault-free run
unalerted fills             guard orders that filled on the venue without an alert naming
                            the order and its fill reaching the webhook
liquidations with fresh     liquidations while the daemon had been up for the last 10 s,
data                        had journalled a good snapshot of the account in the last 3 s,
                            and had been served no stale answer in the last 30 s
orders without an intent    guard orders on the venue the journal holds no intent for
accounts below zero         accounts whose equity ended below zero
==========================  ===============================================================
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskguard.daemon.journal import SqliteJournal
from riskguard.guard.enforce.order_ids import is_guard_client_id
from riskguard.paper.engine import PaperOrder, PaperVenue
from tests.fakes.binance_usdm import FakeBinanceUsdm

COUNTS = (
    "duplicate fills",
    "exposure-increasing",
    "over-reductions",
    "unresolved intents",
    "unalerted fills",
    "liquidations with fresh data",
    "orders without an intent",
    "accounts below zero",
)
UP_BEFORE_MS = 10_000
SNAPSHOT_WITHIN_MS = 3_000
STALE_WITHIN_MS = 30_000
EPS = 1e-9


@dataclass(slots=True)
class Findings:
    """Counts per invariant and one line per violation."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    details: list[str] = field(default_factory=list)
    liquidations: dict[str, int] = field(default_factory=dict)
    """Every liquidation of the episode by why it is excused (or ``counted``)."""

    def add(self, name: str, detail: str) -> None:
        self.counts[name] += 1
        self.details.append(f"{name}: {detail}")


def alerted_fills(bodies: Iterable[Mapping[str, Any]]) -> set[str]:
    """Client ids named by an alert that also reports a fill above zero."""
    told: set[str] = set()
    for body in bodies:
        for alert in body.get("alerts", ()):
            figures = {str(k): v for k, v in alert.get("figures", ())}
            filled = figures.get("filled")
            if isinstance(filled, int | float) and filled > 0:
                message = str(alert.get("message", ""))
                told.update(w.strip("(),:;") for w in message.split())
    return told


def _guard_orders(venue: PaperVenue, account: str, prefix: str) -> list[PaperOrder]:
    return [
        o
        for o in venue.account(account).orders.values()
        if is_guard_client_id(o.client_order_id, prefix)
    ]


def audit(
    *,
    venue: PaperVenue,
    servers: Mapping[str, FakeBinanceUsdm],
    initial: Mapping[str, float],
    journal_path: Path,
    webhook_bodies: Sequence[Mapping[str, Any]],
    up: Sequence[tuple[int, int]],
    wall_of: Any,
    prefix: str,
) -> Findings:
    """Check every invariant of one episode (see the module's table)."""
    found = Findings()
    told = alerted_fills(webhook_bodies)
    with SqliteJournal(journal_path, readonly=True) as journal:
        records = {r.client_id: r for r in journal.orders()}
        pending = journal.pending_orders()
        intents = [e.payload for e in journal.entries(kind="order_intent")]
        snapshots = [(e.account, e.time_ms) for e in journal.entries(kind="snapshot")]
    for account, server in servers.items():
        for dup in server.duplicate_sends:
            if dup.status != "open":
                found.add(
                    "duplicate fills",
                    f"{account} {dup.client_id} sent again after it was {dup.status} "
                    f"(filled {dup.filled:g})",
                )
        _exposure(found, venue, account, initial.get(account, 0.0), prefix)
        orders = _guard_orders(venue, account, prefix)
        for o in orders:
            cid = str(o.client_order_id)
            record = records.get(cid)
            if record is None:
                found.add("orders without an intent", f"{account} {cid} ({o.status})")
            elif record.contracts is not None and o.filled > record.contracts * (1 + EPS) + EPS:
                took = f"{account} {cid} filled {o.filled:g} of {record.contracts:g}"
                found.add("over-reductions", took)
            if o.filled > 0 and cid not in told:
                found.add("unalerted fills", f"{account} {cid} filled {o.filled:g} ({o.type})")
        _plans(found, orders, intents, account)
        _liquidations(found, venue, account, server, snapshots, up, wall_of)
        equity = _equity(venue, account)
        if equity < -EPS:
            found.add("accounts below zero", f"{account} ended at {equity:,.2f}")
    for record in pending:
        found.add(
            "unresolved intents", f"{record.account} {record.client_id} still {record.status}"
        )
    return found


def _exposure(found: Findings, venue: PaperVenue, account: str, start: float, prefix: str) -> None:
    acc = venue.account(account)
    for o in acc.orders.values():
        if is_guard_client_id(o.client_order_id, prefix) and not o.reduce_only:
            found.add("exposure-increasing", f"{account} {o.client_order_id} not reduce-only")
    net: dict[str, float] = defaultdict(float)
    net[next(iter(venue.markets))] = start  # the one market of an episode, signed
    for t in acc.trades:
        before = net[t.symbol]
        after = before + (t.amount if t.side == "buy" else -t.amount)
        net[t.symbol] = after
        if not is_guard_client_id(t.client_order_id, prefix) or t.liquidation:
            continue
        if abs(after) > abs(before) + EPS or before * after < -EPS:
            found.add(
                "exposure-increasing",
                f"{account} {t.client_order_id} took {t.symbol} from {before:g} to {after:g}",
            )


def _plans(
    found: Findings,
    orders: Sequence[PaperOrder],
    intents: Sequence[Mapping[str, Any]],
    account: str,
) -> None:
    filled = {str(o.client_order_id): o.filled for o in orders}
    planned: dict[tuple[str, str], float] = {}
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    for payload in intents:
        if payload.get("kind") == "stop" or not str(payload.get("client_id", "")):
            continue
        plan = (str(payload.get("plan_id")), str(payload.get("symbol")))
        members[plan].add(str(payload["client_id"]))
        before, target = payload.get("size_before"), payload.get("target_size")
        if isinstance(before, int | float) and isinstance(target, int | float):
            planned[plan] = max(planned.get(plan, 0.0), before - target)
    for plan, cids in members.items():
        if plan not in planned:
            continue
        took = sum(filled.get(c, 0.0) for c in cids)
        if took > planned[plan] * (1 + 1e-6) + EPS:
            found.add(
                "over-reductions",
                f"{account} plan {plan[0]} took {took:g} for a planned {planned[plan]:g}",
            )


def _liquidations(
    found: Findings,
    venue: PaperVenue,
    account: str,
    server: FakeBinanceUsdm,
    snapshots: Sequence[tuple[str, int]],
    up: Sequence[tuple[int, int]],
    wall_of: Any,
) -> None:
    stale = [f.wall_ms for f in server.faults_applied if f.kind == "stale_answer"]
    seen = [t for a, t in snapshots if a == account]
    for record in venue.liquidations:
        if record.account != account:
            continue
        wall = int(wall_of(record.time_ms))
        was_up = any(s <= wall - UP_BEFORE_MS and wall <= e for s, e in up)
        fresh = any(wall - SNAPSHOT_WITHIN_MS <= t <= wall for t in seen)
        misled = any(wall - STALE_WITHIN_MS <= t <= wall for t in stale)
        why = (
            "daemon down" if not was_up
            else "no fresh snapshot" if not fresh
            else "stale answers" if misled
            else "counted"
        )  # fmt: skip
        found.liquidations[why] = found.liquidations.get(why, 0) + 1
        if why == "counted":
            found.add(
                "liquidations with fresh data",
                f"{account} {record.side} {record.size:g} {record.symbol} at "
                f"{record.mark_price:g} (venue ms {record.time_ms})",
            )


def _equity(venue: PaperVenue, account: str) -> float:
    acc = venue.account(account)
    total = acc.wallet
    for (symbol, side), p in acc.positions.items():
        mark = venue.mark_price(symbol)
        total += p.isolated_margin + side.sign * p.size * (mark - p.entry_price)
    return total if math.isfinite(total) else -math.inf


def dump(found: Findings, path: Path) -> None:
    path.write_text(json.dumps({"counts": found.counts, "details": found.details}, indent=1))
