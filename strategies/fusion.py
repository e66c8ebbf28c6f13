"""``fusion``: Mixture-of-Agents. Layers of proposers, then an aggregator writes the final answer.

Layer 1 answers the question; each later layer answers again with the previous
layer's answers quoted as references (in the user turn, anonymised); the
``aggregator`` (a member, or a fallback chain of members) reads the last
layer's answers and writes the final answer. Configured as::

    [strategies.moa]
    kind = "fusion"
    team = "mixed"
    layers = 2                       # proposer layers (1 = answer, then aggregate)
    aggregator = ["strong", "backup"]

Calls: ``layers`` x team size + 1. Confidence: the share of the last layer's
answers that agree with the final answer (0 when it agrees with none of
them). When every aggregator fails, the verdict is the vote over the last
layer and says so; a budget that runs out between layers ends the layering
early and marks the verdict partial.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Member, Request, Verdict
from strategies.base import (
    BaseStrategy,
    StrategyOptions,
    budget_note,
    call_each,
    chain,
    first_answers,
    require_answers,
    seed_note,
    short,
    split_seed,
    strongest,
)
from strategies.prompts import aggregate_messages, reference_messages
from strategies.tally import Tally, shown

__all__ = ["Fusion", "FusionOptions"]


class FusionOptions(StrategyOptions):
    layers: int = Field(default=1, ge=1)
    aggregator: str | list[str]

    def references(self) -> list[tuple[str, str, str]]:
        return [("aggregator", "member", name) for name in chain(self.aggregator)]

    @classmethod
    def defaults_for(cls, team: list[Member], roster: list[Member]) -> dict[str, Any]:
        """The aggregator: the strongest member by weight, the others in line behind it."""
        return {"aggregator": strongest(roster)}


class Fusion(BaseStrategy):
    Options = FusionOptions
    kind = "fusion"
    options: FusionOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        reused, outside, to_ask = split_seed(ctx)
        notes = seed_note(reused, outside)
        previous: list[Candidate] = []
        partial = False
        for layer in range(1, self.options.layers + 1):
            try:
                if layer == 1:
                    answers = [
                        *reused,
                        *await first_answers(request, ctx, to_ask, [shown(c) for c in outside]),
                    ]
                else:
                    answers = await self._layer(request, ctx, previous)
            except BudgetExceeded as exc:
                if not any(c.ok for c in previous):
                    raise
                notes.append(budget_note(exc, f"layer {layer}"))
                partial = True
                break
            if not any(c.ok for c in answers) and any(c.ok for c in previous):
                notes.append(f"layer {layer}: every proposer failed; kept layer {layer - 1}")
                break
            previous = answers
        tally = self.tally(request, ctx.members)
        await tally.extend(previous)
        require_answers(tally.candidates, self.options.min_answers)
        if partial:
            return self.decide(tally, notes, partial=True)
        return await self._aggregate(request, ctx, tally, notes)

    async def _layer(
        self, request: Request, ctx: StrategyContext, previous: list[Candidate]
    ) -> list[Candidate]:
        references = [shown(c) for c in previous if c.ok]
        calls = [(m, reference_messages(request, references, salt=m.name)) for m in ctx.members]
        return await call_each(ctx, calls, role="propose")

    async def _aggregate(
        self, request: Request, ctx: StrategyContext, tally: Tally, notes: list[str]
    ) -> Verdict:
        proposals = [shown(c) for c in tally.answered]
        for name in chain(self.options.aggregator):
            aggregator = ctx.member(name)
            try:
                reply = await ctx.panel.call(
                    aggregator,
                    aggregate_messages(request, proposals),
                    role="aggregate",
                    final=self.options.abstain_below is None,  # streamed live unless it may abstain
                )
            except BudgetExceeded as exc:
                notes.append(budget_note(exc, f"aggregator {name}"))
                return self.decide(tally, notes, partial=True)
            if reply.ok and (reply.text or "").strip():
                return await self.synthesised(
                    tally, reply.text or "", notes, f"aggregated by {name}", "no proposal"
                )
            why = reply.error.type if reply.error else "empty answer"
            notes.append(f"aggregator {name} failed ({short(why, 60)}); next in line")
        notes.append("no aggregator answered: the verdict is the vote over the last layer")
        return self.decide(tally, notes)
