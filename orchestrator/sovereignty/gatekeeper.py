"""The engine's guard at the door: policy, breakers and the audit log, for every request.

One :class:`Gatekeeper` per orchestrator. For each request it decides the sensitivity
(:meth:`clear`), admits the team and every member the strategy names in its options
(:meth:`admit`: a judge the policy excludes fails the request before anything is sent),
lends the panel the request's :class:`~orchestrator.sovereignty.breaker.Failover`, and writes one
audit line when the request ends (:meth:`audited`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.config import DEFAULT_TEAM, ShoalConfig
from orchestrator.errors import ShoalError
from orchestrator.panel import Ledger
from orchestrator.registry import Registry
from orchestrator.sovereignty.breaker import Breakers, Failover
from orchestrator.sovereignty.policy import (
    Admission,
    Clearance,
    Policy,
    audit_record,
    audit_wanted,
    write_audit,
)
from orchestrator.types import Member, Request, Route

if TYPE_CHECKING:
    from orchestrator.state.base import SharedState

__all__ = ["Gatekeeper"]


@dataclass
class AuditTrail:
    """Filled in while a request runs; written as one line when it ends."""

    route: Route | None = None
    ledger: Ledger | None = None
    outcome: str = "error"
    extra: dict[str, Any] = field(default_factory=dict)


class Audited:
    """The ``with`` block of one request (:meth:`Gatekeeper.audited`): gives its :class:`AuditTrail`;
    at the end the outcome is ``ok``, the name of the Shoal error raised, or ``error`` for any other
    exception (which goes on), and the audit line is written when one is wanted."""

    __slots__ = ("_clearance", "_gatekeeper", "_request", "trail")

    def __init__(self, gatekeeper: Gatekeeper, request: Request, clearance: Clearance) -> None:
        self._gatekeeper, self._request, self._clearance = gatekeeper, request, clearance
        self.trail = AuditTrail()

    def __enter__(self) -> AuditTrail:
        return self.trail

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.trail.outcome = "ok"
        elif issubclass(exc_type, ShoalError):
            self.trail.outcome = exc_type.__name__
        gatekeeper = self._gatekeeper
        if audit_wanted(gatekeeper.config.policy.audit_log):
            gatekeeper._write_audit(self._request, self._clearance, self.trail)


class Gatekeeper:
    def __init__(self, config: ShoalConfig, registry: Registry, *, state: SharedState | None = None) -> None:
        self.config = config
        self.registry = registry
        self.policy = Policy(config.policy)
        # shared by every instance with the Redis state backend, else this process's own
        self.breakers = Breakers(config.breaker, shared=state, sync_s=config.state.breaker_sync_s)
        # what a configured strategy needs of its team, read from its options once (they do not change)
        self._needs: dict[str, tuple[int, dict[str, Member]]] = {}

    def clear(self, request: Request) -> Clearance:
        return self.policy.clear(request)

    def admit(self, clearance: Clearance, route: Route) -> Admission:
        """The members of the route's team this request may reach, fallbacks seated; or PolicyError."""
        team = route.team or self.config.team_of(None)
        needed, named = self._needs_of(route.strategy)
        return clearance.admit(
            self.config.team_members(team),
            self.fallbacks(team),
            needed=needed,
            named=named,
            what=f"team {team!r}",
        )

    def _needs_of(self, strategy: str) -> tuple[int, dict[str, Member]]:
        """The strategy's quorum (``min_answers``) and the members its options name."""
        needs = self._needs.get(strategy)
        if needs is None:
            section = self.config.strategy_config(strategy, self.registry)
            needed = section.options().get("min_answers", 1)
            needs = (needed if isinstance(needed, int) else 1, self.named_members(strategy))
            if strategy in self.config.strategies:  # a kind used by name takes its team's defaults
                self._needs[strategy] = needs
        return needs[0], dict(needs[1])

    def admit_direct(self, clearance: Clearance, member: Member) -> Admission:
        """A member asked directly (the proxy's ``model``): allowed, or PolicyError before any call."""
        return clearance.admit([member], named={"model": member}, what=f"model {member.name!r}")

    def admit_team(self, clearance: Clearance | None, team: str) -> list[Member]:
        """For nested strategies: a team's admitted members (no named-member check)."""
        members = self.config.team_members(team)
        if clearance is None:
            return members
        return clearance.admit(members, self.fallbacks(team), what=f"team {team!r}").members

    def failover(self, admission: Admission) -> Failover:
        seats = frozenset(m.name for m in admission.members)
        return Failover(spares=admission.spares, breakers=self.breakers, seats=seats)

    def fallbacks(self, team: str) -> list[Member]:
        if team == DEFAULT_TEAM or team not in self.config.teams:
            return []
        return [self.config.members[name] for name in self.config.teams[team].fallbacks]

    def named_members(self, strategy: str, _seen: frozenset[str] = frozenset()) -> dict[str, Member]:
        """Members a strategy names in its options (judge, aggregator, chairman, ...), nested ones too."""
        if strategy in _seen or strategy not in self.config.strategies:
            return {}
        named: dict[str, Member] = {}
        for key, kind, name in self._references(strategy):
            if kind == "member" and name in self.config.members:
                named[f"strategies.{strategy}.{key}"] = self.config.members[name]
            elif kind == "strategy":
                named.update(self.named_members(name, _seen | {strategy}))
        return named

    def _references(self, strategy: str) -> list[tuple[str, str, str]]:
        """``(key, "member" | "strategy", name)``: from the strategy's own ``references()`` when its
        options have one, else every option string that names a member or a strategy."""
        section = self.config.strategies[strategy]
        options_model = getattr(self.registry.strategy(section.kind), "Options", None)
        if options_model is not None and hasattr(options_model, "references"):
            return list(options_model.model_validate(section.options()).references())
        found = []
        for key, value in section.options().items():
            for name in _strings(value):
                if name in self.config.members:
                    found.append((key, "member", name))
                elif name in self.config.strategies:
                    found.append((key, "strategy", name))
        return found

    def audited(self, request: Request, clearance: Clearance) -> Audited:
        """Write the request's audit line when the ``with`` block ends, however it ends."""
        return Audited(self, request, clearance)

    def _write_audit(self, request: Request, clearance: Clearance, trail: AuditTrail) -> None:
        candidates = trail.ledger.candidates if trail.ledger is not None else []
        seen_by = [c.member for c in candidates if c.attempts > 0 and not c.cached]
        record = audit_record(
            request,
            clearance,
            seen_by=seen_by,
            strategy=trail.route.strategy if trail.route else None,
            team=trail.route.team if trail.route else None,
            outcome=trail.outcome,
        )
        write_audit(record, self.config.policy.audit_log)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _strings(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _strings(item)]
    return []
