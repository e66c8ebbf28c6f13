"""Circuit breakers and failover: a member that keeps failing is skipped, a fallback takes its seat.

One :class:`Breakers` per orchestrator holds a breaker per member, shared by all its
requests (like the panel's gates). A breaker is *closed* while calls succeed; after
``failures`` consecutive failed calls it *opens* and calls to the member are refused
without being sent; after ``cooldown_s`` it lets one probe through (*half-open*): a
success closes it, a failure opens it again for another cooldown::

    [breaker]
    failures = 3        # consecutive failed calls (after retries) that open it
    cooldown_s = 30     # how long it stays open before one probe

A :class:`Failover` belongs to one request: when a member's call fails or its breaker is
open, it hands out the next healthy fallback of the team, and keeps that seat for the
same member for the rest of the request.

With ``[state] backend = "redis"`` the breakers are shared by every instance
(:mod:`orchestrator.state`): :meth:`Breakers.claim` and :meth:`Breakers.report` go
through the shared state, an instance's view of a closed breaker is at most
``[state] breaker_sync_s`` old, and the half-open probe is claimed atomically with a
TTL, so exactly one instance sends it. The counters (calls, failures, refused) stay
per instance. When Redis cannot be reached (``on_failure.breakers = "open"``) the
local logic below takes over until it is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.logs import get_logger
from orchestrator.types import Candidate, Member

if TYPE_CHECKING:
    from orchestrator.state.base import SharedState

__all__ = [
    "SEAT_ROLES",
    "UPSTREAM_FAULTS",
    "BreakerConfig",
    "Breakers",
    "Failover",
    "MemberHealth",
    "counts_as_failure",
]

log = get_logger("shoal.breaker")

State = Literal["closed", "open", "half_open"]

# Failures that say the member (its server, its network, its model) is unwell. Anything else
# (the upstream refusing a bad request, a cache miss, a cancellation, an error raised on our
# side while preparing the call, such as a body that cannot be encoded) says nothing about
# the member's health: a client's bad input must never open a breaker for everyone.
UPSTREAM_FAULTS = frozenset(
    {
        "timeout",
        "rate_limit",
        "server_error",
        "connection_error",
        "authentication_error",
        "provider_error",
        "malformed_response",
        "truncated_stream",
        "model_error",
    }
)


def counts_as_failure(candidate: Candidate) -> bool:
    return candidate.error is not None and candidate.error.type in UPSTREAM_FAULTS


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0)


@dataclass
class MemberHealth:
    """What a member's breaker knows; also the numbers ``/metrics`` and ``members status`` show."""

    state: State = "closed"
    consecutive_failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    calls: int = 0
    failures: int = 0
    refused: int = 0
    opened: int = 0
    last_error: str | None = None
    last_latency_s: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "calls": self.calls,
            "failures": self.failures,
            "refused": self.refused,
            "opened": self.opened,
            "last_error": self.last_error,
            "last_latency_s": self.last_latency_s,
        }


