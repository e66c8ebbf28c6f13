"""``treesearch``: adaptive-branching tree search over the members' answers, scored by a verifier.

A node is an answer with a score from a verifier (``tests``, ``judge``,
``agreement``, or a plugin; see :mod:`strategies.verifiers`). Each step,
Thompson sampling over the posteriors of the scores decides whether to go
*wider* (a fresh answer to the question) or *deeper* (a member rewrites an
existing answer, seeing its score and the verifier's feedback), and a bandit
over the members picks who writes it, so the search learns during the request
which model pays off (AB-MCTS, :mod:`strategies.search.tree`). Configured as::

    [strategies.search]
    kind = "treesearch"
    team = "coders"
    verifier = "tests"          # auto (tests when there are tests, else agreement) | judge | agreement
    budget = 8                  # answers generated (fresh + refined), the search's calls
    batch = 2                   # answers generated in parallel per step
    stop_at_score = 1.0         # stop after the step in which an answer scores this (all tests pass)
    prior = { a = 0.5, b = 0.5 }   # Beta prior of every posterior (Jeffreys)
    members = ["a", "b"]        # who may write answers (default: the team)
    refine_prompt = "Fix the failing tests."   # the instruction of a refinement call
    seed = 0                    # the sampler's seed (with the question): a replay takes the same path

The verdict is the best-scoring answer (the earliest among equals) and its
**confidence is its verifier score**: the share of tests it passes, the judge's
grade over 10, or its smoothed share of agreeing answers. Every answer is a
candidate with ``search`` set (node id, parent, ``widen``/``refine``, score,
feedback); the notes give the path to the best answer. A verifier's own calls
(a judge's) count against ``max_calls``/``max_cost_usd`` but not ``budget``.
A step that the budgets cannot pay for is not started (the verdict is
``partial``), nor one after the request's deadline; a cancelled request stops
the search, cancelling the calls in flight. The answers of a step enter the
tree in the order they were planned, not as they complete, and the sampler is
seeded from ``seed`` and the question, so a replay from recorded calls takes
the same path.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Member, Request, SearchNode, Verdict
from strategies.base import BaseStrategy, StrategyOptions, abstain, require_answers, short
from strategies.prompts import refine_messages
from strategies.search.tree import Node, Plan, SearchTree
from strategies.tally import shown
from strategies.verifiers import Score, SearchView, Verifier, load_verifier

__all__ = ["BetaPriorOptions", "TreeSearch", "TreeSearchOptions"]


class BetaPriorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: float = Field(default=0.5, gt=0)
    b: float = Field(default=0.5, gt=0)


class TreeSearchOptions(StrategyOptions):
    verifier: str | dict[str, Any] = "auto"
    budget: int = Field(default=8, ge=1)
    batch: int = Field(default=1, ge=1)
    stop_at_score: float | None = Field(default=1.0, gt=0, le=1)
    prior: BetaPriorOptions = Field(default_factory=BetaPriorOptions)
    members: list[str] | None = Field(default=None, min_length=1)
    refine_prompt: str | None = Field(default=None, min_length=1)
    seed: int = 0

    @field_validator("verifier")
    @classmethod
    def _known_verifier(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if value != "auto":
            load_verifier(value)  # an unknown kind or a bad option is a config error now
        return value

    def references(self) -> list[tuple[str, str, str]]:
        refs = [("members", "member", name) for name in self.members or []]
        if isinstance(self.verifier, dict):
            refs += [("verifier.judges", "member", name) for name in self.verifier.get("judges") or []]
        return refs


@dataclass
class _Grown:
    plan: Plan
    candidate: Candidate
    score: Score | None


class TreeSearch(BaseStrategy):
    Options = TreeSearchOptions
    kind = "treesearch"
    options: TreeSearchOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        members = [ctx.member(n) for n in self.options.members] if self.options.members else list(ctx.members)
        if ctx.panel.clearance is not None:  # the policy refuses an excluded writer before any call
            ctx.panel.clearance.check(members)
        settings = self.settings(request)
        view = SearchView(request, ctx, settings, self.tally(request, members), members)
        verifier = self._verifier(view)
        verifier.prepare(view)
        seed = hashlib.sha256(f"{self.options.seed}\x1f{request.question()}".encode()).hexdigest()
        prior = (self.options.prior.a, self.options.prior.b)
        tree = SearchTree([m.name for m in members], prior=prior, rng=random.Random(seed))
        search = _Search(self, request, ctx, view, verifier, tree, {m.name: m for m in members})
        return await search.run()

    def _verifier(self, view: SearchView) -> Verifier:
        spec = self.options.verifier
        if spec == "auto":
            spec = "tests" if view.settings.tests else "agreement"
        return load_verifier(spec)


class _Search:
    """One request's search: steps of ``batch`` answers until the budget, a stop or a deadline."""

    def __init__(
        self,
        strategy: TreeSearch,
        request: Request,
        ctx: StrategyContext,
        view: SearchView,
        verifier: Verifier,
        tree: SearchTree,
        members: dict[str, Member],
    ) -> None:
        self.options = strategy.options
        self.name = strategy.name
        self.request, self.ctx, self.view, self.verifier, self.tree = request, ctx, view, verifier, tree
        self.members = members
        self.candidates: dict[int, Candidate] = {}  # node id -> its answer
        self.samples: Counter[str] = Counter()  # calls asked of each member so far: its sample index
        self.failures: list[Candidate] = []
        self.notes: list[str] = []
        self.partial = False

    async def run(self) -> Verdict:
        made = 0
        while made < self.options.budget:
            k = min(self.options.batch, self.options.budget - made)
            if self._past_deadline():
                self.partial = True
                self.notes.append(f"partial: the deadline passed after {made} answers")
                break
            try:
                self._claim(k)
            except BudgetExceeded as exc:
                self.partial = True
                self.notes.append(f"partial: stopped after {made} answers, {exc}")
                break
            plans = [self.tree.choose() for _ in range(k)]
            grown = await self._grow_all(plans)
            made += k
            reached = self._tell(grown)
            if reached is not None:
                self.notes.append(
                    f"early exit: node {reached.id} scored {reached.score:.2f} >= stop_at_score "
                    f"{self.options.stop_at_score:g} after {made} of {self.options.budget} answers"
                )
                break
        return await self._verdict()

    def _claim(self, k: int) -> None:
        """Claim a step's ``k`` answer calls, or raise :class:`BudgetExceeded` when the budgets cannot
        also pay for their verifier calls (those the verifier claims itself, as it makes them)."""
        ledger = self.ctx.panel.ledger
        extra = k * self.verifier.calls_per_answer
        if extra and ledger.shortfall(k + extra) is not None:
            ledger.reserve(k + extra)  # raises, and remembers a refusal by the caller's own budget
        ledger.reserve(k)

    def _past_deadline(self) -> bool:
        deadline = self.ctx.panel.deadline
        return deadline is not None and asyncio.get_running_loop().time() >= deadline

    async def _grow_all(self, plans: list[Plan]) -> list[_Grown]:
        results: list[_Grown | None] = [None] * len(plans)

        async def one(i: int, plan: Plan, sample: int) -> None:
            results[i] = await self._grow(plan, sample)

        async with asyncio.TaskGroup() as group:
            for i, plan in enumerate(plans):
                group.create_task(one(i, plan, self.samples[plan.member]), name=f"treesearch:{plan.move}")
                self.samples[plan.member] += 1
        return [r for r in results if r is not None]

    async def _grow(self, plan: Plan, sample: int) -> _Grown:
        """One answer (fresh or a refinement) and its score."""
        member = self.members[plan.member]
        # What leaves: the request's own messages, or them with an answer another cleared member wrote and
        # the verifier's feedback (read by the policy in _cleared); panel.call checks the member itself.
        if plan.parent is None:
            messages, role = self.request.wire_messages(), "answer"
        else:
            messages, role = self._refine_messages(member, plan.parent), "refine"
        candidate = await self.ctx.panel.call(
            member, messages, self.request.params, role=role, sample_index=sample, reserved=True
        )
        if not candidate.ok:
            return _Grown(plan, candidate, None)
        return _Grown(plan, candidate, await self.verifier.score(candidate, self.view))

    def _refine_messages(self, member: Member, parent: Node) -> list[dict[str, Any]]:
        answer = self.candidates[parent.id]
        feedback = answer.search.feedback if answer.search else ""
        return refine_messages(
            self.request,
            shown(answer),
            parent.score,
            self._cleared(member, feedback),
            self.options.refine_prompt,
        )

    def _cleared(self, member: Member, feedback: str) -> str:
        """The verifier's feedback, if the policy lets ``member`` see it.

        Feedback can quote what the request's messages do not hold (the tests' source, in the
        failing output), so the policy reads it as it reads a request, and a member it would refuse
        gets the score alone.
        """
        clearance = self.ctx.panel.clearance
        if clearance is None or not feedback:
            return feedback
        levels = clearance.policy.clear(Request.of(feedback)).levels
        if clearance.policy.allowed(member, levels) is None:
            return feedback
        return "(the check's details are withheld: the policy does not let this member see them)"

    def _tell(self, grown: list[_Grown]) -> Node | None:
        """Into the tree in the order the step planned them (replayable); the node that reached the stop."""
        reached: Node | None = None
        for g in grown:
            if g.score is None:
                self.tree.failed(g.plan)
                self.failures.append(g.candidate)
                continue
            node = self.tree.tell(g.plan, g.score.value)
            parent = g.plan.parent.id if g.plan.parent else None
            g.candidate.search = SearchNode(
                id=node.id,
                parent=parent,
                move=g.plan.move,
                score=g.score.value,
                feedback=g.score.feedback[:1000],
            )
            self.candidates[node.id] = g.candidate
            self.view.answers.append(g.candidate)
            stop = self.options.stop_at_score
            if reached is None and stop is not None and node.score >= stop:
                reached = node
        return reached

    async def _rescore(self) -> None:
        """Scores that depend on the other answers (agreement), once more over the whole tree."""
        await self.view.tally.extend(self.view.answers)
        if self.verifier.stable:
            return
        for node in self.tree.nodes:
            candidate = self.candidates[node.id]
            score = await self.verifier.score(candidate, self.view)
            self.tree.rescore(node, score.value)
            if candidate.search is not None:
                candidate.search = candidate.search.model_copy(
                    update={"score": score.value, "feedback": score.feedback}
                )

    async def _verdict(self) -> Verdict:
        require_answers([*self.candidates.values(), *self.failures], max(1, self.options.min_answers))
        await self._rescore()
        best = self.tree.best()
        assert best is not None
        chosen = self.candidates[best.id]
        tally = self.view.tally
        clusters = tally.clusters()
        index = tally.answered.index(chosen)
        winner = next(c for c in clusters if index in c.indices)
        others = [c for c in clusters if c is not winner]
        notes = [*self._path_notes(best), *self.notes]
        notes += [f"{c.member} failed ({c.error.type})" for c in self.failures if c.error]
        verdict = Verdict(
            answer=shown(chosen).strip(),
            confidence=best.score,
            strategy=self.name,
            clusters=clusters,
            dissent="; ".join(f"{', '.join(c.members)} said {short(c.answer)!r}" for c in others),
            partial=self.partial,
            notes=notes,
        )
        return abstain(verdict, self.options.abstain_below)

    def _path_notes(self, best: Node) -> list[str]:
        tree = self.tree
        steps = " -> ".join(f"{n.id} {n.move} by {n.member} ({n.score:.2f})" for n in best.path())
        written = Counter(n.member for n in tree.nodes)
        return [
            f"best: node {best.id}, score {best.score:.2f} ({self.verifier.name}); path: {steps}",
            f"{len(tree.nodes)} answer{'s' if len(tree.nodes) != 1 else ''}: {tree.fresh_answers} fresh, "
            f"{tree.refinements} refined; by member: " + ", ".join(f"{m} {written[m]}" for m in self.members),
        ]
