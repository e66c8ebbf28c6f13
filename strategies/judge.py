"""``judge``: best-of-n. The team answers; a judge member picks the best answer.

The judge sees the question and one candidate per cluster of equivalent
answers, anonymised and shuffled, as quoted data in the user turn. It never
sees (so never judges) a candidate from its own model. ``judges`` is a
fallback chain: when a judge fails, answers with no usable pick, or could
see fewer than two different answers once its own model's are set aside, the
next one takes over; when none can decide, the verdict is the plain vote and
says so. When every member agrees there is nothing to choose, and no judge is
asked. Configured as::

    [strategies.best]
    kind = "judge"
    team = "cheap"
    judges = ["strong", "backup"]
    judge_weight = 1.0          # the judge's pick counts like this many extra votes

Confidence: the picked cluster's weight plus ``judge_weight``, over all the
answers' weight plus ``judge_weight``: a judge siding with a lone answer out
of three gives (1 + 1) / (3 + 1) = 0.5.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Cluster, Member, Request, Verdict
from strategies.base import (
    BaseStrategy,
    StrategyOptions,
    abstain,
    budget_note,
    require_answers,
    short,
    strongest,
    verdict_of,
)
from strategies.prompts import judge_messages, labelled, parse_best
from strategies.tally import Tally, shown

__all__ = ["Judge", "JudgeOptions", "own_model"]


class JudgeOptions(StrategyOptions):
    judges: list[str] = Field(min_length=1)
    judge_weight: float = Field(default=1.0, ge=0)

    def references(self) -> list[tuple[str, str, str]]:
        return [("judges", "member", name) for name in self.judges]

    @classmethod
    def defaults_for(cls, team: list[Member], roster: list[Member]) -> dict[str, Any]:
        """Judges from outside the answering team first (heaviest first), then the team's own."""
        answering = {m.name for m in team}
        outside = [m for m in roster if m.name not in answering]
        return {"judges": [*strongest(outside), *strongest(team)]}


def own_model(judge: Member, candidate: Candidate, ctx: StrategyContext) -> bool:
    """Whether ``candidate`` came from the judge itself or from a member running the judge's model."""
    if candidate.member == judge.name:
        return True
    author = ctx.roster.get(candidate.member) or next(
        (m for m in ctx.members if m.name == candidate.member), None
    )
    return (author.model if author else candidate.model) == judge.model


class Judge(BaseStrategy):
    Options = JudgeOptions
    kind = "judge"
    options: JudgeOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        tally = self.tally(request, ctx.members)
        notes = await self.first_round(request, ctx, tally)
        require_answers(tally.candidates, self.options.min_answers)
        clusters = tally.contenders()  # an answer that does not parse as the type is not judged
        if len(clusters) <= 1:
            why = "unanimous" if len(tally.clusters()) == 1 else "at most one answer of the type"
            return self.decide(tally, [*notes, f"{why}: no judge needed"])
        for name in self.options.judges:
            judge = ctx.member(name)
            pool = self._pool(tally, clusters, judge, ctx)
            if len(pool) < 2:
                notes.append(
                    f"judge {name} skipped: fewer than two answers not from its own model to choose from"
                )
                continue
            try:
                picked, why = await self._ask(request, ctx, judge, pool)
            except BudgetExceeded as exc:
                notes.append(budget_note(exc, f"judge {name}"))
                return self.decide(tally, notes, partial=True)
            if picked is None:
                notes.append(f"judge {name} failed ({why}); next in line")
                continue
            notes.append(f"judge {name} picked {short(shown(picked), 60)!r}")
            return self._verdict(tally, picked, notes)
        notes.append("no judge could decide: the verdict is the plain vote")
        return self.decide(tally, notes)

    def _pool(
        self, tally: Tally, clusters: list[Cluster], judge: Member, ctx: StrategyContext
    ) -> list[Candidate]:
        """One candidate per cluster, none from the judge's own model."""
        pool = []
        for c in clusters:
            eligible = [tally.answered[i] for i in c.indices if not own_model(judge, tally.answered[i], ctx)]
            if eligible:
                wording = [e for e in eligible if shown(e).strip() == c.answer]
                pool.append(min(wording or eligible, key=lambda e: e.member))
        return pool

    async def _ask(
        self, request: Request, ctx: StrategyContext, judge: Member, pool: list[Candidate]
    ) -> tuple[Candidate | None, str]:
        texts = [shown(c) for c in pool]
        order = labelled(texts, salt=judge.name)
        reply = await ctx.panel.call(judge, judge_messages(request, texts, order), role="judge")
        if not reply.ok:
            return None, reply.error.type if reply.error else "no answer"
        label = parse_best(reply.text or "", [label for label, _ in order])
        if label is None:
            return None, f"no candidate id in its reply {short(reply.text or '', 60)!r}"
        return pool[dict(order)[label]], ""

    def _verdict(self, tally: Tally, picked: Candidate, notes: list[str]) -> Verdict:
        clusters = tally.clusters()
        index = tally.answered.index(picked)
        chosen = next(c for c in clusters if index in c.indices)
        total = sum(c.weight for c in clusters)
        bonus = self.options.judge_weight
        confidence = (chosen.weight + bonus) / (total + bonus) if total + bonus else 0.0
        verdict = verdict_of(
            self.name, tally, chosen=chosen, answer=shown(picked), confidence=confidence, notes=notes
        )
        if tally.tools and picked.tool_calls:
            own = (picked.text or "").strip()  # the member's own text, not the rendering of its calls
            verdict = verdict.model_copy(update={"tool_calls": picked.tool_calls, "answer": own})
        return abstain(verdict, self.options.abstain_below)
