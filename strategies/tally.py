"""A running count of answers: candidates grouped into clusters of equivalent answers as they arrive.

Each answer is keyed once (in a worker thread when keying runs code or a
model); with ``answer_type = "auto"`` the type is inferred again as answers
arrive. When the request offers tools, an answer that calls tools is keyed by
its canonical (function name, arguments) pairs and only agrees with the same calls.

The vote is decided by what the answers say, never by how a key sorts:

- an empty answer is a failed call (``empty_answer``), not a candidate;
- an answer that does not parse as the type (the requested one, or under
  ``auto`` the type most answers share) stands alone in a cluster that cannot
  win; when no answer parses, there is no winner;
- the heaviest cluster wins; between clusters of equal weight the one more
  members agree on wins, then the one holding the most trusted (heaviest)
  member; a tie that survives these is not broken at all: :meth:`Tally.decision`
  has no winner and says so, and the strategy abstains (a cascade escalates on
  that, a judge asks its judge).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.types import Candidate, CandidateError, Cluster
from strategies.answers import (
    AnswerSettings,
    Key,
    Matcher,
    answers_type,
    cluster_keys,
    matcher_for,
    question_type,
    tool_call_key,
)

__all__ = ["Decision", "Tally", "leader_probability", "shown"]

_TOOL = object()  # marks the key of an answer that called tools


def shown(candidate: Candidate) -> str:
    """What a candidate said, as text: its answer, or its tool calls written out."""
    if candidate.tool_calls:
        return tool_call_key(candidate.tool_calls)
    return candidate.text or ""


def counted(candidate: Candidate) -> Candidate:
    """The candidate as the vote counts it: a reply with neither text nor tool calls is a failed call."""
    if candidate.error is None and not candidate.tool_calls and not (candidate.text or "").strip():
        error = CandidateError(type="empty_answer", message="the member's reply had no text")
        return candidate.model_copy(update={"error": error})
    return candidate


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a vote: the winning cluster (None on an unbroken tie or when nothing parsed),
    its share of the weight, and a note saying how a tie was broken or why there is no winner."""

    winner: Cluster | None
    share: float
    note: str | None = None


_TIE_RULES = ("the number of agreeing members", "the weight of the most trusted member")


