"""The seam: what every backend of shared state offers (:class:`SharedState`), and its records.

Every operation is one atomic step on the backend (one Lua script on Redis). An
operation that returns ``None`` says "not shared right now: use this process's own
state" (the memory backend for breakers; Redis unreachable with ``on_failure = "open"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from orchestrator.errors import BudgetExceeded

__all__ = ["Account", "BreakerView", "Claim", "Reservation", "SharedState", "today"]

Claim = Literal["closed", "probe", "refused"]


def today() -> str:
    """The budgets' day (UTC), the same on every machine whose clock is right."""
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class BreakerView:
    """A member's breaker as the shared state has it."""

    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int = 0
    probing: bool = False
    opened_now: bool = False  # this record opened it (count it once, log it once)


@dataclass(frozen=True)
class Account:
    """A daily budget that calls are reserved against: an API key's, a team's."""

    id: str  # "key_<sha256 prefix>" or "team:<name>"; never a key itself
    budget: str  # the name errors give: "key_daily" -> key_daily_max_calls / key_daily_max_cost_usd
    what: str  # "this API key", "team 'cloud'"
    max_calls: int | None = None
    max_cost_usd: float | None = None

    def refusal(self, calls: int, cost_usd: float, reserved: int, *, asked: int = 1) -> BudgetExceeded:
        """Why ``asked`` more calls do not fit, given ``calls``/``cost_usd`` spent today."""
        flight = f", {reserved} in flight" if reserved else ""
        if self.max_calls is not None and calls + reserved + asked > self.max_calls:
            verb = "is spent" if calls >= self.max_calls else "would be exceeded"
            return BudgetExceeded(
                f"daily budget {self.budget}_max_calls={self.max_calls} of {self.what} {verb} "
                f"({calls} calls today{flight}); it renews at 00:00 UTC",
                budget=f"{self.budget}_max_calls",
            )
        return BudgetExceeded(
            f"daily budget {self.budget}_max_cost_usd={self.max_cost_usd} of {self.what} is spent "
            f"({cost_usd:.6f} USD today{flight}); it renews at 00:00 UTC",
            budget=f"{self.budget}_max_cost_usd",
        )


@dataclass
class Reservation:
    """Calls and an estimated cost held against accounts until the call is settled or released."""

    id: str
    accounts: tuple[Account, ...]
    day: str
    calls: int
    cost_usd: float
    where: Literal["shared", "local"] = "shared"
    done: bool = field(default=False)


class SharedState(Protocol):
    """State that several workers and machines must agree on. ``backend``: "memory" or "redis"."""

    backend: str

    # -- circuit breakers (the claim of a half-open probe is atomic, with a TTL) ----------
    async def breaker_claim(self, member: str, cooldown_s: float, probe_ttl_s: float) -> Claim | None: ...

    async def breaker_record(
        self, member: str, failed: bool, threshold: int, probe: bool
    ) -> BreakerView | None: ...

    async def breaker_view(self, member: str, cooldown_s: float) -> BreakerView | None: ...

    async def breaker_release(self, member: str) -> None: ...

    # -- daily budgets: reserve before the call, settle after ---------------------------
    async def reserve(
        self, accounts: Sequence[Account], calls: int, cost_usd: float, day: str
    ) -> Reservation: ...

    async def settle(self, reservation: Reservation, cost_usd: float | None) -> None: ...

    async def usage(self, account: Account, day: str) -> tuple[float, int, int]: ...

    # -- rate and concurrency limits ----------------------------------------------------
    async def admit(self, key: str, limit: int, window_s: float) -> float: ...

    async def take(
        self, key: str, capacity: float, per_s: float, amount: float, *, force: bool = False
    ) -> float: ...

    async def lease(self, key: str, limit: int, ttl_s: float) -> str | None: ...

    async def unlease(self, key: str, lease: str) -> None: ...

    # -- a key-value store (the response cache, stored responses) -----------------------
    async def get(self, kind: str, key: str) -> bytes | None: ...

    async def put(self, kind: str, key: str, value: bytes, ttl_s: float | None) -> None: ...

    async def delete(self, kind: str, key: str) -> bool: ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` to its end even if the caller is being cancelled (a release, a refund)."""

    async def aclose(self) -> None: ...
