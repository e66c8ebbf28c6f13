"""``single``: one member answers; no cross-check (the baseline every ensemble is measured against).

Its confidence is capped at 0.5, since nothing checked the answer. Configured as::

    [strategies.fast]
    kind = "single"
    member = "alice"      # default: the team's first member
"""

from __future__ import annotations

from orchestrator.protocols import StrategyContext
from orchestrator.types import Request, Verdict
from strategies.base import BaseStrategy, StrategyOptions

__all__ = ["Single", "SingleOptions"]


class SingleOptions(StrategyOptions):
    member: str | None = None

    def references(self) -> list[tuple[str, str, str]]:
        return [("member", "member", self.member)] if self.member else []


class Single(BaseStrategy):
    Options = SingleOptions
    kind = "single"
    options: SingleOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        member = ctx.member(self.options.member) if self.options.member else ctx.members[0]
        tally = self.tally(request, [member])
        await tally.add(await ctx.panel.call(member, request.wire_messages(), request.params, final=True))
        return self.decide(tally)