class Breakers:
    """A circuit breaker per member; no event-loop objects, so it outlives ``aclose``."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        shared: SharedState | None = None,
        sync_s: float = 0.5,
    ):
        self.config = config or BreakerConfig()
        self._clock = clock
        self._health: dict[str, MemberHealth] = {}
        self._shared = shared if shared is not None and shared.backend != "memory" else None
        self._sync_s = sync_s
        self._synced: dict[str, float] = {}  # member -> when its shared view was last read
        self._probes: set[str] = set()  # members whose shared probe this instance holds

    # -- through the shared state (the local methods below when there is none) ------------

    async def claim(self, member: Member) -> bool:
        """:meth:`acquire`, shared: a fresh closed view costs nothing, else one round trip."""
        if self._shared is None:
            return self.acquire(member)
        name, health = member.name, self.health(member.name)
        if health.state == "closed" and self._clock() - self._synced.get(name, -1e18) < self._sync_s:
            return True
        got = await self._shared.breaker_claim(name, self.config.cooldown_s, self.config.cooldown_s)
        if got is None:
            return self.acquire(member)  # shared state unreachable: this instance's own breaker
        self._synced[name] = self._clock()
        if got == "closed":
            health.state = "closed"
            return True
        if got == "probe":
            health.state, health.probing = "half_open", True
            self._probes.add(name)
            log.info("breaker_probe", member=name)
            return True
        if health.state != "open":
            health.state, health.opened_at = "open", self._clock()
        health.refused += 1
        return False

    async def report(self, member: Member, candidate: Candidate) -> None:
        """:meth:`record`, shared: a failure (or a success after failures) is one round trip."""
        if self._shared is None:
            self.record(member, candidate)
            return
        name, health = member.name, self.health(member.name)
        probe = name in self._probes
        self._probes.discard(name)
        failed = counts_as_failure(candidate)
        quiet = health.state == "closed" and health.consecutive_failures == 0
        if not failed and (candidate.error is not None or quiet) and not probe:
            health.calls += 1
            health.last_latency_s = round(candidate.latency_s, 4)
            return
        view = await self._shared.breaker_record(name, failed, self.config.failures, probe)
        if view is None:
            self.record(member, candidate)
            return
        self._synced[name] = self._clock()
        health.calls += 1
        health.probing = False
        health.last_latency_s = round(candidate.latency_s, 4)
        if failed:
            health.failures += 1
            health.last_error = candidate.error.type if candidate.error else None
        if view.state == "open" and health.state != "open":
            health.opened_at = self._clock()
        health.state, health.consecutive_failures = view.state, view.consecutive_failures
        if view.opened_now:
            health.opened += 1
            log.warning("breaker_opened", member=name, consecutive_failures=view.consecutive_failures)
        elif view.state == "closed" and probe:
            log.warning("breaker_closed", member=name)

    def drop(self, member: Member) -> None:
        """:meth:`release`; a shared probe is given back in the background (it also has a TTL)."""
        self.release(member)
        if self._shared is not None and member.name in self._probes:
            self._probes.discard(member.name)
            self._shared.spawn(self._shared.breaker_release(member.name))

    # -- this process's own breakers ----------------------------------------------------

    def health(self, name: str) -> MemberHealth:
        health = self._health.get(name)
        if health is None:
            health = self._health[name] = MemberHealth()
        return health

    def snapshot(self, names: Sequence[str] = ()) -> dict[str, MemberHealth]:
        for name in names:
            self.health(name)
        self._advance_all()
        return dict(self._health)

    def available(self, member: Member) -> bool:
        """Whether a call to ``member`` would be let through now (without claiming a probe)."""
        health = self._advanced(member.name)
        return health.state == "closed" or (health.state == "half_open" and not health.probing)

    def acquire(self, member: Member) -> bool:
        """Claim the right to call ``member``: always when closed, one probe when half-open."""
        health = self._advanced(member.name)
        if health.state == "closed":
            return True
        if health.state == "half_open" and not health.probing:
            health.probing = True
            log.info("breaker_probe", member=member.name)
            return True
        health.refused += 1
        return False

    def record(self, member: Member, candidate: Candidate) -> None:
        health = self.health(member.name)
        health.calls += 1
        health.probing = False
        health.last_latency_s = round(candidate.latency_s, 4)
        if not counts_as_failure(candidate):
            if candidate.error is None:
                if health.state != "closed":
                    log.warning("breaker_closed", member=member.name)
                health.state, health.consecutive_failures, health.opened_at = "closed", 0, None
            return
        health.failures += 1
        health.consecutive_failures += 1
        health.last_error = candidate.error.type if candidate.error else None
        if health.state == "half_open" or health.consecutive_failures >= self.config.failures:
            if health.state != "open":
                health.opened += 1
                log.warning(
                    "breaker_opened",
                    member=member.name,
                    consecutive_failures=health.consecutive_failures,
                    last_error=health.last_error,
                )
            health.state, health.opened_at = "open", self._clock()

    def release(self, member: Member) -> None:
        """A claimed call was not made after all (cancelled before it was sent)."""
        self.health(member.name).probing = False

    def _advanced(self, name: str) -> MemberHealth:
        health = self.health(name)
        if health.state == "open" and health.opened_at is not None:
            if self._clock() - health.opened_at >= self.config.cooldown_s:
                health.state, health.probing = "half_open", False
        return health

    def _advance_all(self) -> None:
        for name in self._health:
            self._advanced(name)


# The calls that are a team seat's own answer; a judge, an aggregator or a chairman has its own
# fallback chain in its strategy, and a debater's later rounds continue its own earlier answer.
SEAT_ROLES = frozenset({"answer", "propose"})


@dataclass
class Failover:
    """The fallback seats of one request: who stands in for whom.

    Only the team's members (``seats``) get a stand-in, and only for their own answers
    (:data:`SEAT_ROLES`); a nested strategy's other team is not this team's to fill.
    """

    spares: list[Member]
    breakers: Breakers | None = None
    seats: frozenset[str] | None = None  # None: every member
    _standing_in: dict[str, str] = field(default_factory=dict)  # fallback name -> member it replaces

    def covers(self, member: Member, role: str) -> bool:
        return role in SEAT_ROLES and (self.seats is None or member.name in self.seats)

    def next_for(self, member: Member, tried: set[str], busy: set[str]) -> Member | None:
        """A healthy fallback for ``member`` not yet ``tried`` for it nor ``busy`` in this fan-out."""
        for spare in self.spares:
            owner = self._standing_in.get(spare.name)
            if spare.name in tried or spare.name in busy or owner not in (None, member.name):
                continue
            if self.breakers is not None and not self.breakers.available(spare):
                continue
            self._standing_in[spare.name] = member.name
            return spare
        return None
