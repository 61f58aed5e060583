"""The planner's memory between cycles: what it remembers per position, and when it forgets.

Cooldowns (:mod:`riskguard.guard.planner.cooldowns`) and fight detection
(:mod:`riskguard.guard.planner.fights`) read and write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from riskguard.guard.planner.model import PlannerConfig


@dataclass(frozen=True, slots=True)
class PositionMemory:
    """What the planner remembers about one position (times in Unix seconds, sizes base units).

    ``last_acted_s``: when the guard last planned a reduction, close or margin add (cooldown).
    ``left_size``: the size its last reduction left. ``reopened_s``: when it reduced a position
    that had grown back above ``left_size`` (fight detection), within the fight window.
    """

    last_acted_s: float | None = None
    left_size: float | None = None
    reopened_s: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannerState:
    """The planner's memory between cycles, by :func:`position_key`. JSON via :meth:`to_dict`."""

    positions: Mapping[str, PositionMemory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys sorted, so equal states serialise identically)."""
        return {
            "positions": {
                key: {
                    "last_acted_s": m.last_acted_s,
                    "left_size": m.left_size,
                    "reopened_s": list(m.reopened_s),
                }
                for key, m in sorted(self.positions.items())
            }
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannerState:
        """The state :meth:`to_dict` produced."""
        return cls(
            {
                str(key): PositionMemory(
                    last_acted_s=_optional_float(m.get("last_acted_s")),
                    left_size=_optional_float(m.get("left_size")),
                    reopened_s=tuple(float(x) for x in m.get("reopened_s", ())),
                )
                for key, m in data.get("positions", {}).items()
            }
        )


def prune(
    memory: Mapping[str, PositionMemory], t: float, config: PlannerConfig
) -> dict[str, PositionMemory]:
    """Forget what can no longer matter: reopen times outside the window, positions the guard
    has not acted on for longer than both the cooldown and the window."""
    horizon = max(config.cooldown_s, config.fight_window_s)
    kept = {}
    for key, m in memory.items():
        if m.last_acted_s is None or t - m.last_acted_s >= horizon:
            continue
        recent = tuple(x for x in m.reopened_s if t - x < config.fight_window_s)
        kept[key] = PositionMemory(m.last_acted_s, m.left_size, recent)
    return kept


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
