"""What the strategies share: their common options, the calls they make, and how a verdict is written.

Every strategy takes ``answer_type`` (how answers are compared), ``min_answers``
(a quorum: fewer answers is an error, not a guess), ``abstain_below`` (below
that confidence the verdict abstains and shows the competing answers),
``max_calls`` and ``max_cost_usd`` (checked before each round: a round that
would break them is not started, and the verdict is marked partial), and the
text/code matcher knobs (``text_match``, ``text_threshold``, ``tests``,
``test_timeout_s``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import BudgetExceeded, QuorumError
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Cluster, Member, Request, Verdict, assembled
from strategies.answers import AnswerSettings, AnswerType
from strategies.equivalence.text import TextMethod
from strategies.tally import Tally, shown

__all__ = [
    "SINGLE_ANSWER_CONFIDENCE",
    "BaseStrategy",
    "StrategyOptions",
    "abstain",
    "budget_note",
    "call_each",
    "chain",
    "failure_notes",
    "first_answers",
    "require_answers",
    "seed_answers",
    "seed_note",
    "short",
    "shown",
    "split_seed",
    "strongest",
    "undecided",
    "verdict_of",
]

_CATEGORY: contextvars.ContextVar[str | None] = contextvars.ContextVar("shoal_route_category", default=None)
"""The router's category of the request a strategy runs for (set by :meth:`BaseStrategy.begin`)."""

SINGLE_ANSWER_CONFIDENCE = 0.5  # an answer no one cross-checked is no surer than a coin flip on agreement


class StrategyOptions(BaseModel):
    """Options every strategy takes."""

    model_config = ConfigDict(extra="forbid")

    answer_type: AnswerType = "auto"
    min_answers: int = Field(default=1, ge=1)
    abstain_below: float | None = Field(default=None, ge=0, le=1)
    max_calls: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0)
    text_match: TextMethod = "auto"
    text_threshold: float | None = Field(default=None, gt=0, le=1)
    tests: str | None = None
    test_timeout_s: float = Field(default=5.0, gt=0)
    weights: dict[str, dict[str, float]] | None = None
    """Member weights per router category (``default``: the rest), e.g. learned by
    ``shoal bench --emit-weights``; a member they do not name keeps its own ``weight``."""

    def references(self) -> list[tuple[str, str, str]]:
        """``(option key, "member" | "strategy", name)`` for every name the options refer to."""
        return []

    @classmethod
    def defaults_for(cls, team: list[Member], roster: list[Member]) -> dict[str, Any]:
        """Options for the kind used by name with no ``[strategies.NAME]`` section (``-s judge``).

        ``team`` is the team it runs on, ``roster`` every configured member. A kind whose
        required options cannot be guessed returns ``{}`` and the missing option is a
        ``ConfigError`` naming what to configure.
        """
        return {}


def strongest(members: list[Member]) -> list[str]:
    """Member names by weight, heaviest first (config order among equals)."""
    return [m.name for m in sorted(members, key=lambda m: -m.weight)]


def chain(value: str | list[str]) -> list[str]:
    """A member or a fallback chain of members, as a list."""
    return [value] if isinstance(value, str) else list(value)


