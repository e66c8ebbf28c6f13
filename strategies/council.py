"""``council``: members answer, rank each other's anonymised answers, then a chairman synthesises.

Stage 1: every member answers. Stage 2: every member that answered ranks the
other members' answers (never its own, nor one from its own model), shown
anonymised and shuffled as quoted data. Stage 3: the ``chairman`` (a member, or
a fallback chain) reads the answers and the aggregate peer ranking (mean rank
position, Borda-style) and writes the final answer. Configured as::

    [strategies.council]
    kind = "council"
    team = "mixed"
    chairman = ["strong", "backup"]
    rank = true              # false skips stage 2

Calls: team size x 2 + 1. Confidence: the share of the stage-1 answers that
agree with the chairman's answer. When every chairman fails, the answer is the
best peer-ranked one (or the vote's, without rankings), and the notes say so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Member, Request, Verdict
from strategies.base import (
    BaseStrategy,
    StrategyOptions,
    abstain,
    budget_note,
    call_each,
    chain,
    require_answers,
    short,
    strongest,
    verdict_of,
)
from strategies.judge import own_model
from strategies.prompts import chairman_messages, labelled, parse_ranking, rank_messages
from strategies.tally import Tally, shown

__all__ = ["Council", "CouncilOptions"]


class CouncilOptions(StrategyOptions):
    chairman: str | list[str]
    rank: bool = True

    def references(self) -> list[tuple[str, str, str]]:
        return [("chairman", "member", name) for name in chain(self.chairman)]

    @classmethod
    def defaults_for(cls, team: list[Member], roster: list[Member]) -> dict[str, Any]:
        """The chairman: the strongest member by weight, the others in line behind it."""
        return {"chairman": strongest(roster)}


class Council(BaseStrategy):
    Options = CouncilOptions
    kind = "council"
    options: CouncilOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        tally = self.tally(request, ctx.members)
        notes = await self.first_round(request, ctx, tally)
        answers = require_answers(tally.candidates, self.options.min_answers)
        standing: list[int] = []  # indices into answers, best first
        if self.options.rank and len(answers) > 1:
            try:
                standing = await self._rank(request, ctx, answers, notes)
            except BudgetExceeded as exc:
                notes.append(budget_note(exc, "peer ranking and chairman"))
                return self.decide(tally, notes, partial=True)
        return await self._chair(request, ctx, tally, answers, standing, notes)

    async def _rank(
        self, request: Request, ctx: StrategyContext, answers: list[Candidate], notes: list[str]
    ) -> list[int]:
        reviewers = [m for m in ctx.members if any(a.member == m.name for a in answers)]
        jobs: list[tuple[Member, list[int], list[tuple[str, int]]]] = []
        for reviewer in reviewers:
            shown_to = [i for i, a in enumerate(answers) if not own_model(reviewer, a, ctx)]
            if len(shown_to) >= 2:
                order = labelled([shown(answers[i]) for i in shown_to], salt=reviewer.name)
                jobs.append((reviewer, shown_to, order))
        if not jobs:
            return []
        calls = [
            (reviewer, rank_messages(request, [shown(answers[i]) for i in idx], order))
            for reviewer, idx, order in jobs
        ]
        replies = await call_each(ctx, calls, role="rank")
        positions: dict[int, list[float]] = defaultdict(list)
        usable = 0
        for (reviewer, idx, order), reply in zip(jobs, replies, strict=True):
            ranking = parse_ranking(reply.text or "", [label for label, _ in order]) if reply.ok else []
            if not ranking:
                notes.append(f"{reviewer.name} gave no usable ranking")
                continue
            usable += 1
            by_label = dict(order)
            for position, label in enumerate(ranking):
                positions[idx[by_label[label]]].append(position / max(1, len(idx) - 1))
        if usable:
            notes.append(f"{usable} peer ranking(s) collected")
        return sorted(positions, key=lambda i: (sum(positions[i]) / len(positions[i]), answers[i].member))

    async def _chair(
        self,
        request: Request,
        ctx: StrategyContext,
        tally: Tally,
        answers: list[Candidate],
        standing: list[int],
        notes: list[str],
    ) -> Verdict:
        texts = [shown(a) for a in answers]
        order = labelled(texts, salt="chairman")
        label_of = {i: label for label, i in order}
        ranked_labels = [label_of[i] for i in standing]
        for name in chain(self.options.chairman):
            chairman = ctx.member(name)
            try:
                reply = await ctx.panel.call(
                    chairman,
                    chairman_messages(request, texts, order, ranked_labels),
                    role="chairman",
                    final=self.options.abstain_below is None,  # streamed live unless it may abstain
                )
            except BudgetExceeded as exc:
                notes.append(budget_note(exc, f"chairman {name}"))
                return self._fallback(tally, answers, standing, notes, partial=True)
            if reply.ok and (reply.text or "").strip():
                return await self.synthesised(
                    tally, reply.text or "", notes, f"synthesised by {name}", "no member's answer"
                )
            why = reply.error.type if reply.error else "empty answer"
            notes.append(f"chairman {name} failed ({short(why, 60)}); next in line")
        return self._fallback(tally, answers, standing, notes)

    def _fallback(
        self,
        tally: Tally,
        answers: list[Candidate],
        standing: list[int],
        notes: list[str],
        *,
        partial: bool = False,
    ) -> Verdict:
        if not standing:
            notes.append("no chairman answered: the verdict is the vote")
            return self.decide(tally, notes, partial=partial)
        best = answers[standing[0]]
        notes.append(f"no chairman answered: the verdict is the best peer-ranked answer ({best.member})")
        index = tally.answered.index(best)
        chosen = next(c for c in tally.clusters() if index in c.indices)
        verdict = verdict_of(
            self.name, tally, chosen=chosen, answer=shown(best), notes=notes, partial=partial
        )
        return abstain(verdict, self.options.abstain_below)
