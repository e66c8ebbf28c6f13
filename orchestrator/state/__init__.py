"""State that outlives one request and must be the same for every worker and machine.

:class:`~orchestrator.state.base.SharedState` is the one protocol: circuit breakers
(with an atomic half-open probe claim), daily budgets (reserved before each call,
settled or released after), rate windows, token buckets and concurrency leases, and a
key-value store (the response cache, stored responses). Two backends:

- ``memory`` (the default, nothing to configure): each process keeps its own, as
  before; daily budgets in a sqlite file shared by the workers of one machine.
- ``redis`` (``[state] backend = "redis"``, ``url`` or ``SHOAL_REDIS_URL``): one Redis
  (or Valkey) for every worker and machine; atomic Lua scripts, short timeouts and a
  failure mode per kind of state (see :mod:`~orchestrator.state.settings`).

:func:`open_state` builds the configured one; nothing imports ``redis`` otherwise.

:mod:`~orchestrator.state.responses` keeps the Responses API's stored responses behind
its own small interface (:class:`~orchestrator.state.responses.ResponseStore`; sqlite
under the cache directory today).
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.state.base import Account, BreakerView, Reservation, SharedState, today
from orchestrator.state.memory import MemoryState
from orchestrator.state.settings import CacheConfig, StateConfig

__all__ = [
    "Account",
    "BreakerView",
    "CacheConfig",
    "MemoryState",
    "Reservation",
    "SharedState",
    "StateConfig",
    "open_state",
    "today",
]


def open_state(config: StateConfig, *, budgets_path: Path | None = None) -> SharedState:
    """The configured backend; the memory one keeps daily budgets in ``budgets_path``."""
    local = MemoryState(budgets_path, reservation_ttl_s=config.reservation_ttl_s)
    if config.backend == "memory":
        return local
    from orchestrator.state.redis_backend import RedisState

    return RedisState(config, local)
