"""The response cache (``[cache] enabled = true``): a whole verdict, served again for the same question.

It sits in the engine (:meth:`Orchestrator.run <orchestrator.engine.Orchestrator.run>`), so the
library, the CLI and every API surface of the proxy get it; entries live in the shared
state's key-value store (kind ``"cache"``), in-process with the memory backend and in
Redis (shared by every worker and machine) with the Redis one.

The key is exact: a fingerprint of the configuration that decides answers (every member's
provider, model, params and options without secrets; strategies, teams, routes), the
target (a member asked directly, or the routed strategy and team), the roster of members
the request's clearance lets through, the request's parameters, labels and messages. A
request that may see fewer members than another never shares its entries.

Where the policy sees the cache: the engine computes the request's clearance and admits
its team before :meth:`ResponseCache.lookup`; each entry records the members the verdict
came from, and ``lookup`` serves it only if the clearance allows every one of them now
(a member gone from the configuration, or excluded by a changed policy, refuses the
entry; the request then runs as a miss). A hit sends nothing to any member.

Only complete verdicts are stored: not partial, not abstaining, no failed member, not
empty (``store_partial = true`` lifts that). Sampling parameters are part of the key, so
a request with ``temperature = 1`` is answered the same way until the entry expires
(``ttl_s``); callers that want fresh samples leave the cache off or pass ``cache=False``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StateUnavailable
from orchestrator.logs import get_logger
from orchestrator.types import Request, Route, Usage, Verdict

if TYPE_CHECKING:
    from orchestrator.config import ShoalConfig
    from orchestrator.sovereignty.policy import Clearance
    from orchestrator.state.base import SharedState
    from orchestrator.state.settings import CacheConfig

__all__ = ["ResponseCache"]

log = get_logger("shoal.cache")

KIND = "cache"
_SECRET_OPTIONS = ("api_key", "key", "token", "secret", "password")
_VERSION = 1  # bump when the entry's shape changes: old entries are then never read


@dataclass
class _Entry:
    verdict: Verdict
    members: list[str]


class ResponseCache:
    """Whole verdicts by exact request, in the shared state's key-value store."""

    def __init__(self, config: ShoalConfig, settings: CacheConfig, state: SharedState) -> None:
        self.settings = settings
        self.state = state
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.refused = 0  # entries found but not served: the policy excludes a member they came from
        self._config = config
        self._fingerprint = _config_fingerprint(config)

    def key(self, request: Request, route: Route, clearance: Clearance, *, member: str | None) -> str:
        """The entry's key for ``request`` on ``route`` (or ``member`` asked directly)."""
        roster = sorted(m.name for m in self._config.members.values() if clearance.refusal(m) is None)
        identity = {
            "v": _VERSION,
            "config": self._fingerprint,
            "target": f"member:{member}" if member is not None else f"strategy:{route.strategy}",
            "team": route.team,
            "roster": roster,
            "params": request.params,
            "labels": request.tags.labels,  # members see them (a simulated member reads its gold)
            "messages": request.wire_messages(),
        }
        blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def lookup(self, key: str, clearance: Clearance) -> Verdict | None:
        """The stored verdict if there is one and the policy lets every member it came from
        serve this request; else ``None`` (a miss)."""
        raw = await self.state.get(KIND, key)
        entry = _decode(raw) if raw is not None else None
        if entry is None:
            self.misses += 1
            return None
        # The policy check of a cached answer: every member the verdict came from must be one
        # this request's clearance admits, as the configuration stands now.
        for name in entry.members:
            member = self._config.members.get(name)
            if member is None or clearance.refusal(member) is not None:
                self.refused += 1
                self.misses += 1
                log.info("response_cache_refused", member=name, sensitivity=clearance.sensitivity)
                return None
        self.hits += 1
        return entry.verdict

    def storable(self, verdict: Verdict) -> bool:
        if self.settings.store_partial:
            return True
        failed = any(c.error is not None for c in verdict.candidates)
        empty = not verdict.answer.strip() and not verdict.tool_calls
        return not (verdict.partial or verdict.abstained or failed or empty)

    async def store(self, key: str, verdict: Verdict) -> None:
        if not self.storable(verdict):
            return
        members = sorted({c.member for c in verdict.candidates if c.attempts > 0 or c.cached})
        body = {"v": _VERSION, "members": members, "verdict": verdict.model_dump(mode="json")}
        try:
            await self.state.put(
                KIND, key, json.dumps(body, ensure_ascii=False).encode(), self.settings.ttl_s
            )
        except StateUnavailable:  # cache = "closed" refuses to serve unvouched answers, not to answer
            log.warning("response_cache_not_stored")
            return
        self.stores += 1

    @staticmethod
    def served(verdict: Verdict, request: Request, route: Route, latency_s: float) -> Verdict:
        """The stored verdict as this request's answer: no calls made, nothing spent."""
        candidates = [c.model_copy(update={"cached": True}) for c in verdict.candidates]
        return verdict.model_copy(
            update={
                "route": route,
                "candidates": candidates,
                "usage": Usage(),
                "cost_usd": 0.0,
                "calls": 0,
                "latency_s": latency_s,
                "request_id": request.request_id,
                "cached": True,
                "notes": [*verdict.notes, "served from the response cache"],
            }
        )


def _decode(raw: bytes) -> _Entry | None:
    """An entry, or ``None`` for one this version cannot read (treated as a miss)."""
    try:
        body = json.loads(raw)
        if body.get("v") != _VERSION:
            return None
        return _Entry(Verdict.model_validate(body["verdict"]), [str(m) for m in body["members"]])
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("response_cache_unreadable")
        return None


def _config_fingerprint(config: ShoalConfig) -> str:
    """What in the configuration decides an answer; any change to it starts a fresh cache."""
    members = {}
    for name, member in config.members.items():
        options = {k: v for k, v in member.options.items() if not _secret(k)}
        members[name] = {
            "provider": member.provider,
            "model": member.model,
            "params": member.params,
            "options": options,
            "api_base": member.api_base,
        }
    identity: dict[str, Any] = {
        "members": members,
        "strategies": {n: s.model_dump(mode="json") for n, s in config.strategies.items()},
        "teams": {n: t.model_dump(mode="json") for n, t in config.teams.items()},
        "routes": {n: r.model_dump(mode="json") for n, r in config.routes.items()},
        "defaults": {"strategy": config.defaults.strategy, "team": config.defaults.team},
    }
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _secret(option: str) -> bool:
    lowered = option.lower()
    return any(word in lowered for word in _SECRET_OPTIONS)
