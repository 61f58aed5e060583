"""``stop_loss``: keep an exchange-side stop before every position's liquidation price.

The guard cycle can die; a reduce-only stop-market on the mark price, resting on the exchange,
still protects the position. This rule says where that stop belongs and whether the stops already
on the exchange (the bot's or the guard's own) protect as well.

The desired stop sits ``buffer`` before the liquidation price LP, toward the mark::

    percent buffer   long: LP * (1 + distance_pct / 100)    short: LP * (1 - distance_pct / 100)
    sigma buffer     long: LP * exp(k)                       short: LP * exp(-k)
                     k = sigma * sigma_per_sqrt_s * sqrt(horizon_s)

and the larger buffer wins (the stop that fires earlier). "Safer" below always means *fires
earlier*: nearer the mark (a higher price for a long, a lower one for a short).

Per position, each cycle:

* no liquidation price (a cross account with ample margin): nothing to protect;
* the mark has already crossed the desired stop (the position is inside its buffer): a stop would
  fire at once, so propose CLOSE at ``ACT``;
* the stops that are at least as safe as the desired one (within ``tolerance_pct`` of the buffer)
  cover the position (within ``size_tolerance_pct``): protected, no finding; the bot's stop is
  accepted like the guard's own;
* otherwise a ``WARN`` finding and PLACE_STOP for the whole position. The executor replaces the
  guard's own stop, so the proposed price is never less safe than the guard's existing stop: a
  stop only ever moves toward safety. When the liquidation price comes nearer the mark, the
  desired stop is safer than the existing one and the stop is re-placed; when it moves away, the
  desired stop is less safe than the existing one, which therefore still protects: it stays.
  (If the guard's own stop is already crossed by the mark and covers too little, no stop can be
  placed: CLOSE at ``ACT``.)
* a protected position whose guard-owned stop lags its target (the bot's stop covers, or
  trailing moved the target) gets a PLACE_STOP at level ``OK``: housekeeping, no finding.

``trailing: true`` remembers, when it first sees a position, how far below (long) or above (short)
the mark the desired stop is (the *gap*, a fraction of the mark, at least the buffer's own
fraction), and keeps the guard's own stop at least that close to the mark as the mark moves away
from the liquidation price. It only moves the guard's stop: a position protected
by the bot's stop alone is the bot's business. Trailing, too, only ever moves toward safety.

The guard recognises its own stops after a restart by the client-id prefix: whoever builds
:class:`~riskguard.guard.rules.base.OpenStop` sets ``guard_owned`` with :func:`is_guard_client_id`
and this rule's ``client_id_prefix``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from riskguard.domain import OpenStop, Position, Side
from riskguard.guard.enforce.order_ids import is_guard_client_id
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
    figures,
)
from riskguard.guard.rules.config_base import MAX_SIGMAS, ConfiguredRule, RuleConfigBase
from riskguard.validation import StrictModel

__all__ = [
    "StopBuffer",
    "StopLossConfig",
    "StopLossRule",
    "is_guard_client_id",
    "safer",
]


class StopBuffer(StrictModel):
    """How far before the liquidation price the stop sits: percent of it and/or sigmas."""

    distance_pct: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        None, description="buffer in percent of the liquidation price"
    )
    sigma: Annotated[float, Field(gt=0, le=MAX_SIGMAS)] | None = Field(
        None, description="buffer in sigmas of the mark over the reaction horizon"
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.distance_pct is None and self.sigma is None:
            raise ValueError("give distance_pct and/or sigma")
        return self

    def stop_price(
        self, side: Side, liquidation_price: float, sigma_per_sqrt_s: float, horizon_s: float
    ) -> float | None:
        """The desired stop for ``side``; None when only a sigma buffer is set and sigma is 0."""
        s = side.sign
        candidates = []
        if self.distance_pct is not None:
            candidates.append(liquidation_price * (1.0 + s * self.distance_pct / 100.0))
        if self.sigma is not None and sigma_per_sqrt_s > 0 and horizon_s > 0:
            k = self.sigma * sigma_per_sqrt_s * math.sqrt(horizon_s)
            candidates.append(liquidation_price * math.exp(s * k))
        if not candidates:
            return None
        return max(candidates) if side is Side.LONG else min(candidates)


class StopLossConfig(RuleConfigBase):
    """Config of the ``stop_loss`` rule."""

    type: Literal["stop_loss"]
    buffer: StopBuffer = Field(
        StopBuffer(distance_pct=1.5, sigma=3.0),
        description="distance of the stop before the liquidation price; the larger buffer wins",
    )
    trailing: bool = Field(
        False, description="ratchet the guard's own stop toward the mark as the mark moves away"
    )
    tolerance_pct: Annotated[float, Field(ge=0, lt=100)] = Field(
        5.0,
        description=(
            "an existing stop still protects while it keeps at least (100 - tolerance_pct) "
            "percent of the desired buffer: smaller liquidation-price drifts replace nothing"
        ),
    )
    size_tolerance_pct: Annotated[float, Field(ge=0, lt=100)] = Field(
        0.5, description="stops covering the position size less this percent cover it"
    )
    client_id_prefix: str = Field(
        "rg",
        pattern=r"^[A-Za-z0-9]{1,4}$",
        description="prefix of the guard's client order ids (as guard.client_id_prefix)",
    )


def safer(side: Side, a: float, b: float) -> float:
    """Of two stop prices for ``side``, the one that fires earlier (nearer the mark)."""
    return max(a, b) if side is Side.LONG else min(a, b)


def _crossed(side: Side, mark: float, stop: float) -> bool:
    """Whether a stop at ``stop`` would fire at once at ``mark``."""
    return mark <= stop if side is Side.LONG else mark >= stop


class StopLossRule(ConfiguredRule[StopLossConfig]):
    """The configured rule."""

    rule_type = "stop_loss"

    def is_guard_order(self, client_order_id: str | None) -> bool:
        """Whether a client order id is one of this guard's (by ``client_id_prefix``)."""
        return is_guard_client_id(client_order_id, self.config.client_id_prefix)

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult:
        account = data.snapshot.account
        findings: list[Finding] = []
        actions: list[Action] = []
        new_memory: dict[str, FigureValue] = {}
        protecting: dict[tuple[str, Side], list[OpenStop]] = {}
        for st in data.open_stops:
            protecting.setdefault((st.symbol, st.protects), []).append(st)
        for position, item in zip(data.snapshot.positions, data.evaluation.positions, strict=True):
            if not self.applies_to(account, position.symbol):
                continue
            lp = item.risk.liquidation_price
            if lp is None or lp <= 0:
                continue
            sigma = data.sigma_per_sqrt_s.get(
                position.symbol, data.evaluation.settings.sigma_for(position.symbol)
            )
            stops = tuple(protecting.get((position.symbol, position.side), ()))
            move = data.stress_moves.get(position.symbol)
            gap = _GapFill(
                None if move is None else move.against(position.side is Side.LONG),
                None if move is None else move.source,
                item.risk.bankruptcy_price,
            )
            found, proposed = self._position(
                _Context(self, account, position, data.max_stop_sizes.get(position.symbol)),
                data.horizon_s,
                lp,
                sigma,
                stops,
                memory,
                new_memory,
                gap,
            )
            findings.extend(found)
            actions.extend(proposed)
        return RuleResult(tuple(findings), tuple(actions), new_memory)

    def _position(
        self,
        ctx: _Context,
        horizon_s: float,
        lp: float,
        sigma: float,
        stops: Sequence[OpenStop],
        memory: Memory,
        new_memory: dict[str, FigureValue],
        gap_fill: _GapFill,
    ) -> tuple[list[Finding], list[Action]]:
        cfg = self.config
        position = ctx.position
        side, s, mark = position.side, position.side.sign, position.mark_price
        label = f"{position.symbol} {side.value}"
        desired = cfg.buffer.stop_price(side, lp, sigma, horizon_s)
        if desired is None:
            facts = figures(mark=mark, liquidation_price=lp, sigma_per_sqrt_s=sigma)
            message = f"{label}: no stop price: the buffer is in sigmas and sigma is unknown"
            return (
                [ctx.finding(Level.WARN, "desired_stop", None, None, message, facts)],
                [ctx.action(ActionKind.ALERT, Level.WARN, message, facts)],
            )
        buffer_pct = s * (desired - lp) / lp * 100.0
        mark_pct = s * (mark - lp) / lp * 100.0  # same unit as buffer_pct: % of LP

        def base() -> Figures:
            return figures(
                mark=mark,
                liquidation_price=lp,
                desired_stop=desired,
                buffer_pct=buffer_pct,
                distance_from_liquidation_pct=mark_pct,
                position_size=position.size,
            )

        if _crossed(side, mark, desired):
            message = (
                f"{label}: mark {mark:,.2f} is inside the stop buffer (stop {desired:,.2f}, "
                f"liquidation {lp:,.2f}): a stop would fire at once; close"
            )
            return (
                [
                    ctx.finding(
                        Level.ACT,
                        "distance_from_liquidation_pct",
                        mark_pct,
                        buffer_pct,
                        message,
                        base(),
                    )
                ],
                [ctx.action(ActionKind.CLOSE, Level.ACT, message, base())],
            )

        target = desired
        if cfg.trailing:
            key = f"{position.symbol}:{side.value}:trail_gap"
            remembered = memory.get(key)
            gap = (
                float(remembered)
                if isinstance(remembered, float | int) and 0 < remembered < 1
                else s * (mark - desired) / mark
            )
            # Never trail closer to the mark than the buffer: a position first seen just
            # outside its buffer would otherwise get a stop a tick from the mark.
            gap = max(gap, buffer_pct / 100.0)
            new_memory[key] = gap
            target = safer(side, desired, mark * (1.0 - s * gap))

        def keeps(price: float, wanted: float) -> bool:
            """Whether a stop at ``price`` keeps enough of the buffer a stop at ``wanted`` has."""
            kept = s * (price - lp)
            return kept > 0 and kept >= (1.0 - cfg.tolerance_pct / 100.0) * s * (wanted - lp)

        guard = [st for st in stops if st.guard_owned]
        guard_best = _safest(side, guard)
        covered = sum((st.size for st in stops if keeps(st.stop_price, desired)), 0.0)
        tolerance = 1.0 - cfg.size_tolerance_pct / 100.0
        needed = position.size if ctx.largest is None else min(position.size, ctx.largest)
        if (
            covered >= position.size * tolerance
            and covered >= needed * tolerance
            and (guard_best is None or keeps(guard_best, target))
        ):
            return [], []  # covered whole by stops that keep the buffer: nothing to say
        facts = (
            *base(),
            *figures(
                target_stop=target,
                existing_stop=_safest(side, stops),
                guard_stop=guard_best,
                covered_size=covered,
                replaces=",".join(st.order_id for st in guard) or None,
            ),
            *gap_fill.figures(side, safer(side, target, guard_best) if guard_best else target),
        )
        if covered >= needed * tolerance:
            partial: list[Finding] = []
            if covered < position.size * tolerance:
                message = (
                    f"{label}: the stops cover {covered:g} of {position.size:g}: the venue's "
                    f"largest market order is {needed:g}, so one stop can protect no more"
                )
                partial.append(
                    ctx.finding(Level.WARN, "covered_size", covered, position.size, message, facts)
                )
            if guard_best is None or keeps(guard_best, target):
                return partial, []
            # Protected, but the guard's own stop lags its target (trailing, or the bot's stop
            # covers while the liquidation price came nearer): move it toward safety.
            price = safer(side, target, guard_best)
            message = (
                f"{label}: move the guard's stop from {guard_best:,.2f} to {price:,.2f} "
                f"(mark {mark:,.2f})"
            )
            return partial, [ctx.stop(Level.OK, price, message, facts)]

        price = target if guard_best is None else safer(side, target, guard_best)
        if _crossed(side, mark, price):
            message = (
                f"{label}: the guard's stop at {price:,.2f} is crossed by the mark {mark:,.2f} "
                "and covers too little; close"
            )
            return (
                [
                    ctx.finding(
                        Level.ACT,
                        "distance_from_liquidation_pct",
                        mark_pct,
                        buffer_pct,
                        message,
                        facts,
                    )
                ],
                [ctx.action(ActionKind.CLOSE, Level.ACT, message, facts)],
            )
        what = (
            "no stop protects it"
            if not stops
            else (
                f"stops at {desired:,.2f} or nearer the mark cover {covered:.6g} "
                f"of {position.size:.6g}"
            )
        )
        message = (
            f"{label}: {what}; place a stop at {price:,.2f} "
            f"(liquidation {lp:,.2f}, mark {mark:,.2f}){gap_fill.warning(side, price)}"
        )
        return (
            [ctx.finding(Level.WARN, "covered_size", covered, position.size, message, facts)],
            [ctx.stop(Level.WARN, price, message, facts)],
        )


