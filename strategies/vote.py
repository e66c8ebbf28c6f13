"""``vote``: every member answers; the heaviest cluster of equivalent answers wins.

Confidence is the winning cluster's share of the (weighted) answers that
arrived, so ``"42", "42", "41"`` gives ``"42"`` at 0.67. Configured as::

    [strategies.majority]
    kind = "vote"
    team = "cloud"
    answer_type = "number"   # auto | number | choice | yesno | text | code | json
    min_answers = 2          # quorum: fewer answers is an error, not a guess
"""

from __future__ import annotations

from typing import Any

from orchestrator.protocols import StrategyContext
from orchestrator.types import Request, Verdict
from strategies.base import StrategyOptions, clusters_of, require_answers, verdict_of

__all__ = ["Vote", "VoteOptions"]


class VoteOptions(StrategyOptions):
    pass


class Vote:
    Options = VoteOptions

    def __init__(self, name: str = "vote", options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.options = VoteOptions.model_validate(options or {})

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        candidates = await ctx.panel.gather(ctx.members, request.wire_messages(), request.params)
        answered = require_answers(candidates, self.options.min_answers)
        clusters = clusters_of(answered, ctx.members, self.options.answer_type)
        return verdict_of(self.name, clusters, candidates, self.options)
