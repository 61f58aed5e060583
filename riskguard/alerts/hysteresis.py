"""De-duplication with hysteresis: which of a cycle's conditions deserve an alert. Pure.

A *condition* is something that stays true across cycles: a rule's finding at WARN or above for
an account / symbol / rule, a remedy the guard cannot find, a dry-run plan it would carry out,
data that is stale. Alerting on it every cycle would bury the one message that matters, so each
condition key has an *episode*:

* **entered**: the first time the key is seen at a level, and again only if it climbs to a level
  higher than any already alerted in this episode (WARN -> ACT -> CRITICAL). Falling back to a
  lower level and climbing again is not news.
* **halved**: the remaining distance to liquidation (``distance_pct``) has halved since the last
  alert about this key (8% -> 4% -> 2% ...): the position is getting worse without crossing a
  level.
* **recovered**: the key has been clear (absent, or below WARN) for ``hold_ms``; one alert and
  the episode ends. A position flapping around a threshold keeps resetting the hold, so it gets
  one ``entered`` alert and, once it settles, one ``recovered``: not an alert per cycle.

A cycle that could not see the account (stale data) reports only its own conditions with
``complete=False``: the episodes it did not look at neither progress towards recovery nor end.

A position that is no longer held (closed by the guard or the bot, or liquidated) did not
"recover": when the cycle says which positions it saw (``held``), the episodes of a position that
is gone end at once with one alert for the position, ``warning`` if any of them had reached
CRITICAL (it may have been liquidated), else ``info``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskguard.alerts.model import Alert, Severity
from riskguard.guard.rules.base import Figures, Level

ConditionKey = tuple[str, str, str, str]
"""(account, symbol or "", side or "", topic): one episode each."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One thing that is wrong this cycle, with what to say about it."""

    account: str
    rule: str
    topic: str
    level: Level
    title: str
    message: str = ""
    symbol: str | None = None
    side: str | None = None
    figures: Figures = ()
    distance_pct: float | None = None

    @property
    def key(self) -> ConditionKey:
        """The episode this condition belongs to."""
        return (self.account, self.symbol or "", self.side or "", f"{self.rule}/{self.topic}")


