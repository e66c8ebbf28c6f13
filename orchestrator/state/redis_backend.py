"""The Redis backend: state shared by every worker and machine that names the same Redis.

``redis`` (redis-py, its asyncio client) is imported only when ``[state] backend =
"redis"`` is configured (``pip install 'shoal[redis]'``). Every command has a short
timeout (``[state] timeout_s``), so an outage never hangs a request; what happens then
is chosen per kind of state (``[state.on_failure]``): ``open`` falls back to this
process's own state with a warning and the ``shoal_state_fallbacks_total`` metric,
``closed`` fails the request with :class:`~orchestrator.errors.StateUnavailable`. After
a failure Redis is left alone for ``retry_s``, then tried again: recovery needs no
restart. Valkey works the same.

Round trips: a call costs one script to reserve its budget (when a budget applies) and
one to settle it, one per configured limit, and one to record a failure (a success
only when the breaker had counted failures); breakers are read at most every
``breaker_sync_s`` per member.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from orchestrator.errors import ConfigError, StateUnavailable
from orchestrator.logs import get_logger
from orchestrator.state import scripts
from orchestrator.state.base import Account, BreakerView, Claim, Reservation
from orchestrator.state.memory import MemoryState
from orchestrator.state.settings import Kind, StateConfig

__all__ = ["RedisState"]

log = get_logger("shoal.state")

T = TypeVar("T")
_DAY_TTL_S = 2 * 86400
_SCRIPTS = ("BREAKER_CLAIM", "BREAKER_RECORD", "BREAKER_VIEW", "RESERVE", "SETTLE", "ADMIT", "TAKE", "LEASE")


class RedisState:
    backend = "redis"

    def __init__(self, config: StateConfig, local: MemoryState) -> None:
        url = config.redis_url()
        if not url:
            raise ConfigError('[state] backend = "redis" needs url = "redis://..." or SHOAL_REDIS_URL')
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise ConfigError(
                "[state] backend = \"redis\" needs the redis package: pip install 'shoal[redis]'"
            ) from None
        self.config = config
        self.url = url
        self.local = local  # the fallback when on_failure is "open"
        self.round_trips = 0
        self.fallbacks: dict[str, int] = {}
        self._prefix = config.key_prefix
        self._client: Any = None
        self._pool: Any = None
        self._pool_class = aioredis.BlockingConnectionPool
        self._redis_class = aioredis.Redis
        self._errors: tuple[type[BaseException], ...] = (
            __import__("redis").exceptions.RedisError,
            OSError,
            TimeoutError,
        )
        self._scripts: dict[str, Any] = {}
        self._down_until = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- plumbing ------------------------------------------------------------------------

    def _redis(self) -> Any:
        if self._client is None:  # created inside the running loop (its connections are bound to it)
            timeout = self.config.timeout_s
            # A bounded pool: a burst queues for a connection instead of opening hundreds.
            pool = self._pool_class.from_url(
                self.url,
                max_connections=self.config.max_connections,
                timeout=timeout * 4,
                socket_timeout=timeout,
                socket_connect_timeout=max(1.0, timeout * 2),  # a connection is set up once
                retry_on_timeout=False,
                health_check_interval=0,
            )
            self._pool = pool
            self._client = self._redis_class(connection_pool=pool)
            self._scripts = {name: self._client.register_script(getattr(scripts, name)) for name in _SCRIPTS}
        return self._client

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    async def _run(
        self, kind: Kind, op: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        """``op`` on Redis, within the timeout; on failure the kind's configured mode."""
        if self.up:
            try:
                self.round_trips += 1
                async with asyncio.timeout(self.config.timeout_s * 8 + 1):  # pool wait + one command
                    return await op()
            except self._errors as exc:
                self._down_until = time.monotonic() + self.config.retry_s
                retry_s = self.config.retry_s
                log.warning("state_unavailable", kind=kind, error=type(exc).__name__, retry_s=retry_s)
        self.fallbacks[kind] = self.fallbacks.get(kind, 0) + 1
        if self.config.on_failure.of(kind) == "closed":
            raise StateUnavailable(
                f"shared state ({kind}) is unreachable at the configured Redis and [state.on_failure] "
                f'{kind} = "closed"; retry shortly',
                kind=kind,
            )
        return await fallback()

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` to the end even if the caller is cancelled (a release, a refund)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- breakers ------------------------------------------------------------------------

    def _breaker_keys(self, member: str) -> list[str]:
        return [self._key("breaker", member), self._key("breaker", member, "probe")]

    async def breaker_claim(self, member: str, cooldown_s: float, probe_ttl_s: float) -> Claim | None:
        async def op() -> Claim | None:
            self._redis()
            token = uuid.uuid4().hex
            args = [int(cooldown_s * 1000), max(1, int(probe_ttl_s * 1000)), token]
            got = await self._scripts["BREAKER_CLAIM"](keys=self._breaker_keys(member), args=args)
            claim = got.decode() if isinstance(got, bytes) else str(got)
            return claim if claim in ("closed", "probe", "refused") else None  # type: ignore[return-value]

        return await self._run("breakers", op, _none)

    async def breaker_record(
        self, member: str, failed: bool, threshold: int, probe: bool
    ) -> BreakerView | None:
        async def op() -> BreakerView | None:
            self._redis()
            args = [int(failed), threshold, int(probe)]
            state, failures, opened = await self._scripts["BREAKER_RECORD"](
                keys=self._breaker_keys(member), args=args
            )
            return BreakerView(_text(state), int(failures), opened_now=bool(opened))  # type: ignore[arg-type]

        return await self._run("breakers", op, _none)

    async def breaker_view(self, member: str, cooldown_s: float) -> BreakerView | None:
        async def op() -> BreakerView | None:
            self._redis()
            state, failures, probing = await self._scripts["BREAKER_VIEW"](
                keys=self._breaker_keys(member), args=[int(cooldown_s * 1000)]
            )
            return BreakerView(_text(state), int(failures), probing=bool(probing))  # type: ignore[arg-type]

        return await self._run("breakers", op, _none)

    async def breaker_release(self, member: str) -> None:
        async def op() -> None:
            await self._redis().delete(self._breaker_keys(member)[1])

        await self._run("breakers", op, _none)

    # -- budgets -------------------------------------------------------------------------

    def _account_key(self, account: Account, day: str) -> str:
        return self._key("budget", account.id, day)

    async def reserve(
        self, accounts: Sequence[Account], calls: int, cost_usd: float, day: str
    ) -> Reservation:
        rid = uuid.uuid4().hex

        async def op() -> Reservation:
            self._redis()
            ttl_ms = int(self.config.reservation_ttl_s * 1000)
            args: list[Any] = [rid, ttl_ms, calls, repr(cost_usd), _DAY_TTL_S]
            for account in accounts:
                args += [_limit(account.max_calls), _limit(account.max_cost_usd)]
            keys = [self._account_key(a, day) for a in accounts]
            got = await self._scripts["RESERVE"](keys=keys, args=args)
            if int(got[0]) != 0:
                account = accounts[int(got[0]) - 1]
                raise account.refusal(int(got[1]), float(_text(got[2])), int(got[3]), asked=calls)
            return Reservation(rid, tuple(accounts), day, calls, cost_usd, where="shared")

        async def local() -> Reservation:
            return await self.local.reserve(accounts, calls, cost_usd, day)

        return await self._run("budgets", op, local)

    async def settle(self, reservation: Reservation, cost_usd: float | None) -> None:
        if reservation.where == "local":
            await self.local.settle(reservation, cost_usd)
            return
        if reservation.done:
            return
        reservation.done = True

        async def op() -> None:
            self._redis()
            keys = [self._account_key(a, reservation.day) for a in reservation.accounts]
            args = [reservation.id, int(cost_usd is not None), repr(cost_usd or 0.0)]
            await self._scripts["SETTLE"](keys=keys, args=args)

        async def lost() -> None:
            # Redis went away mid-call: the hold expires with its TTL; the spend is charged locally.
            if cost_usd is not None:
                held = await self.local.reserve(reservation.accounts, 0, 0.0, reservation.day)
                await self.local.settle(held, cost_usd)

        try:
            await self._run("budgets", op, lost)
        except StateUnavailable:
            log.warning("budget_settle_lost", reservation=reservation.id)

    async def usage(self, account: Account, day: str) -> tuple[float, int, int]:
        async def op() -> tuple[float, int, int]:
            key = self._account_key(account, day)
            got = await self._redis().hmget(key, "calls", "cost", "rcalls", "rcost")
            calls, cost, rcalls, rcost = (float(_text(v)) if v is not None else 0.0 for v in got)
            return cost + rcost, int(calls), int(rcalls)

        async def local() -> tuple[float, int, int]:
            return await self.local.usage(account, day)

        return await self._run("budgets", op, local)

    # -- limits --------------------------------------------------------------------------

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        async def op() -> float:
            self._redis()
            args = [limit, max(1, int(window_s * 1000)), uuid.uuid4().hex]
            wait_ms = await self._scripts["ADMIT"](keys=[self._key("window", key)], args=args)
            return int(wait_ms) / 1000

        return await self._run("limits", op, lambda: self.local.admit(key, limit, window_s))

    async def take(
        self, key: str, capacity: float, per_s: float, amount: float, *, force: bool = False
    ) -> float:
        async def op() -> float:
            self._redis()
            args = [repr(float(capacity)), repr(per_s / 1000), repr(float(amount)), int(force)]
            wait_ms = await self._scripts["TAKE"](keys=[self._key("bucket", key)], args=args)
            return int(wait_ms) / 1000

        return await self._run(
            "limits", op, lambda: self.local.take(key, capacity, per_s, amount, force=force)
        )

    async def lease(self, key: str, limit: int, ttl_s: float) -> str | None:
        lease = uuid.uuid4().hex

        async def op() -> str | None:
            self._redis()
            args = [limit, max(1, int(ttl_s * 1000)), lease]
            got = await self._scripts["LEASE"](keys=[self._key("lease", key)], args=args)
            return lease if int(got) == 1 else None

        return await self._run("limits", op, lambda: self.local.lease(key, limit, ttl_s))

    async def unlease(self, key: str, lease: str) -> None:
        if lease == "local":
            return

        async def op() -> None:
            await self._redis().zrem(self._key("lease", key), lease)

        await self._run("limits", op, _none)

    # -- key-value -----------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> bytes | None:
        async def op() -> bytes | None:
            got = await self._redis().get(self._key(kind, key))
            return bytes(got) if got is not None else None

        return await self._run(_kind(kind), op, _none)

    async def put(self, kind: str, key: str, value: bytes, ttl_s: float | None) -> None:
        async def op() -> None:
            px = max(1, int(ttl_s * 1000)) if ttl_s is not None else None
            await self._redis().set(self._key(kind, key), value, px=px)

        await self._run(_kind(kind), op, _none)

    async def delete(self, kind: str, key: str) -> bool:
        async def op() -> bool:
            return bool(await self._redis().delete(self._key(kind, key)))

        async def local() -> bool:
            return False

        return await self._run(_kind(kind), op, local)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.config.timeout_s * 4)
        client, self._client = self._client, None
        pool, self._pool = self._pool, None
        if client is not None:
            try:
                await client.aclose()
                await pool.disconnect()
            except self._errors:
                log.debug("state_close_failed")
        await self.local.aclose()


async def _none() -> Any:
    return None


def _kind(kind: str) -> Kind:
    return "store" if kind == "store" else "cache"


def _limit(value: float | None) -> str:
    return "-" if value is None else repr(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
