"""``drawdown``: limit the account's loss from its recent peak and within a trading day.

Two measures of account equity (``evaluation.risk.equity``: wallet plus unrealised PnL plus
isolated margin), each against an optional limit:

* drawdown from the peak: ``(peak - equity) / peak``, the peak being the highest equity seen in
  the last ``window_s`` seconds; limit ``max_drawdown_pct``;
* the day's loss: ``day_start - equity`` (``daily_loss_amount``) and the same in percent of
  ``day_start`` (``daily_loss_pct``), ``day_start`` being the first equity seen after the day
  began at ``day_start_hour_utc``.

Each limit gives three levels: ``warn`` at ``warn_at_pct`` percent of the limit, ``act`` at the
limit and ``critical`` at ``critical_at_pct`` percent of it (losses still growing after the
closes); the worst measure decides, with the usual hysteresis.

At ``act`` the rule proposes closing every position in scope and holds the account in a
*reducing* state: while held, every position in scope gets a CLOSE proposal each cycle, and one
the bot opened or enlarged since the previous cycle also gets an ALERT saying so. The hold ends
``release.after_s`` seconds after it began or at the next trading day (``release.next_day``),
whichever comes first; with neither it ends only by :func:`manual_release`. A release starts
afresh: the peak and the day's reference equity become the equity at release, so the account is
not held again at once for the loss it was held for.

Deposits and withdrawals move equity as profit and loss do: a withdrawal reads as a loss (the
snapshot carries no transfer history to tell them apart).

Memory (JSON scalars only): ``samples`` (the peak candidates, see below), ``day`` and
``day_start_equity``, ``level`` (for hysteresis), ``reducing_since`` and ``hold_until`` (epoch
seconds or None) and, while held, ``held:<symbol>:<side>`` (the size seen last cycle).

The peak over a rolling window is kept as a "monotone queue" of ``(time, equity)`` samples, each
higher than every later one, so the first is the window's peak. It is compressed to one sample per
``window_s / 48`` bucket: a lower sample in the same bucket extends the bucket's sample to its own
time instead of being appended, which can keep a peak up to one bucket longer than the window
(never shorter: the drawdown is never understated). At most 50 samples, stored as the string
``"t:equity;t:equity;..."``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.domain import Position
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Figures,
    FigureValue,
    Finding,
    Level,
    Memory,
    RuleInput,
    RuleResult,
    classify,
    figures,
    level_of,
)
from riskguard.guard.rules.config_base import ConfiguredRule, RuleConfigBase
from riskguard.validation import StrictModel

__all__ = [
    "MAX_SAMPLES",
    "DrawdownConfig",
    "DrawdownRule",
    "Release",
    "decode_samples",
    "encode_samples",
    "manual_release",
    "push_sample",
]

MAX_SAMPLES = 48
"""Buckets per window: the peak memory holds at most this many samples (plus two)."""

DAY_S = 86_400.0

Sample = tuple[float, float]


class Release(StrictModel):
    """When a hold ends: after a time, at the next trading day, whichever first; or manually."""

    after_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="release this many seconds after the hold began"
    )
    next_day: bool = Field(
        False, description="release when the next trading day begins (day_start_hour_utc)"
    )


class DrawdownConfig(RuleConfigBase):
    """Config of the ``drawdown`` rule."""

    type: Literal["drawdown"]
    window_s: Annotated[float, Field(ge=60)] = Field(
        86_400.0, description="the peak is the highest equity within this many seconds"
    )
    max_drawdown_pct: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        10.0, description="limit on equity below the window's peak, in percent of the peak"
    )
    daily_loss_pct: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        None, description="limit on the day's loss in percent of the day's starting equity"
    )
    daily_loss_amount: Annotated[float, Field(gt=0)] | None = Field(
        None, description="limit on the day's loss in the settlement currency"
    )
    day_start_hour_utc: Annotated[int, Field(ge=0, le=23)] = Field(
        0, description="hour (UTC) at which the trading day begins"
    )
    warn_at_pct: Annotated[float, Field(gt=0, lt=100)] = Field(
        70.0, description="warn at this percent of a limit"
    )
    critical_at_pct: Annotated[float, Field(gt=100)] | None = Field(
        150.0, description="critical at this percent of a limit"
    )
    release: Release = Field(
        Release(next_day=True),
        description="when a hold ends; with neither after_s nor next_day, only manually",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if (
            self.max_drawdown_pct is None
            and self.daily_loss_pct is None
            and self.daily_loss_amount is None
        ):
            raise ValueError(
                "max_drawdown_pct: give max_drawdown_pct, daily_loss_pct and/or daily_loss_amount"
            )
        return self


def manual_release(memory: Memory) -> dict[str, FigureValue]:
    """The rule's memory with the hold lifted: what an operator's "release" command stores.

    The next cycle starts afresh (new peak, new day reference) as after any release.
    """
    kept = {
        k: v
        for k, v in memory.items()
        if k not in ("reducing_since", "hold_until") and not k.startswith("held:")
    }
    kept["reset"] = 1
    return kept


def encode_samples(samples: Sequence[Sample]) -> str:
    """``"t:equity;..."``, times to the millisecond, equities exact."""
    return ";".join(f"{t:.3f}:{e!r}" for t, e in samples)


def decode_samples(text: FigureValue) -> list[Sample]:
    """The samples of :func:`encode_samples`; anything unreadable reads as no samples."""
    if not isinstance(text, str) or not text:
        return []
    out = []
    try:
        for part in text.split(";"):
            t, _, e = part.partition(":")
            out.append((float(t), float(e)))
    except ValueError:
        return []
    if not all(math.isfinite(t) and math.isfinite(e) for t, e in out):
        return []
    return out


def push_sample(
    samples: Sequence[Sample], time_s: float, equity: float, window_s: float
) -> list[Sample]:
    """The peak queue after seeing ``equity`` at ``time_s``; its first sample is the peak."""
    bucket = window_s / MAX_SAMPLES
    if samples and samples[-1][0] > time_s:  # the clock went back: start again
        samples = ()
    kept = [s for s in samples if s[0] >= time_s - window_s]
    while kept and kept[-1][1] <= equity:
        kept.pop()
    if kept and math.floor(kept[-1][0] / bucket) == math.floor(time_s / bucket):
        kept[-1] = (time_s, kept[-1][1])
    else:
        kept.append((time_s, equity))
    return kept


def _number(value: FigureValue) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


class DrawdownRule(ConfiguredRule[DrawdownConfig]):
    """The configured rule."""

    rule_type = "drawdown"

    def _day(self, time_s: float) -> int:
        return math.floor((time_s - self.config.day_start_hour_utc * 3600) / DAY_S)

    def _day_start(self, day: int) -> float:
        return day * DAY_S + self.config.day_start_hour_utc * 3600

    def _hold_until(self, since_s: float, day: int) -> float | None:
        release = self.config.release
        ends = []
        if release.after_s is not None:
            ends.append(since_s + release.after_s)
        if release.next_day:
            ends.append(self._day_start(day + 1))
        return min(ends, default=None)

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        cfg = self.config
        account = data.snapshot.account
        if not self.applies_to(account, None):
            return RuleResult()
        now_s = data.now.timestamp()
        equity = data.evaluation.risk.equity
        day = self._day(now_s)
        samples = decode_samples(memory.get("samples"))
        day_start = _number(memory.get("day_start_equity"))
        previous = level_of(int(_number(memory.get("level")) or 0))
        since = _number(memory.get("reducing_since"))
        until = _number(memory.get("hold_until"))
        actions: list[Action] = []
        findings: list[Finding] = []

        released = since is not None and until is not None and now_s >= until
        if released or memory.get("reset"):
            if released:
                actions.append(
                    self._alert(
                        account,
                        Level.OK,
                        f"{account}: drawdown hold since {_iso(since)} released at "
                        f"{_iso(now_s)}; limits measured afresh from equity {equity:,.2f}",
                        figures(equity=equity, reducing_since=_iso(since), hold_until=_iso(until)),
                    )
                )
            samples, day_start, previous, since, until = [], equity, Level.OK, None, None
        if memory.get("day") != day or day_start is None:
            day_start = equity
        samples = push_sample(samples, now_s, equity, cfg.window_s)
        peak = samples[0][1]

        drawdown_pct = (peak - equity) / peak * 100.0 if peak > 0 else None
        daily_loss = day_start - equity
        daily_loss_pct = daily_loss / day_start * 100.0 if day_start > 0 else None
        measures: list[tuple[Level, str, float | None, list[tuple[Level, float | None]]]] = []
        for name, value, limit in (
            ("drawdown_pct", drawdown_pct, cfg.max_drawdown_pct),
            ("daily_loss_pct", daily_loss_pct, cfg.daily_loss_pct),
            ("daily_loss", daily_loss, cfg.daily_loss_amount),
        ):
            if limit is not None:
                thresholds = self._thresholds(limit)
                got = classify(
                    value,
                    thresholds,
                    previous,
                    worse_when_lower=False,
                    hysteresis=cfg.hysteresis_pct / 100.0,
                )
                measures.append((got, name, value, thresholds))
        # The worst measure speaks (the first configured one on a tie).
        level, metric, measured, thresholds = max(measures, key=lambda m: m[0])
        threshold = dict(thresholds)[level if level > Level.OK else Level.ACT]

        entering = since is None and level >= Level.ACT
        if entering:
            since, until = now_s, self._hold_until(now_s, day)
        facts = figures(
            equity=equity,
            peak=peak,
            window_s=cfg.window_s,
            drawdown_pct=drawdown_pct,
            max_drawdown_pct=cfg.max_drawdown_pct,
            day_start_equity=day_start,
            daily_loss=daily_loss,
            daily_loss_pct=daily_loss_pct,
            daily_loss_limit_pct=cfg.daily_loss_pct,
            daily_loss_limit_amount=cfg.daily_loss_amount,
            reducing_since=_iso(since),
            hold_until=_iso(until),
        )
        new_memory: dict[str, FigureValue] = {
            "samples": encode_samples(samples),
            "day": day,
            "day_start_equity": day_start,
            "level": int(level),
            "reducing_since": since,
            "hold_until": until,
        }
        held = "held (reducing) " + (
            f"until {_iso(until)}" if until is not None else "until released manually"
        )
        summary = (
            f"{account}: equity {equity:,.2f}, {_fmt(drawdown_pct)}% below its peak "
            f"{peak:,.2f}, day's loss {daily_loss:,.2f} ({_fmt(daily_loss_pct)}%)"
        )
        if since is not None:
            closing = self._hold(data, memory, level, entering, held, facts, new_memory, actions)
            if closing:
                level = max(level, Level.ACT)
            if entering:
                summary += (
                    f": {metric} {_fmt(measured)} reaches its {level.name.lower()} threshold "
                    f"{_fmt(threshold)}: close all positions, account {held}"
                )
            else:
                what = f"closing {closing} position(s)" if closing else "nothing open"
                summary += f"; account {held}, {what}"
        elif level is not Level.OK:
            summary += f": {metric} at {_fmt(measured)} against {_fmt(threshold)}"
        if level is not Level.OK:
            findings.append(
                Finding(
                    rule=self.name,
                    rule_type=self.rule_type,
                    level=level,
                    account=account,
                    symbol=None,
                    side=None,
                    metric=metric,
                    measured=measured,
                    threshold=threshold,
                    message=summary,
                    figures=facts,
                )
            )
        return RuleResult(tuple(findings), tuple(actions), new_memory)

    def _thresholds(self, limit: float) -> list[tuple[Level, float | None]]:
        cfg = self.config
        critical = None if cfg.critical_at_pct is None else limit * cfg.critical_at_pct / 100.0
        return [
            (Level.WARN, limit * cfg.warn_at_pct / 100.0),
            (Level.ACT, limit),
            (Level.CRITICAL, critical),
        ]

    def _hold(
        self,
        data: RuleInput,
        memory: Memory,
        level: Level,
        entering: bool,
        held: str,
        facts: Figures,
        new_memory: dict[str, FigureValue],
        actions: list[Action],
    ) -> int:
        """CLOSE every position in scope, ALERT on any the bot re-opened; how many were open."""
        account = data.snapshot.account
        level = max(level, Level.ACT)
        count = 0
        for position in data.snapshot.positions:
            if not self.applies_to(account, position.symbol):
                continue
            count += 1
            key = f"held:{position.symbol}:{position.side.value}"
            new_memory[key] = position.size
            before = _number(memory.get(key))
            label = f"{position.symbol} {position.side.value} {position.size:.6g}"
            if entering:
                reason = f"drawdown limit reached: close {label}; account {held}"
            elif before is None or position.size > before * (1 + 1e-9):
                reason = f"the bot re-opened {label} while the account is {held}: close it again"
                actions.append(self._alert(account, level, reason, facts, position))
            else:
                reason = f"{label} still open while the account is {held}: close"
            actions.append(
                Action(
                    kind=ActionKind.CLOSE,
                    account=account,
                    symbol=position.symbol,
                    side=position.side,
                    rule=self.name,
                    level=level,
                    reason=reason,
                    size_before=position.size,
                    target_size=0.0,
                    figures=(*facts, ("size_last_cycle", before)),
                )
            )
        return count

    def _alert(
        self,
        account: str,
        level: Level,
        reason: str,
        facts: Figures,
        position: Position | None = None,
    ) -> Action:
        return Action(
            kind=ActionKind.ALERT,
            account=account,
            symbol=None if position is None else position.symbol,
            side=None if position is None else position.side,
            rule=self.name,
            level=level,
            reason=reason,
            figures=facts,
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"
