"""``judge``: a member grades the answer against the question on a rubric, never its own model's answer.

The grader sees the question and the one answer, anonymised, as quoted data,
and replies ``SCORE: <0-10>``; the score is that over 10 and the rest of its
reply is the feedback. ``judges`` is a fallback chain (default: the search's
members); for each answer the first judge not running the author's model
grades it, and when it fails or gives no score the next one does. Every grade
is a call, counted against ``max_calls``/``max_cost_usd`` (not against the
search's ``budget`` of answers). An answer no judge could grade
scores 0.5, nothing learned, and its feedback says so. Configured as::

    verifier = { kind = "judge", judges = ["strong", "backup"], rubric = "Is the SQL correct?" }
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orchestrator.errors import BudgetExceeded
from orchestrator.types import Candidate, Member
from strategies.judge import own_model
from strategies.prompts import grade_messages, parse_score, without_score
from strategies.verifiers.base import Score, SearchView, VerifierOptions

__all__ = ["JudgeVerifier", "JudgeVerifierOptions"]

UNGRADED = 0.5


class JudgeVerifierOptions(VerifierOptions):
    judges: list[str] | None = Field(default=None, min_length=1)
    rubric: str | None = None

    def references(self) -> list[tuple[str, str, str]]:
        return [("verifier.judges", "member", name) for name in self.judges or []]


class JudgeVerifier:
    Options = JudgeVerifierOptions
    name: ClassVar[str] = "judge"
    calls_per_answer = 1
    stable = True

    def __init__(self, options: JudgeVerifierOptions | None = None) -> None:
        self.options = options or JudgeVerifierOptions()

    def judges(self, view: SearchView) -> list[Member]:
        if self.options.judges:
            return [view.ctx.member(name) for name in self.options.judges]
        return list(view.members or view.ctx.members)

    def prepare(self, view: SearchView) -> None:
        judges = self.judges(view)
        if view.ctx.panel.clearance is not None:  # a judge the policy excludes: an error before any call
            view.ctx.panel.clearance.check(judges)

    async def score(self, candidate: Candidate, view: SearchView) -> Score:
        """Graded by the first judge that can; each grade is a call claimed from the budget first."""
        failures: list[str] = []
        eligible = [j for j in self.judges(view) if not own_model(j, candidate, view.ctx)]
        if not eligible:
            failures.append("every judge runs the author's model")
        for judge in eligible:
            try:
                view.ctx.panel.ledger.reserve(1)
            except BudgetExceeded:
                failures.append("no budget left for a judge")
                break
            messages = grade_messages(view.request, candidate.text or "", self.options.rubric)
            reply = await view.ctx.panel.call(judge, messages, role="verify", reserved=True)
            value = parse_score(reply.text or "") if reply.ok else None
            if value is not None:
                return Score(value, without_score(reply.text or "")[:600])
            failures.append(f"{judge.name}: " + (reply.error.type if reply.error else "no SCORE line"))
        return Score(UNGRADED, "not graded (" + "; ".join(failures) + ")")
