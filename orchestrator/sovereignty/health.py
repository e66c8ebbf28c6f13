"""Members' health as people and monitors read it: a status table, probes, Prometheus lines.

``shoal members status`` shows :func:`member_status`; ``--probe`` first sends each member
one short call (:func:`probe`) through the orchestrator's breakers; ``shoal serve``'s
``/metrics`` reads :class:`HealthCollector`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orchestrator.panel import Ledger, MemberGates, Panel
from orchestrator.types import Candidate, Member

if TYPE_CHECKING:
    from orchestrator.engine import Orchestrator

__all__ = ["HealthCollector", "member_status", "probe"]

_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def member_status(orch: Orchestrator) -> list[dict[str, Any]]:
    """One row per configured member: its tags, the sensitivities it may see, its breaker."""
    config = orch.config
    policy = orch.gatekeeper.policy
    health = orch.gatekeeper.breakers.snapshot(list(config.members))
    rows = []
    for name, member in config.members.items():
        may_see = [level for level in sorted(policy.config.levels) if policy.allowed(member, [level]) is None]
        rows.append(
            {
                "member": name,
                "provider": member.provider,
                "model": member.model,
                "vendor": member.vendor,
                "jurisdiction": member.jurisdiction,
                "locality": member.locality,
                "retains_data": member.retains_data,
                "may_see": may_see,
                **health[name].as_dict(),
            }
        )
    return rows


async def probe(orch: Orchestrator, members: list[Member], *, timeout_s: float = 30.0) -> list[Candidate]:
    """Ask each member one tiny question, in parallel; outcomes feed the breakers."""
    settings = orch.settings
    panel = Panel(
        orch.provider_for,
        settings=type(settings)(
            timeout_s=min(timeout_s, settings.timeout_s),
            max_retries=0,
            max_concurrency=settings.max_concurrency,
        ),
        gates=MemberGates(settings),
        ledger=Ledger(),
        breakers=orch.gatekeeper.breakers,
    )
    messages = [{"role": "user", "content": "Reply with the single word: ok"}]

    async def one(member: Member) -> Candidate:
        return await panel.call(member, messages, {"max_tokens": 4, "temperature": 0.0}, role="probe")

    return list(await asyncio.gather(*(one(m) for m in members)))


class HealthCollector:
    """Members' health for a ``prometheus_client`` registry (``shoal serve``'s ``/metrics``).

    Read at scrape time from the orchestrator's breakers: ``shoal_member_up`` (1 unless
    the breaker is open), ``shoal_member_breaker_state`` (0 closed, 1 half-open, 2 open),
    and the counters ``shoal_member_calls_total``, ``shoal_member_failures_total``,
    ``shoal_member_refused_total`` and ``shoal_member_breaker_opened_total``.
    """

    def __init__(self, orch: Orchestrator) -> None:
        self._orch = orch

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        health = self._orch.gatekeeper.breakers.snapshot(list(self._orch.config.members))
        up = GaugeMetricFamily(
            "shoal_member_up", "1 if the member's breaker lets calls through.", labels=["member"]
        )
        state = GaugeMetricFamily(
            "shoal_member_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", labels=["member"]
        )
        counters = {
            field: CounterMetricFamily(f"shoal_member_{name}", text, labels=["member"])
            for field, name, text in (
                ("calls", "calls", "Calls sent to the member (breaker view)."),
                ("failures", "failures", "Calls to the member that failed."),
                ("refused", "refused", "Calls not sent because the member's breaker was open."),
                ("opened", "breaker_opened", "Times the member's breaker opened."),
            )
        }
        for name, h in health.items():
            up.add_metric([name], int(h.state != "open"))
            state.add_metric([name], _STATE_VALUE[h.state])
            for field, family in counters.items():
                family.add_metric([name], getattr(h, field))
        yield up
        yield state
        yield from counters.values()
