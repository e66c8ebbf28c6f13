"""What the strategies share: options common to all, and turning clusters into a verdict."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import QuorumError
from orchestrator.types import Candidate, Cluster, Member, Verdict
from strategies.answers import AnswerType, cluster

__all__ = ["StrategyOptions", "clusters_of", "dissent_of", "require_answers", "verdict_of"]


class StrategyOptions(BaseModel):
    """Options every strategy takes."""

    model_config = ConfigDict(extra="forbid")

    answer_type: AnswerType = "auto"
    min_answers: int = Field(default=1, ge=1)
    abstain_below: float | None = Field(default=None, ge=0, le=1)


def require_answers(candidates: Sequence[Candidate], needed: int) -> list[Candidate]:
    """The candidates that answered, or a :class:`QuorumError` naming why the others did not."""
    answered = [c for c in candidates if c.ok]
    if len(answered) < needed:
        failures = {c.member: f"{c.error.type}: {c.error.message}" for c in candidates if c.error}
        raise QuorumError(
            f"{len(answered)} of {len(candidates)} members answered, {needed} needed", failures=failures
        )
    return answered


def clusters_of(
    answered: Sequence[Candidate], members: Sequence[Member], answer_type: AnswerType
) -> list[Cluster]:
    weight = {m.name: m.weight for m in members}
    return cluster(
        [c.text or "" for c in answered],
        [weight.get(c.member, 1.0) for c in answered],
        answer_type,
        [c.member for c in answered],
    )


def dissent_of(clusters: Sequence[Cluster], candidates: Sequence[Candidate]) -> str:
    """One line on who disagreed and who failed."""
    parts = [f"{', '.join(c.members)} said {_short(c.answer)!r}" for c in clusters[1:]]
    failed = [
        f"{c.member} failed ({c.error.type})" for c in candidates if c.error and c.error.type != "cancelled"
    ]
    return "; ".join(parts + failed)


def verdict_of(
    strategy: str,
    clusters: Sequence[Cluster],
    candidates: Sequence[Candidate],
    options: StrategyOptions,
) -> Verdict:
    """Answer = heaviest cluster; confidence = its share of the weight that arrived."""
    total = sum(c.weight for c in clusters)
    best = clusters[0]
    confidence = best.weight / total if total else 0.0
    abstained = options.abstain_below is not None and confidence < options.abstain_below
    answer = best.answer
    if abstained:
        competing = "; ".join(f"{_short(c.answer)!r} ({len(c.members)})" for c in clusters)
        answer = f"The panel could not agree (confidence {confidence:.2f}). Competing answers: {competing}"
    dissent = dissent_of(clusters, candidates)
    if len(candidates) and sum(len(c.members) for c in clusters) == 1:
        dissent = "; ".join(filter(None, ["resting on a single answer, not cross-checked", dissent]))
    return Verdict(
        answer=answer,
        confidence=confidence,
        abstained=abstained,
        strategy=strategy,
        clusters=list(clusters),
        dissent=dissent,
    )


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
