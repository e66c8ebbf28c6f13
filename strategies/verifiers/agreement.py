"""``agreement``: how many of the other answers say the same thing (for when nothing else can check).

The score of an answer is ``(w + 0.5) / (n + 1)``, where ``w`` is the weight of
the other answers equivalent to it (the strategy's ``answer_type`` rules, as a
vote groups them) and ``n`` the weight of all the other answers: 0.5 with
nothing to compare, 0.875 when three others agree, 0.125 when three disagree.
It costs no call. Scores change as answers arrive, so every answer is scored
again over the whole tree when the search ends, and the verdict is the most
agreed-upon answer. Its feedback names no other answer (nothing is forwarded).
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.types import Candidate
from strategies.verifiers.base import Score, SearchView, VerifierOptions

__all__ = ["AgreementVerifier"]


class AgreementVerifier:
    Options = VerifierOptions
    name: ClassVar[str] = "agreement"
    calls_per_answer = 0
    stable = False

    def __init__(self, options: VerifierOptions | None = None) -> None:
        self.options = options or VerifierOptions()

    def prepare(self, view: SearchView) -> None:
        return None

    async def score(self, candidate: Candidate, view: SearchView) -> Score:
        tally = view.tally
        key = await tally.key_candidate(candidate)
        agree = total = 0.0
        count = 0
        for other in view.others(candidate):
            weight = tally.weight(other.member)
            total += weight
            if tally.same(key, await tally.key_candidate(other)):
                agree += weight
                count += 1
        others = len(view.others(candidate))
        return Score(
            (agree + 0.5) / (total + 1.0),
            f"agrees with {count} of the {others} other answers" if others else "no other answer to compare",
        )
