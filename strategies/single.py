"""``single``: one member answers; no cross-check (the baseline every ensemble is measured against).

Configured as::

    [strategies.fast]
    kind = "single"
    member = "alice"      # default: the team's first member
"""

from __future__ import annotations

from typing import Any

from orchestrator.protocols import StrategyContext
from orchestrator.types import Request, Verdict
from strategies.base import StrategyOptions, clusters_of, require_answers, verdict_of

__all__ = ["Single", "SingleOptions"]


class SingleOptions(StrategyOptions):
    member: str | None = None


class Single:
    Options = SingleOptions

    def __init__(self, name: str = "single", options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.options = SingleOptions.model_validate(options or {})

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        member = ctx.member(self.options.member) if self.options.member else ctx.members[0]
        candidate = await ctx.panel.call(member, request.wire_messages(), request.params)
        answered = require_answers([candidate], 1)
        clusters = clusters_of(answered, [member], self.options.answer_type)
        return verdict_of(self.name, clusters, [candidate], self.options)
