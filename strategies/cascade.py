"""``cascade``: a cheap first stage; a stronger stage only when the first is unsure.

``first`` and ``then`` name other configured strategies (which may be
cascades themselves). When the first stage's confidence is below
``escalate_below`` (or it abstained, or too few of its members answered), the
``then`` stage runs on the same panel and budget, seeded with the first
stage's answers: a vote counts them, a judge judges them too, a debate or a
fusion starts from them. Configured as::

    [strategies.cheap_first]
    kind = "cascade"
    first = "cheap_vote"        # e.g. a vote of small members with early_exit
    then = "strong_judge"       # e.g. a judge over strong members, or a debate
    escalate_below = 0.7

The verdict is the last stage's, under the cascade's name; its notes say
whether and why it escalated. When the budget cannot pay for the second
stage, the first stage's verdict is returned, marked partial.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator.errors import BudgetExceeded, QuorumError
from orchestrator.protocols import StrategyContext
from orchestrator.types import Member, Request, Verdict
from strategies.base import BaseStrategy, StrategyOptions, abstain, budget_note

__all__ = ["Cascade", "CascadeOptions"]


class CascadeOptions(StrategyOptions):
    first: str
    then: str
    escalate_below: float = Field(default=0.7, ge=0, le=1)

    def references(self) -> list[tuple[str, str, str]]:
        return [("first", "strategy", self.first), ("then", "strategy", self.then)]

    @classmethod
    def defaults_for(cls, team: list[Member], roster: list[Member]) -> dict[str, Any]:
        """A vote first, escalated to a judge (both with their own defaults) when unsure."""
        return {"first": "vote", "then": "judge"}


class Cascade(BaseStrategy):
    Options = CascadeOptions
    kind = "cascade"
    options: CascadeOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        o = self.options
        try:
            first = await ctx.run_strategy(o.first, request)
        except QuorumError as exc:
            reason = f"{o.first} had no quorum ({exc})"
            seed = None
        else:
            if not first.abstained and first.confidence >= o.escalate_below:
                note = (
                    f"{o.first}: confidence {first.confidence:.2f} >= {o.escalate_below:.2f}, no escalation"
                )
                return self._as_mine(first, [note])
            state = "abstained" if first.abstained else f"confidence {first.confidence:.2f}"
            reason = f"{o.first}: {state} < {o.escalate_below:.2f}"
            seed = first
        try:
            then = await ctx.run_strategy(o.then, request, seed=seed)
        except BudgetExceeded as exc:
            if seed is None:
                raise
            return self._as_mine(seed, [f"{reason}; {budget_note(exc, o.then)}"], partial=True)
        return self._as_mine(then, [f"escalated to {o.then} ({reason})"])

    def _as_mine(self, verdict: Verdict, notes: list[str], *, partial: bool = False) -> Verdict:
        update = {
            "strategy": self.name,
            "notes": [*notes, *verdict.notes],
            "partial": verdict.partial or partial,
        }
        return abstain(verdict.model_copy(update=update), self.options.abstain_below)
