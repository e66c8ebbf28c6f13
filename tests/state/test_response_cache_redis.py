"""The response cache on a real redis-server: shared by instances, expiring in Redis, failing open."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import StateUnavailable
from orchestrator.state import StateConfig, open_state
from orchestrator.state.redis_backend import RedisState
from tests.helpers import Counted, scripted_toml
from tests.redis_server import RedisServer

MEMBERS: dict[str, dict[str, Any]] = {
    "gpt": {"answers": ["42"], "jurisdiction": "US", "locality": "cloud"},
    "local-a": {"answers": ["42"], "locality": "local"},
}

EXTRA = """
[policy.confidential]
allow = ["locality:local"]

[cache]
enabled = true
ttl_s = {ttl}
"""


def instance(
    counted: Counted, url: str, budgets_path: Path, ttl: float = 60, **on_failure: str
) -> Orchestrator:
    toml = scripted_toml({k: dict(v) for k, v in MEMBERS.items()}, EXTRA.format(ttl=ttl))
    config = parse_config(toml, source="test.toml", registry=counted.registry)
    state_config = StateConfig.model_validate(
        {"backend": "redis", "url": url, "retry_s": 0.2, "on_failure": on_failure}
    )
    state = open_state(state_config, budgets_path=budgets_path)
    assert isinstance(state, RedisState)
    return Orchestrator(config, registry=counted.registry, state=state)


async def test_an_answer_one_instance_stored_is_served_by_another(redis_url: str, budgets_path: Path) -> None:
    counted = Counted()
    one, two = (instance(counted, redis_url, budgets_path) for _ in range(2))
    first = await one.run("What is six times seven?")
    assert not first.cached and counted.calls == {"gpt": 1, "local-a": 1}
    second = await two.run("What is six times seven?")
    assert second.cached and second.answer == "42" and counted.calls == {"gpt": 1, "local-a": 1}
    # the policy holds across instances too: a confidential request does not get gpt's answer
    confidential = await two.run("What is six times seven?", tags={"sensitivity": "confidential"})
    assert not confidential.cached and [c.member for c in confidential.candidates] == ["local-a"]
    assert counted.calls == {"gpt": 1, "local-a": 2}
    assert one.response_cache is not None and two.response_cache is not None
    assert (one.response_cache.stores, two.response_cache.hits, two.response_cache.misses) == (1, 1, 1)
    await one.aclose()
    await two.aclose()


async def test_entries_expire_in_redis(redis_url: str, budgets_path: Path) -> None:
    counted = Counted()
    orch = instance(counted, redis_url, budgets_path, ttl=0.3)
    await orch.run("q")
    assert (await orch.run("q")).cached
    await asyncio.sleep(0.4)
    assert not (await orch.run("q")).cached
    assert counted.calls == {"gpt": 2, "local-a": 2}
    await orch.aclose()


async def test_with_redis_down_the_cache_is_a_miss_and_the_panel_answers(
    redis_server: RedisServer, budgets_path: Path
) -> None:
    redis_server.flush()
    counted = Counted()
    orch = instance(counted, redis_server.url, budgets_path)  # cache = "open" by default
    await orch.run("q")
    redis_server.stop()
    try:
        verdict = await orch.run("q")
        assert not verdict.cached and verdict.answer == "42"
        assert isinstance(orch.state, RedisState) and orch.state.fallbacks.get("cache", 0) >= 1
    finally:
        redis_server.start()
    # Recovery needs no restart: once Redis answers again (after retry_s, and a stale pooled
    # connection's one error), an answer is stored and served again.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    served = False
    while not served and loop.time() < deadline:
        await asyncio.sleep(0.25)
        served = (await orch.run("q")).cached
    assert served
    await orch.aclose()


async def test_with_cache_closed_redis_down_refuses_rather_than_answering_unvouched(
    redis_server: RedisServer, budgets_path: Path
) -> None:
    redis_server.flush()
    counted = Counted()
    orch = instance(counted, redis_server.url, budgets_path, cache="closed")
    redis_server.stop()
    try:
        with pytest.raises(StateUnavailable, match=r"\(cache\)"):
            await orch.run("q")
        assert counted.calls == {}  # nothing was sent
    finally:
        redis_server.start()
    await orch.aclose()