@dataclass(frozen=True, slots=True)
class Episode:
    """What has been said about one condition key since it was last clear."""

    level: int
    distance_pct: float | None
    clear_since_ms: int | None
    rule: str
    title: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the daemon keeps episodes in the journal's state across restarts)."""
        return {
            "level": self.level,
            "distance_pct": self.distance_pct,
            "clear_since_ms": self.clear_since_ms,
            "rule": self.rule,
            "title": self.title,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Episode:
        """The episode :meth:`to_json` wrote."""
        clear = data.get("clear_since_ms")
        distance = data.get("distance_pct")
        return cls(
            level=int(data["level"]),
            distance_pct=None if distance is None else float(distance),
            clear_since_ms=None if clear is None else int(clear),
            rule=str(data.get("rule") or ""),
            title=str(data.get("title") or ""),
        )


Episodes = Mapping[ConditionKey, Episode]


def track(
    account: str,
    conditions: Sequence[Condition],
    episodes: Episodes,
    now_ms: int,
    hold_ms: int,
    *,
    complete: bool = True,
    held: Collection[tuple[str, str]] | None = None,
) -> tuple[list[Alert], dict[ConditionKey, Episode]]:
    """The alerts this cycle's ``conditions`` of ``account`` deserve, and the episodes after it.

    ``conditions`` below WARN count as clear. Episodes of other accounts are returned unchanged.
    When a key appears twice, the higher level (then the smaller distance) is used. ``held``
    lists the (symbol, side) positions the cycle saw; ``None`` when it does not know.
    """
    alerts: list[Alert] = []
    after = dict(episodes)
    current = _strongest(c for c in conditions if c.level >= Level.WARN and c.account == account)
    for key, condition in current.items():
        episode = after.get(key)
        alert, after[key] = _observe(condition, episode, now_ms)
        if alert is not None:
            alerts.append(alert)
    if not complete:
        return alerts, after
    if held is not None:
        alerts.extend(_end_positions_gone(account, current, after, held, now_ms))
    for key, episode in list(after.items()):
        if key[0] != account or key in current:
            continue
        clear_since = episode.clear_since_ms if episode.clear_since_ms is not None else now_ms
        if now_ms - clear_since >= hold_ms:
            alerts.append(_recovered(key, episode, now_ms))
            del after[key]
        elif episode.clear_since_ms is None:
            after[key] = _with(episode, clear_since_ms=now_ms)
    return alerts, after


def _end_positions_gone(
    account: str,
    current: Mapping[ConditionKey, Condition],
    episodes: dict[ConditionKey, Episode],
    held: Collection[tuple[str, str]],
    now_ms: int,
) -> list[Alert]:
    """End (in place) the episodes of positions no longer held: one alert per position."""
    seen = set(held)
    gone: dict[tuple[str, str], list[Episode]] = {}
    for key in list(episodes):
        acct, symbol, side, _ = key
        if acct != account or not symbol or key in current or (symbol, side) in seen:
            continue
        gone.setdefault((symbol, side), []).append(episodes.pop(key))
    alerts = []
    for (symbol, side), ended in sorted(gone.items()):
        worst = max(ended, key=lambda e: e.level)
        level = Level(worst.level)
        key = (account, symbol, side, "position/gone")
        alerts.append(
            Alert(
                id=_alert_id(key, "recovered", now_ms),
                time_ms=now_ms,
                severity=Severity.WARNING if level >= Level.CRITICAL else Severity.INFO,
                title=f"position no longer held (closed or liquidated) while at {level.name}",
                message=(
                    f"{len(ended)} open condition(s) ended with the position; the worst was "
                    f"{worst.rule}: {worst.title}"
                ),
                account=account,
                symbol=symbol,
                side=side or None,
                rule=worst.rule,
                kind="recovered",
                figures=(("highest_level", level.name), ("conditions_ended", len(ended))),
            )
        )
    return alerts


def _strongest(conditions: Any) -> dict[ConditionKey, Condition]:
    out: dict[ConditionKey, Condition] = {}
    for c in conditions:
        seen = out.get(c.key)
        if seen is None or (c.level, -_distance(c)) > (seen.level, -_distance(seen)):
            out[c.key] = c
    return out


def _distance(condition: Condition) -> float:
    d = condition.distance_pct
    return math.inf if d is None or math.isnan(d) else d


def _observe(
    condition: Condition, episode: Episode | None, now_ms: int
) -> tuple[Alert | None, Episode]:
    distance = condition.distance_pct
    if distance is not None and not math.isfinite(distance):
        distance = None
    if episode is None or condition.level > episode.level:
        kind = "entered"
        return _alert(condition, kind, now_ms, _entered_title(condition)), Episode(
            int(condition.level), distance, None, condition.rule, condition.title
        )
    halved = (
        distance is not None
        and episode.distance_pct is not None
        and episode.distance_pct > 0
        and distance <= episode.distance_pct / 2
    )
    if halved:
        assert distance is not None  # noqa: S101 - narrowing for mypy
        assert episode.distance_pct is not None  # noqa: S101
        title = (
            f"distance to liquidation halved since the last alert: "
            f"{episode.distance_pct:.2f}% -> {distance:.2f}%"
        )
        return _alert(condition, "halved", now_ms, title), _with(
            episode, distance_pct=distance, clear_since_ms=None
        )
    if episode.distance_pct is None and distance is not None:
        return None, _with(episode, distance_pct=distance, clear_since_ms=None)
    if episode.clear_since_ms is not None:
        return None, _with(episode, clear_since_ms=None)
    return None, episode


def _entered_title(condition: Condition) -> str:
    return f"{condition.rule} {condition.level.name}: {condition.title}"


def _alert(condition: Condition, kind: str, now_ms: int, title: str) -> Alert:
    figures = condition.figures
    if condition.distance_pct is not None and "distance_pct" not in dict(figures):
        figures = (*figures, ("distance_pct", condition.distance_pct))
    return Alert(
        id=_alert_id(condition.key, kind, now_ms),
        time_ms=now_ms,
        severity=Severity.from_level(condition.level),
        title=title,
        message=condition.message or condition.title,
        account=condition.account,
        symbol=condition.symbol,
        side=condition.side,
        rule=condition.rule,
        kind=kind,
        figures=figures,
    )


def _recovered(key: ConditionKey, episode: Episode, now_ms: int) -> Alert:
    account, symbol, side, topic = key
    reached = Level(episode.level).name
    if "/dry_run:" in topic:
        title = f"{episode.rule}: no longer planned: {episode.title}"
    else:
        title = f"{episode.rule} recovered: {episode.title}"
    return Alert(
        id=_alert_id(key, "recovered", now_ms),
        time_ms=now_ms,
        severity=Severity.INFO,
        title=title,
        message=f"clear again (it had reached {reached}); was: {episode.title}",
        account=account,
        symbol=symbol or None,
        side=side or None,
        rule=episode.rule,
        kind="recovered",
        figures=(("highest_level", reached),),
    )


def _with(episode: Episode, **changes: Any) -> Episode:
    values = episode.to_json()
    values.update(changes)
    return Episode.from_json(values)


def _alert_id(key: ConditionKey, kind: str, now_ms: int) -> str:
    text = "\x1f".join((*key, kind, str(now_ms)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def episodes_to_json(episodes: Episodes) -> list[dict[str, Any]]:
    """Episodes as a JSON-ready list (for the journal's state table)."""
    return [{"key": list(key), **episode.to_json()} for key, episode in sorted(episodes.items())]


def episodes_from_json(rows: Sequence[Mapping[str, Any]]) -> dict[ConditionKey, Episode]:
    """The episodes :func:`episodes_to_json` wrote."""
    out: dict[ConditionKey, Episode] = {}
    for row in rows:
        a, s, d, t = (str(part) for part in row["key"])
        out[(a, s, d, t)] = Episode.from_json(row)
    return out
