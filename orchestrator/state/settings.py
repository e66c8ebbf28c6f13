"""``[state]`` and ``[cache]``: where shared state lives, what happens when it cannot be reached.

::

    [state]
    backend = "redis"                  # "memory" (default): each process keeps its own
    url = "redis://10.0.0.7:6379/0"    # or SHOAL_REDIS_URL
    timeout_s = 0.5                    # per Redis command (socket); a burst queues for one of
    max_connections = 32               #   this many connections per process for up to 4x that
    retry_s = 1.0                      # after a failure, local state for this long, then Redis again
    breaker_sync_s = 0.5               # how stale an instance's view of a breaker may be
    reservation_ttl_s = 900            # a reservation a crashed worker left is released after this
    instance = "web-1"                 # the `instance` label of /metrics (default: the host name)

    [state.on_failure]                 # per kind of state: "open" (local state, a warning, a
    breakers = "open"                  #   metric) or "closed" (the request fails with 503)
    budgets = "closed"
    limits = "open"
    cache = "open"
    store = "closed"

    [cache]                            # the response cache (off unless enabled)
    enabled = true
    ttl_s = 600
    store_partial = false              # also keep partial, abstaining and failed-member verdicts
"""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KINDS", "CacheConfig", "FailureModes", "StateConfig"]

Kind = Literal["breakers", "budgets", "limits", "cache", "store"]
KINDS: tuple[Kind, ...] = ("breakers", "budgets", "limits", "cache", "store")
Mode = Literal["open", "closed"]


class FailureModes(BaseModel):
    """What each kind of state does while Redis cannot be reached."""

    model_config = ConfigDict(extra="forbid")

    breakers: Mode = "open"  # local breakers: members may be tried once more per instance
    budgets: Mode = "closed"  # no call is made that the shared budget cannot vouch for
    limits: Mode = "open"  # local limits: each instance holds the limit on its own
    cache: Mode = "open"  # a miss: the panel is asked
    store: Mode = "closed"  # stored responses: an error rather than a lost conversation

    def of(self, kind: Kind) -> Mode:
        mode: Mode = getattr(self, kind)
        return mode


class StateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    timeout_s: float = Field(default=0.5, gt=0, le=10)
    max_connections: int = Field(default=32, ge=1)  # per process
    retry_s: float = Field(default=1.0, gt=0)
    breaker_sync_s: float = Field(default=0.5, gt=0, le=1.0)
    reservation_ttl_s: float = Field(default=900.0, gt=0)
    key_prefix: str = "shoal:"
    instance: str | None = None
    on_failure: FailureModes = Field(default_factory=FailureModes)

    def redis_url(self) -> str | None:
        return self.url or os.environ.get("SHOAL_REDIS_URL") or None

    def instance_name(self) -> str:
        return self.instance or os.environ.get("SHOAL_INSTANCE") or socket.gethostname()


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    ttl_s: float = Field(default=600.0, gt=0)
    store_partial: bool = False
