"""What every verifier shares: the score it returns and the view of the search it reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Member, Request
from strategies.answers import AnswerSettings
from strategies.tally import Tally

__all__ = ["Score", "SearchView", "Verifier", "VerifierOptions"]


@dataclass(frozen=True, slots=True)
class Score:
    """A verifier's score in [0, 1] and its feedback (why; what to fix)."""

    value: float
    feedback: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"a score is in [0, 1], not {self.value}")


@dataclass
class SearchView:
    """What a verifier may read: the request, the strategy's context, and the answers so far."""

    request: Request
    ctx: StrategyContext
    settings: AnswerSettings
    tally: Tally
    members: list[Member] = field(default_factory=list)  # who writes the answers
    answers: list[Candidate] = field(default_factory=list)

    def others(self, candidate: Candidate) -> Sequence[Candidate]:
        return [c for c in self.answers if c is not candidate]


class VerifierOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def references(self) -> list[tuple[str, str, str]]:
        return []


class Verifier(Protocol):
    Options: ClassVar[type[VerifierOptions]]
    name: ClassVar[str]
    calls_per_answer: int
    stable: bool

    def prepare(self, view: SearchView) -> None: ...

    async def score(self, candidate: Candidate, view: SearchView) -> Score: ...