class BaseStrategy:
    """Holds a strategy's name and validated options."""

    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    kind: ClassVar[str] = "strategy"

    def __init__(self, name: str | None = None, options: dict[str, Any] | None = None) -> None:
        self.name = name or self.kind
        self.options = self.Options.model_validate(options or {})

    def settings(self, request: Request) -> AnswerSettings:
        o = self.options
        return AnswerSettings(
            answer_type=o.answer_type,
            text_match=o.text_match,
            text_threshold=o.text_threshold,
            tests=o.tests or request.tags.labels.get("tests"),
            test_timeout_s=o.test_timeout_s,
        )

    def tally(self, request: Request, members: Sequence[Member]) -> Tally:
        return Tally(
            request.question(),
            self.settings(request),
            {m.name: self.weight_of(m, request) for m in members},
            tools=bool(request.params.get("tools")),
        )

    def weight_of(self, member: Member, request: Request) -> float:
        """The member's vote weight: the learned one for the request's category, else its own."""
        weights = self.options.weights
        if not weights:
            return member.weight
        category = request.tags.category or _CATEGORY.get()
        table = weights.get(category or "") or weights.get("default") or {}
        return float(table.get(member.sample_of or member.name, member.weight))

    def begin(self, ctx: StrategyContext) -> None:
        ctx.panel.ledger.tighten(self.options.max_calls, self.options.max_cost_usd)
        if ctx.route.category not in ("nested", "direct"):  # a nested stage keeps the request's category
            _CATEGORY.set(ctx.route.category)

    async def synthesised(self, tally: Tally, text: str, notes: list[str], how: str, nobody: str) -> Verdict:
        """The verdict on a written answer (aggregator, chairman): confidence = share agreeing with it."""
        chosen, share = await tally.agreeing(text)
        agree = f"agrees with {', '.join(chosen.members)}" if chosen else f"agrees with {nobody}"
        notes.append(f"{how}; {agree}")
        verdict = verdict_of(
            self.name, tally, chosen=chosen, answer=text.strip(), confidence=share, notes=notes
        )
        return abstain(verdict, self.options.abstain_below)

    async def first_round(self, request: Request, ctx: StrategyContext, tally: Tally) -> list[str]:
        """Every member's first answer into ``tally``, reusing what a seeding stage paid for; its notes."""
        reused, outside, to_ask = split_seed(ctx)
        await tally.extend([*reused, *outside, *await first_answers(request, ctx, to_ask)])
        return seed_note(reused, outside)

    def decide(self, tally: Tally, notes: Sequence[str] = (), *, partial: bool = False) -> Verdict:
        """A vote over the tally (see :meth:`Tally.decision`), abstaining below ``abstain_below``.

        With no winner (a tie no rule breaks, or no answer of the type) the verdict abstains and
        its notes say why.
        """
        require_answers(tally.candidates, self.options.min_answers)
        decision = tally.decision()
        notes = [*notes, decision.note] if decision.note else list(notes)
        if decision.winner is None:
            verdict = verdict_of(
                self.name, tally, answer="", confidence=decision.share, notes=[*notes, "abstaining"]
            )
            verdict = abstain(verdict.model_copy(update={"partial": partial}), self.options.abstain_below)
            return verdict if verdict.abstained else undecided(verdict)
        verdict = verdict_of(self.name, tally, chosen=decision.winner, notes=notes, partial=partial)
        return abstain(verdict, self.options.abstain_below)


def require_answers(candidates: Sequence[Candidate], needed: int) -> list[Candidate]:
    """The candidates that answered, or a :class:`QuorumError` naming why the others did not."""
    answered = [c for c in candidates if c.ok]
    if len(answered) < needed:
        failures = {c.member: f"{c.error.type}: {c.error.message}" for c in candidates if c.error}
        raise QuorumError(
            f"{len(answered)} of {len(candidates)} members answered, {needed} needed",
            failures=failures,
            errors={c.member: c.error for c in candidates if c.error},
        )
    return answered


def short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_notes(candidates: Sequence[Candidate]) -> list[str]:
    return [
        f"{c.member} failed ({c.error.type}: {short(c.error.message, 120)})"
        for c in candidates
        if c.error is not None and c.error.type != "cancelled"
    ]


def _dissent(others: Sequence[Cluster], candidates: Sequence[Candidate]) -> str:
    parts = [f"{', '.join(c.members)} said {short(c.answer)!r}" for c in others]
    failed = [
        f"{c.member} failed ({c.error.type})" for c in candidates if c.error and c.error.type != "cancelled"
    ]
    return "; ".join(parts + failed)


def verdict_of(
    strategy: str,
    tally: Tally,
    *,
    chosen: Cluster | None = None,
    answer: str | None = None,
    confidence: float | None = None,
    notes: Sequence[str] = (),
    partial: bool = False,
) -> Verdict:
    """A verdict over a tally: ``chosen`` (default the heaviest cluster) and its share of the weight.

    A strategy that writes its own ``answer`` (an aggregate, a synthesis) passes
    the cluster it agrees with as ``chosen``, or None when it agrees with none.
    A verdict that rests on one answer says so, and its confidence is capped
    at :data:`SINGLE_ANSWER_CONFIDENCE`.
    """
    clusters = tally.clusters()
    if chosen is None and answer is None:
        chosen = tally.decision().winner
    total = sum(c.weight for c in clusters)
    if confidence is None:
        confidence = chosen.weight / total if chosen is not None and total else 0.0
    all_notes = list(notes)
    answered = tally.answered
    if len(answered) == 1:
        confidence = min(confidence, SINGLE_ANSWER_CONFIDENCE)
        all_notes.append(f"resting on a single answer ({answered[0].member}), not cross-checked")
    all_notes.extend(failure_notes(tally.candidates))
    tool_calls = None
    if chosen is not None and tally.tools and answer is None:
        representative = tally.representative(chosen)
        tool_calls = representative.tool_calls
        if tool_calls:
            # the answer is the calling member's own text ("Let me check."), never the
            # cluster's rendering of its calls, which is only the vote's key
            answer = (representative.text or "").strip()
    return assembled(  # from validated parts: the tally's clusters and candidates, our own notes
        Verdict,
        answer=answer if answer is not None else chosen.answer if chosen is not None else "",
        confidence=float(max(0.0, min(1.0, confidence))),
        strategy=strategy,
        clusters=clusters,  # the tally's clusters() is a fresh list
        dissent=_dissent([c for c in clusters if c is not chosen and c != chosen], tally.candidates),
        partial=partial,
        notes=all_notes,
        tool_calls=tool_calls,
    )


