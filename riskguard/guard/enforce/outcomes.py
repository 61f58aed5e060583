"""What happened to one planned step: its status, the orders it sent, what they filled.

Statuses: ``sent`` (the venue has it), ``failed`` (refused, also at half size), ``unknown``
(nobody can tell yet: its position is blocked), ``blocked`` (not sent: an order of its position
is in doubt or was just settled), ``refused`` (nothing to do), ``skipped``, ``alerted`` and
``dry_run``.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskguard.guard.enforce.fills import Fills
from riskguard.guard.rules.base import ActionKind


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened to one planned action."""

    kind: ActionKind
    symbol: str | None
    status: str
    client_ids: tuple[str, ...] = ()
    exchange_ids: tuple[str, ...] = ()
    filled_contracts: float = 0.0
    error: str | None = None
    fills: Fills | None = None
    """For a reduction: what its orders filled, when the venue said (else ``None``)."""