class Tally:
    """The answers of one round, clustered; weights come from the members."""

    def __init__(
        self,
        question: str,
        settings: AnswerSettings,
        weights: dict[str, float] | None = None,
        *,
        tools: bool = False,
    ) -> None:
        self.question = question
        self.settings = settings
        self.tools = tools
        self._weights = dict(weights or {})
        self.candidates: list[Candidate] = []
        self._kind: str | None = None
        self._matchers: dict[str, Matcher] = {}
        self._fixed: Matcher | None = None  # the matcher once the type no longer depends on the answers
        self._keys: dict[tuple[str, str], Key] = {}
        self._asked: tuple[str | None] | None = None
        self._inferred: tuple[int, str] | None = None
        self._clustered: tuple[tuple[str, int], list[Cluster]] | None = None
        self._contenders = 0
        self._complete: str | None = None  # the matcher kind every answer so far is keyed under
        self._answers: list[Candidate] = []  # the candidates that answered, as of _answered_at
        self._answered_at = 0

    # -- adding ----------------------------------------------------------------------

    async def add(self, candidate: Candidate) -> None:
        candidate = counted(candidate)
        self.candidates.append(candidate)
        if candidate.ok and not self._keyed_already(candidate):
            await self._key_all()

    def _keyed_already(self, candidate: Candidate) -> bool:
        """Whether keying now would find nothing to do: every earlier answer is keyed under the
        matcher the tally now uses, and this answer's text (or its tool calls) needs no key."""
        matcher = self.matcher()
        if self._complete != matcher.kind:
            return False
        return bool(self.tools and candidate.tool_calls) or (matcher.kind, candidate.text or "") in self._keys

    async def extend(self, candidates: Iterable[Candidate]) -> None:
        for candidate in candidates:
            self.candidates.append(counted(candidate))
        await self._key_all()

    async def _key_all(self) -> None:
        """Key every answer not keyed yet, in one worker-thread hop when the matcher blocks.

        A lone answer is not keyed by a blocking matcher: there is nothing to compare it with.
        """
        texts = self._texts()
        matcher = self.matcher()
        todo = list(dict.fromkeys(t for t in texts if (matcher.kind, t) not in self._keys))
        if not todo:
            self._complete = matcher.kind
            return
        if matcher.blocking and len(texts) < 2:
            return
        if _off_loop(matcher, todo):
            keys = await asyncio.to_thread(lambda: [matcher.key(t) for t in todo])
        else:
            keys = [matcher.key(t) for t in todo]
        for text, key in zip(todo, keys, strict=True):
            self._keys[(matcher.kind, text)] = key
        self._clustered = None
        if all((matcher.kind, t) in self._keys for t in self._texts()):  # answers added meanwhile?
            self._complete = matcher.kind  # every answer so far is keyed under this matcher

    def _texts(self) -> list[str]:
        answers = self._answered()
        if not self.tools:
            return [c.text or "" for c in answers]
        return [c.text or "" for c in answers if not c.tool_calls]

    def _answered(self) -> list[Candidate]:
        """The candidates that answered (not a copy): read again only when candidates were added."""
        if self._answered_at != len(self.candidates):
            self._answers = [c for c in self.candidates if c.ok]
            self._answered_at = len(self.candidates)
        return self._answers

    # -- reading ---------------------------------------------------------------------

    @property
    def answered(self) -> list[Candidate]:
        return list(self._answered())

    @property
    def failed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.error is not None]

    @property
    def kind(self) -> str:
        return self.matcher().kind

    def weight(self, member: str) -> float:
        return self._weights.get(member, 1.0)

    def matcher(self) -> Matcher:
        if self._fixed is not None:
            return self._fixed
        wanted: str = self.settings.answer_type
        inferred = False
        if wanted == "auto":
            if self._asked is None:  # what the question asks for does not change: read it once
                self._asked = (question_type(self.question),)
            count = len(self.candidates)
            if self._asked[0] is not None:
                wanted = self._asked[0]
            else:
                if self._inferred is None or self._inferred[0] != count:
                    self._inferred = (count, answers_type(self._texts(), self.question))
                wanted = self._inferred[1]
                inferred = True
        matcher = self._matchers.get(wanted)
        if matcher is None:
            matcher = self._matchers[wanted] = matcher_for(wanted, self.question, (), self.settings)  # type: ignore[arg-type]
        if not inferred:  # the type asked for, or the one the question asks: it stays
            self._fixed = matcher
        return matcher

    def key_of(self, candidate: Candidate) -> Key:
        if self.tools and candidate.tool_calls:
            return Key(canonical="call: " + tool_call_key(candidate.tool_calls), value=_TOOL)
        matcher = self.matcher()
        text = candidate.text or ""
        key = self._keys.get((matcher.kind, text))
        if key is not None:
            return key
        if matcher.blocking:  # a lone answer, never keyed: it needs no comparison
            return Key(canonical=" ".join(text.split()))
        return matcher.key(text)

    def same(self, a: Key, b: Key) -> bool:
        if a.value is _TOOL or b.value is _TOOL:
            return a.canonical == b.canonical
        if not (a.extracted and b.extracted):  # an answer of no type stands alone (or with its twins)
            return a.extracted == b.extracted and a.canonical == b.canonical
        return self.matcher().same(a, b)

    def clusters(self) -> list[Cluster]:
        """Every cluster: the contenders first (best first, see :meth:`decision`), then the answers
        that did not parse as the type. Equal clusters are listed by their members' names (display
        only: the order never decides a tie)."""
        return list(self._clusters())

    def _clusters(self) -> list[Cluster]:
        """:meth:`clusters`, not a copy (the tally's own, for reading)."""
        answered = self._answered()
        if not answered:
            return []
        memo = (self.matcher().kind, len(self.candidates))
        if self._clustered is not None and self._clustered[0] == memo:
            return self._clustered[1]
        keys = [self.key_of(c) for c in answered]
        found = cluster_keys(
            keys,
            self.same,
            [shown(c) for c in answered],
            [self._weights.get(c.member, 1.0) for c in answered],  # self.weight of each
            [c.member for c in answered],
        )
        if len(found) > 1:
            parsed = {id(c): all(keys[i].extracted for i in c.indices) for c in found}
            found.sort(key=lambda c: (not parsed[id(c)], *self._rank(c), sorted(c.members)))
            self._contenders = sum(parsed.values())
        else:
            self._contenders = int(all(key.extracted for key in keys))
        self._clustered = (memo, found)
        return found

    def contenders(self) -> list[Cluster]:
        """The clusters that can win: those whose answers parse as the type."""
        clusters = self._clusters()
        return clusters[: self._contenders]

    def _rank(self, c: Cluster) -> tuple[float, int, float]:
        strongest = max(self.weight(m) for m in c.members)
        return (-round(c.weight, 9), -len(c.indices), -round(strongest, 9))

    def decision(self) -> Decision:
        """Who won, by weight, then the tie rules; no winner on a tie they leave or when nothing parsed."""
        clusters = self._clusters()
        total = sum(c.weight for c in clusters)
        contenders = self.contenders()
        if not contenders:
            note = f"no answer parsed as {self.kind}: no winner" if clusters else None
            return Decision(None, 0.0, note)
        best = contenders[0]
        share = best.weight / total if total else 0.0
        if len(contenders) == 1:
            return Decision(best, share)
        best_rank = self._rank(best)
        level = [c for c in contenders if self._rank(c)[0] == best_rank[0]]
        if len(level) == 1:
            return Decision(best, share)
        names = " and ".join(f"{short_text(c.answer)!r} ({', '.join(c.members)})" for c in level)
        for depth, rule in enumerate(_TIE_RULES, start=1):
            level = [c for c in level if self._rank(c)[: depth + 1] == best_rank[: depth + 1]]
            if len(level) == 1:
                return Decision(
                    best, share, f"tie on weight {best.weight:g} between {names}: broken by {rule}"
                )
        return Decision(
            None, share, f"tie on weight {best.weight:g} between {names}: no member weight breaks it"
        )

    async def key_text(self, text: str) -> Key:
        """The key of any text under this tally's matcher (keyed off the event loop when that runs code)."""
        matcher = self.matcher()
        cached = self._keys.get((matcher.kind, text))
        if cached is None:
            if _off_loop(matcher, [text]):
                cached = await asyncio.to_thread(matcher.key, text)
            else:
                cached = matcher.key(text)
            self._keys[(matcher.kind, text)] = cached
            self._clustered = None  # a lone answer keyed now may join a cluster
        return cached

    async def key_candidate(self, candidate: Candidate) -> Key:
        """``key_of`` for a candidate that may not be in this tally."""
        if self.tools and candidate.tool_calls:
            return self.key_of(candidate)
        return await self.key_text(candidate.text or "")

    async def agreeing(self, text: str) -> tuple[Cluster | None, float]:
        """The cluster an outside answer (an aggregate, a synthesis) agrees with, and that cluster's share."""
        key = await self.key_text(text)
        for candidate in self.answered:
            await self.key_candidate(candidate)
        clusters = self._clusters()
        total = sum(c.weight for c in clusters)
        answered = self._answered()
        for c in clusters:
            if any(self.same(key, self.key_of(answered[i])) for i in c.indices):
                return c, (c.weight / total if total else 0.0)
        return None, 0.0

    def representative(self, cluster: Cluster) -> Candidate:
        """The candidate whose wording stands for the cluster (order-independent)."""
        answered = self._answered()
        members = [answered[i] for i in cluster.indices]
        wording = [c for c in members if shown(c).strip() == cluster.answer]
        return min(wording or members, key=lambda c: c.member)

    def lead(self) -> tuple[float, float]:
        """The weight of the leading contender and of the heaviest other cluster (which, under ``auto``,
        may still become a contender as the inferred type changes)."""
        contenders = self.contenders()
        if not contenders:
            return 0.0, 0.0
        others = [c.weight for c in self._clusters() if c is not contenders[0]]
        return contenders[0].weight, max(others, default=0.0)

    def decided(self, outstanding: float) -> bool:
        """Whether the leader stays ahead even if every ``outstanding`` weight joins the runner-up."""
        first, second = self.lead()
        return first > 0 and first > second + outstanding


def _off_loop(matcher: Matcher, texts: list[str]) -> bool:
    """Whether keying ``texts`` goes to a worker thread: a blocking matcher's, unless the batch is
    shorter than the matcher's ``inline_chars`` (cheaper on the loop than the thread's hop)."""
    return matcher.blocking and sum(map(len, texts)) >= getattr(matcher, "inline_chars", 0)


def short_text(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def leader_probability(first: float, second: float, steps: int = 400) -> float:
    """P(the leader's true share beats the runner-up's) under a Beta(first+1, second+1) posterior.

    The stopping rule of Adaptive-Consistency: keep sampling while this is below a threshold.

    >>> round(leader_probability(3, 0), 4)
    0.9375
    """
    a, b = first + 1.0, second + 1.0
    log_norm = _log_beta(a, b)
    h = 0.5 / steps
    total = 0.0
    for i in range(steps + 1):
        x = 0.5 + i * h
        if x >= 1.0:
            fx = math.exp(-log_norm) if b == 1 else 0.0  # the density at x = 1
        else:
            fx = math.exp((a - 1) * math.log(x) + (b - 1) * math.log(1 - x) - log_norm)
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += weight * fx
    return min(1.0, total * h / 3)
