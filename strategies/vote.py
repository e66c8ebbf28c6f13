"""``vote``: members answer; the heaviest cluster of equivalent answers wins.

Confidence is the winning cluster's share of the (weighted) answers that
arrived, so ``"42", "42", "41"`` gives ``"42"`` at 0.67. Configured as::

    [strategies.majority]
    kind = "vote"
    team = "cloud"
    answer_type = "number"   # auto | number | choice | yesno | text | code | json
    min_answers = 2          # quorum: fewer answers is an error, not a guess
    early_exit = true        # stop once the leader cannot be caught; cancel the calls still running
    adaptive = true          # ask `initial` members first, then `step` more while the vote is undecided
    initial = 2
    stop_at = 0.95           # adaptive: also stop once P(leader is the true majority) >= 0.95

With ``early_exit`` the vote ends as soon as the leading cluster outweighs the
runner-up plus every answer still outstanding; the calls still running are
cancelled (and counted: they were sent). ``adaptive`` is in the spirit of
Adaptive-Consistency: members not asked yet count as outstanding, so two
agreeing answers out of a panel of three end the vote after two calls. With
``stop_at`` it also stops when a Beta posterior says the leader is the
majority with that probability. When the request offers tools, the vote is
over the members' canonicalised tool calls.
"""

from __future__ import annotations

from pydantic import Field

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Member, Request, Verdict
from strategies.base import BaseStrategy, StrategyOptions, budget_note, seed_note, split_seed
from strategies.tally import Tally, leader_probability

__all__ = ["Vote", "VoteOptions"]


class VoteOptions(StrategyOptions):
    early_exit: bool = False
    adaptive: bool = False
    initial: int | None = Field(default=None, ge=1)
    step: int = Field(default=1, ge=1)
    stop_at: float | None = Field(default=None, gt=0.5, le=1)


class Vote(BaseStrategy):
    Options = VoteOptions
    kind = "vote"
    options: VoteOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        tally = self.tally(request, ctx.members)
        reused, outside, members = split_seed(ctx)
        await tally.extend([*reused, *outside])
        notes = seed_note(reused, outside)
        partial = False
        asked = 0  # the batches are consecutive slices of ``members``
        for i, batch in enumerate(self._batches(members)):
            asked += len(batch)
            later = members[asked:]
            if i > 0 and self._decided(tally, [*batch, *later]):
                notes.append(
                    f"adaptive: decided after {len(tally.answered)} answers;"
                    f" not asked: {', '.join(m.name for m in [*batch, *later])}"
                )
                break
            try:
                fanout = ctx.panel.ask(batch, request.wire_messages(), request.params)
            except BudgetExceeded as exc:
                if not tally.answered:
                    raise
                notes.append(budget_note(exc, f"{len(batch) + len(later)} more members"))
                partial = True
                break
            async with fanout as answers:
                waiting = {m.name: m for m in batch}
                async for candidate in answers:
                    waiting.pop(candidate.member, None)
                    await tally.add(candidate)
                    if self._early(tally, [*waiting.values(), *later]):
                        if waiting:
                            notes.append(f"early exit: cancelled {', '.join(waiting)}")
                        break
        return self.decide(tally, notes, partial=partial)

    def _batches(self, members: list[Member]) -> list[list[Member]]:
        if not self.options.adaptive or not members:
            return [members] if members else []
        first = self.options.initial or max(self.options.min_answers, len(members) // 2 + 1)
        batches = [members[:first]]
        rest = members[first:]
        step = self.options.step
        batches += [rest[i : i + step] for i in range(0, len(rest), step)]
        return [b for b in batches if b]

    def _early(self, tally: Tally, outstanding: list[Member]) -> bool:
        if not (self.options.early_exit or self.options.adaptive) or not outstanding:
            return False
        return self._decided(tally, outstanding)

    def _decided(self, tally: Tally, outstanding: list[Member]) -> bool:
        if len(tally.answered) < self.options.min_answers:
            return False
        if tally.decided(sum(tally.weight(m.name) for m in outstanding)):
            return True
        if self.options.stop_at is not None:
            return leader_probability(*tally.lead()) >= self.options.stop_at
        return False
