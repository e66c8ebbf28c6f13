"""A running count of answers: candidates grouped into clusters of equivalent answers as they arrive.

Each answer is keyed once (in a worker thread when keying runs code); with
``answer_type = "auto"`` the type is inferred again as answers arrive. When
the request offers tools, an answer that calls tools is keyed by its
canonical (function name, arguments) pairs and only agrees with the same calls.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable

from orchestrator.types import Candidate, Cluster
from strategies.answers import (
    AnswerSettings,
    Key,
    Matcher,
    cluster_keys,
    infer_type,
    matcher_for,
    tool_call_key,
)

__all__ = ["Tally", "leader_probability", "shown"]

_TOOL = object()  # marks the key of an answer that called tools


def shown(candidate: Candidate) -> str:
    """What a candidate said, as text: its answer, or its tool calls written out."""
    if candidate.tool_calls:
        return tool_call_key(candidate.tool_calls)
    return candidate.text or ""


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
        self._keys: dict[tuple[str, str], Key] = {}
        self._inferred: tuple[int, str] | None = None

    # -- adding ----------------------------------------------------------------------

    async def add(self, candidate: Candidate) -> None:
        self.candidates.append(candidate)
        if candidate.ok:
            await self._key_all()

    async def extend(self, candidates: Iterable[Candidate]) -> None:
        for candidate in candidates:
            self.candidates.append(candidate)
        await self._key_all()

    async def _key_all(self) -> None:
        for text in self._texts():
            await self.key_text(text)

    def _texts(self) -> list[str]:
        return [c.text or "" for c in self.answered if not (self.tools and c.tool_calls)]

    # -- reading ---------------------------------------------------------------------

    @property
    def answered(self) -> list[Candidate]:
        return [c for c in self.candidates if c.ok]

    @property
    def failed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.error is not None]

    @property
    def kind(self) -> str:
        return self.matcher().kind

    def weight(self, member: str) -> float:
        return self._weights.get(member, 1.0)

    def matcher(self) -> Matcher:
        wanted: str = self.settings.answer_type
        if wanted == "auto":
            count = len(self.candidates)
            if self._inferred is None or self._inferred[0] != count:
                self._inferred = (count, infer_type(self._texts(), self.question))
            wanted = self._inferred[1]
        if wanted not in self._matchers:
            self._matchers[wanted] = matcher_for(wanted, self.question, (), self.settings)  # type: ignore[arg-type]
        return self._matchers[wanted]

    def key_of(self, candidate: Candidate) -> Key:
        if self.tools and candidate.tool_calls:
            return Key(canonical="call: " + tool_call_key(candidate.tool_calls), value=_TOOL)
        matcher = self.matcher()
        key = self._keys.get((matcher.kind, candidate.text or ""))
        return key if key is not None else matcher.key(candidate.text or "")

    def same(self, a: Key, b: Key) -> bool:
        if a.value is _TOOL or b.value is _TOOL:
            return a.canonical == b.canonical
        return self.matcher().same(a, b)

    def clusters(self) -> list[Cluster]:
        answered = self.answered
        if not answered:
            return []
        return cluster_keys(
            [self.key_of(c) for c in answered],
            self.same,
            [shown(c) for c in answered],
            [self.weight(c.member) for c in answered],
            [c.member for c in answered],
        )

    async def key_text(self, text: str) -> Key:
        """The key of any text under this tally's matcher (keyed off the event loop when that runs code)."""
        matcher = self.matcher()
        cached = self._keys.get((matcher.kind, text))
        if cached is None:
            cached = await asyncio.to_thread(matcher.key, text) if matcher.blocking else matcher.key(text)
            self._keys[(matcher.kind, text)] = cached
        return cached

    async def key_candidate(self, candidate: Candidate) -> Key:
        """``key_of`` for a candidate that may not be in this tally."""
        if self.tools and candidate.tool_calls:
            return self.key_of(candidate)
        return await self.key_text(candidate.text or "")

    async def agreeing(self, text: str) -> tuple[Cluster | None, float]:
        """The cluster an outside answer (an aggregate, a synthesis) agrees with, and that cluster's share."""
        clusters = self.clusters()
        total = sum(c.weight for c in clusters)
        key = await self.key_text(text)
        for c in clusters:
            if any(self.same(key, self.key_of(self.answered[i])) for i in c.indices):
                return c, (c.weight / total if total else 0.0)
        return None, 0.0

    def representative(self, cluster: Cluster) -> Candidate:
        """The candidate whose wording stands for the cluster (order-independent)."""
        members = [self.answered[i] for i in cluster.indices]
        wording = [c for c in members if shown(c).strip() == cluster.answer]
        return min(wording or members, key=lambda c: c.member)

    def lead(self) -> tuple[float, float]:
        """The weight of the leading cluster and of the runner-up."""
        clusters = self.clusters()
        first = clusters[0].weight if clusters else 0.0
        second = clusters[1].weight if len(clusters) > 1 else 0.0
        return first, second

    def decided(self, outstanding: float) -> bool:
        """Whether the leader stays ahead even if every ``outstanding`` weight joins the runner-up."""
        first, second = self.lead()
        return first > 0 and first > second + outstanding


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