@dataclass(frozen=True, slots=True)
class _GapFill:
    """Where a stop fills when the price gaps through it by the symbol's stress move.

    A stop-market fills at market: in a gap as large as the move the position is stressed with
    (the learned tail or the configured gap), a long's stop at ``T`` fills near ``T * (1 + fall)``.
    Past the bankruptcy price that fill is the account's own loss, where a liquidation's would be
    the insurance fund's. The rule says so with the figures; it does not size on it: the
    ``shortfall`` rule sizes every position so that the same move from the mark stays short of
    bankruptcy, without counting on the stop.
    """

    move: float | None
    source: str | None
    bankruptcy: float | None

    def fill(self, price: float) -> float | None:
        return None if self.move is None else price * (1.0 + self.move)

    def past_bankruptcy(self, side: Side, price: float) -> bool:
        fill = self.fill(price)
        if fill is None or self.bankruptcy is None:
            return False
        return fill < self.bankruptcy if side is Side.LONG else fill > self.bankruptcy

    def figures(self, side: Side, price: float) -> Figures:
        if self.move is None:
            return ()
        return figures(
            gap_move_pct=self.move * 100.0,
            gap_source=self.source,
            stop_gap_fill=self.fill(price),
            bankruptcy_price=self.bankruptcy,
            stop_gap_fill_past_bankruptcy="yes" if self.past_bankruptcy(side, price) else "no",
        )

    def warning(self, side: Side, price: float) -> str:
        if not self.past_bankruptcy(side, price) or self.move is None:
            return ""
        return (
            f"; in a {self.move:+.1%} gap it would fill near {self.fill(price):,.2f}, past "
            f"bankruptcy {self.bankruptcy:,.2f}: the loss past it would be the account's"
        )