def abstain(verdict: Verdict, below: float | None) -> Verdict:
    """Below ``below`` confidence the verdict abstains: its answer says the panel could not agree."""
    if below is None or verdict.confidence >= below:
        return verdict
    competing = "; ".join(f"{short(c.answer)!r} ({', '.join(c.members)})" for c in verdict.clusters)
    answer = f"The panel could not agree (confidence {verdict.confidence:.2f}, below {below:.2f})." + (
        f" Competing answers: {competing}" if competing else ""
    )
    return verdict.model_copy(update={"answer": answer, "abstained": True, "tool_calls": None})


def undecided(verdict: Verdict) -> Verdict:
    """A verdict with no winner abstains: its answer names the competing answers, none is chosen."""
    competing = "; ".join(f"{short(c.answer)!r} ({', '.join(c.members)})" for c in verdict.clusters)
    answer = "The panel could not decide." + (f" Competing answers: {competing}" if competing else "")
    return verdict.model_copy(update={"answer": answer, "abstained": True, "tool_calls": None})


def seed_answers(ctx: StrategyContext) -> list[Candidate]:
    """An earlier stage's final answers (a cascade's first stage): each member's last answer."""
    if ctx.seed is None:
        return []
    latest: dict[str, Candidate] = {}
    for c in ctx.seed.candidates:
        if c.ok and c.role in ("answer", "debate", "propose"):
            latest[c.member] = c
    return list(latest.values())


def split_seed(ctx: StrategyContext) -> tuple[list[Candidate], list[Candidate], list[Member]]:
    """What an earlier stage already paid for: ``(reused, outside, to_ask)``.

    ``reused`` are seed answers of this team's members (they are not asked
    again), ``outside`` seed answers of other members, ``to_ask`` the team
    members the seed has no answer from.
    """
    seeded = seed_answers(ctx)
    team = {m.name for m in ctx.members}
    reused = [c for c in seeded if c.member in team]
    outside = [c for c in seeded if c.member not in team]
    answered = {c.member for c in reused}
    return reused, outside, [m for m in ctx.members if m.name not in answered]


def seed_note(reused: Sequence[Candidate], outside: Sequence[Candidate]) -> list[str]:
    parts = []
    if reused:
        parts.append(
            f"reused {len(reused)} answers from the earlier stage ({', '.join(c.member for c in reused)})"
        )
    if outside:
        parts.append(f"took in {len(outside)} answers of other members from the earlier stage")
    return parts


async def first_answers(
    request: Request, ctx: StrategyContext, members: Sequence[Member], references: Sequence[str] = ()
) -> list[Candidate]:
    """The members' answers to the question (with ``references`` quoted when there are some)."""
    if not members:
        return []
    if not references:
        return await ctx.panel.gather(list(members), request.wire_messages(), request.params)
    from strategies.prompts import reference_messages

    calls = [(m, reference_messages(request, references, salt=m.name)) for m in members]
    return await call_each(ctx, calls, role="answer")


async def call_each(
    ctx: StrategyContext, calls: Sequence[tuple[Member, list[dict[str, Any]]]], role: str
) -> list[Candidate]:
    """One call per (member, messages), in parallel; the budget is claimed for all before any is sent."""
    ctx.panel.ledger.reserve(len(calls))
    results: list[Candidate | None] = [None] * len(calls)

    async def one(i: int, member: Member, messages: list[dict[str, Any]]) -> None:
        results[i] = await ctx.panel.call(member, messages, role=role, reserved=True)

    async with asyncio.TaskGroup() as group:
        for i, (member, messages) in enumerate(calls):
            group.create_task(one(i, member, messages), name=f"{role}:{member.name}")
    return [c for c in results if c is not None]


def budget_note(exc: BudgetExceeded, what: str) -> str:
    return f"partial: {what} not run, {exc}"
