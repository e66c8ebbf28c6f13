"""Members' health as people and monitors read it: a status table, probes, Prometheus lines.

``shoal members status`` shows :func:`member_status`; ``--probe`` first sends each member
one short call (:func:`probe`) through the orchestrator's breakers; ``shoal serve``'s
``/metrics`` renders :func:`prometheus_lines`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from orchestrator.panel import Ledger, MemberGates, Panel
from orchestrator.types import Candidate, Member

if TYPE_CHECKING:
    from orchestrator.engine import Orchestrator

__all__ = ["member_status", "probe", "prometheus_lines"]

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


def prometheus_lines(orch: Orchestrator) -> list[str]:
    """Members' health in the Prometheus text format (``shoal_member_*``)."""
    health = orch.gatekeeper.breakers.snapshot(list(orch.config.members))
    out = [
        "# HELP shoal_member_up 1 if the member's circuit breaker lets calls through (closed or half-open).",
        "# TYPE shoal_member_up gauge",
    ]
    out += [f'shoal_member_up{{member="{n}"}} {int(h.state != "open")}' for n, h in health.items()]
    out += [
        "# HELP shoal_member_breaker_state Circuit breaker: 0 closed, 1 half-open, 2 open.",
        "# TYPE shoal_member_breaker_state gauge",
    ]
    out += [f'shoal_member_breaker_state{{member="{n}"}} {_STATE_VALUE[h.state]}' for n, h in health.items()]
    for metric, field, text in (
        ("calls", "calls", "Calls sent to the member."),
        ("failures", "failures", "Calls to the member that failed."),
        ("refused", "refused", "Calls not sent because the member's breaker was open."),
        ("breaker_opened", "opened", "Times the member's breaker opened."),
    ):
        out += [f"# HELP shoal_member_{metric}_total {text}", f"# TYPE shoal_member_{metric}_total counter"]
        out += [f'shoal_member_{metric}_total{{member="{n}"}} {getattr(h, field)}' for n, h in health.items()]
    return out
