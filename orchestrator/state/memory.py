"""The memory backend (the default): each process keeps its own state, as Shoal always did.

Breakers stay in each orchestrator's :class:`~orchestrator.sovereignty.breaker.Breakers`
(its operations here answer ``None``: "use your own"); concurrency is held by each
process's semaphores; daily budgets live in a sqlite file that the workers of one
machine share. Rate windows, token buckets and the key-value store are in-process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from orchestrator.key_budgets import DailyBudgets
from orchestrator.state.base import Account, BreakerView, Claim, Reservation

__all__ = ["MemoryState"]


class MemoryState:
    backend = "memory"

    def __init__(
        self,
        budgets_path: Path | None = None,
        *,
        reservation_ttl_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budgets_path = budgets_path
        self._reservation_ttl_s = reservation_ttl_s
        self._budgets: DailyBudgets | None = None
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._kv: dict[tuple[str, str], tuple[bytes, float | None]] = {}
        self._local_reservations: dict[str, Reservation] = {}  # no budgets file: in this process
        self._held: dict[str, list[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- breakers: each orchestrator's own ------------------------------------------------

    async def breaker_claim(self, member: str, cooldown_s: float, probe_ttl_s: float) -> Claim | None:
        return None

    async def breaker_record(
        self, member: str, failed: bool, threshold: int, probe: bool
    ) -> BreakerView | None:
        return None

    async def breaker_view(self, member: str, cooldown_s: float) -> BreakerView | None:
        return None

    async def breaker_release(self, member: str) -> None:
        return None

    # -- budgets -------------------------------------------------------------------------

    def _file(self) -> DailyBudgets | None:
        if self._budgets is None and self._budgets_path is not None:
            self._budgets = DailyBudgets(self._budgets_path, reservation_ttl_s=self._reservation_ttl_s)
        return self._budgets

    async def reserve(
        self, accounts: Sequence[Account], calls: int, cost_usd: float, day: str
    ) -> Reservation:
        budgets = self._file()
        if budgets is not None:
            rid = budgets.reserve(accounts, calls, cost_usd, day)
            return Reservation(rid, tuple(accounts), day, calls, cost_usd, where="local")
        return self.reserve_here(accounts, calls, cost_usd, day)

    def reserve_here(self, accounts: Sequence[Account], calls: int, cost_usd: float, day: str) -> Reservation:
        """In this process only (no budgets file): [calls, held calls, cost, held cost] per account."""
        for account in accounts:
            used, held, cost, held_cost = self._held.setdefault(f"{account.id}|{day}", [0, 0, 0.0, 0.0])
            over_calls = account.max_calls is not None and used + held + calls > account.max_calls
            spent = cost + held_cost
            over_cost = account.max_cost_usd is not None and (
                spent >= account.max_cost_usd or spent + cost_usd > account.max_cost_usd
            )
            if over_calls or over_cost:
                raise account.refusal(int(used), spent, int(held), asked=calls)
        for account in accounts:
            entry = self._held[f"{account.id}|{day}"]
            entry[1] += calls
            entry[3] += cost_usd
        reservation = Reservation(uuid.uuid4().hex, tuple(accounts), day, calls, cost_usd, where="local")
        self._local_reservations[reservation.id] = reservation
        return reservation

    async def settle(self, reservation: Reservation, cost_usd: float | None) -> None:
        if reservation.done:
            return
        reservation.done = True
        budgets = self._file()
        if budgets is not None:
            budgets.settle(reservation.id, reservation.accounts, reservation.day, cost_usd)
            return
        if self._local_reservations.pop(reservation.id, None) is None:
            return
        for account in reservation.accounts:
            entry = self._held[f"{account.id}|{reservation.day}"]
            entry[1] -= reservation.calls
            entry[3] -= reservation.cost_usd
            if cost_usd is not None:
                entry[0] += reservation.calls
                entry[2] += cost_usd

    async def usage(self, account: Account, day: str) -> tuple[float, int, int]:
        budgets = self._file()
        if budgets is not None:
            return budgets.usage(account.id, day)
        used, held, cost, held_cost = self._held.get(f"{account.id}|{day}", [0, 0, 0.0, 0.0])
        return cost + held_cost, int(used), int(held)

    # -- limits --------------------------------------------------------------------------

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        """A sliding window: at most ``limit`` admissions in any ``window_s``; else the wait."""
        now = self._clock()
        log = self._windows.setdefault(key, deque())
        while log and log[0] <= now - window_s:
            log.popleft()
        if len(log) < limit:
            log.append(now)
            return 0.0
        return max(0.001, log[0] + window_s - now)

    async def take(
        self, key: str, capacity: float, per_s: float, amount: float, *, force: bool = False
    ) -> float:
        """A token bucket (``capacity`` tokens, ``per_s`` back each second); 0 or the wait."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * per_s)
        if force or amount <= 0 or tokens >= min(amount, capacity):
            self._buckets[key] = (tokens - amount, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return max(0.001, (min(amount, capacity) - tokens) / per_s)

    async def lease(self, key: str, limit: int, ttl_s: float) -> str | None:
        return "local"  # each process's semaphore holds the member's concurrency

    async def unlease(self, key: str, lease: str) -> None:
        return None

    # -- key-value -----------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> bytes | None:
        found = self._kv.get((kind, key))
        if found is None:
            return None
        value, expires = found
        if expires is not None and expires <= self._clock():
            del self._kv[(kind, key)]
            return None
        return value

    async def put(self, kind: str, key: str, value: bytes, ttl_s: float | None) -> None:
        self._kv[(kind, key)] = (value, None if ttl_s is None else self._clock() + ttl_s)

    async def delete(self, kind: str, key: str) -> bool:
        return self._kv.pop((kind, key), None) is not None

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._budgets is not None:
            await asyncio.to_thread(self._budgets.close)
            self._budgets = None