@dataclass(frozen=True, slots=True)
class _Context:
    """Who is speaking about which position: builds the findings and actions."""

    rule: StopLossRule
    account: str
    position: Position
    largest: float | None = None
    """The largest stop one order can be (base units), where the venue has a limit."""

    def finding(
        self,
        level: Level,
        metric: str,
        measured: float | None,
        threshold: float | None,
        message: str,
        facts: Figures,
    ) -> Finding:
        return Finding(
            rule=self.rule.name,
            rule_type=self.rule.rule_type,
            level=level,
            account=self.account,
            symbol=self.position.symbol,
            side=self.position.side,
            metric=metric,
            measured=measured,
            threshold=threshold,
            message=message,
            figures=facts,
        )

    def action(self, kind: ActionKind, level: Level, reason: str, facts: Figures) -> Action:
        return Action(
            kind=kind,
            account=self.account,
            symbol=self.position.symbol,
            side=self.position.side,
            rule=self.rule.name,
            level=level,
            reason=reason,
            size_before=self.position.size,
            target_size=0.0 if kind is ActionKind.CLOSE else None,
            figures=facts,
        )

    def stop(self, level: Level, price: float, reason: str, facts: Figures) -> Action:
        return Action(
            kind=ActionKind.PLACE_STOP,
            account=self.account,
            symbol=self.position.symbol,
            side=self.position.side,
            rule=self.rule.name,
            level=level,
            reason=reason,
            size_before=self.position.size,
            target_size=self.position.size,
            stop_price=price,
            figures=facts,
        )


def _safest(side: Side, stops: Sequence[OpenStop]) -> float | None:
    """The price of the stop that fires earliest, or None without stops."""
    prices = [st.stop_price for st in stops]
    if not prices:
        return None
    return max(prices) if side is Side.LONG else min(prices)
