"""``debate``: members answer, then see each other's answers and may revise, for some rounds; then a vote.

In each round every member gets its own last answer back (as its assistant
turn) and the others' latest answers quoted, anonymised, in a user turn, and
answers again. The debate stops early once every member agrees
(``stop_when_unanimous``). Configured as::

    [strategies.argue]
    kind = "debate"
    team = "mixed"
    rounds = 2

Calls: team size x (1 + rounds), fewer when the panel agrees early. The
verdict is a vote over each member's last answer; its notes say who changed
their answer. A budget that cannot pay for the next round ends the debate
there and marks the verdict partial.
"""

from __future__ import annotations

from pydantic import Field

from orchestrator.errors import BudgetExceeded
from orchestrator.protocols import StrategyContext
from orchestrator.types import Candidate, Request, Verdict
from strategies.base import (
    BaseStrategy,
    StrategyOptions,
    budget_note,
    call_each,
    first_answers,
    seed_note,
    short,
    split_seed,
)
from strategies.prompts import debate_messages
from strategies.tally import Tally, shown

__all__ = ["Debate", "DebateOptions"]


class DebateOptions(StrategyOptions):
    rounds: int = Field(default=1, ge=0)
    stop_when_unanimous: bool = True


class Debate(BaseStrategy):
    Options = DebateOptions
    kind = "debate"
    options: DebateOptions

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        self.begin(ctx)
        reused, outside, to_ask = split_seed(ctx)
        notes = seed_note(reused, outside)
        first = [*reused, *await first_answers(request, ctx, to_ask, [shown(c) for c in outside])]
        latest: dict[str, Candidate] = {c.member: c for c in first if c.ok}
        opening = dict(latest)
        failures = [c for c in first if not c.ok]
        partial = False
        for round_no in range(1, self.options.rounds + 1):
            tally = await self._tally(request, ctx, latest, failures)
            if not latest or (self.options.stop_when_unanimous and len(tally.clusters()) == 1):
                if latest:
                    notes.append(f"unanimous after {round_no - 1} round(s) of debate: stopped early")
                break
            calls = []
            for m in ctx.members:
                own = latest.get(m.name)
                others = [shown(c) for name, c in latest.items() if name != m.name]
                if others:
                    own_text = shown(own) if own is not None else None
                    calls.append((m, debate_messages(request, own_text, others, salt=f"{m.name}:{round_no}")))
            try:
                revised = await call_each(ctx, calls, role="debate")
            except BudgetExceeded as exc:
                notes.append(budget_note(exc, f"debate round {round_no}"))
                partial = True
                break
            for c in revised:
                if c.ok:
                    latest[c.member] = c
                elif c.member in latest:
                    why = c.error.type if c.error else "no answer"
                    notes.append(f"{c.member} failed in round {round_no} ({why}); its earlier answer stands")
                else:
                    failures.append(c)
        tally = await self._tally(request, ctx, latest, failures)
        changed = [
            f"{name}: {short(shown(opening[name]), 40)!r} -> {short(shown(c), 40)!r}"
            for name, c in latest.items()
            if name in opening and not tally.same(await tally.key_candidate(opening[name]), tally.key_of(c))
        ]
        if changed:
            notes.append("changed their answer: " + "; ".join(changed))
        return self.decide(tally, notes, partial=partial)

    async def _tally(
        self, request: Request, ctx: StrategyContext, latest: dict[str, Candidate], failures: list[Candidate]
    ) -> Tally:
        tally = self.tally(request, ctx.members)
        failed = [c for c in failures if c.member not in latest]
        await tally.extend([*latest.values(), *failed])
        return tally
