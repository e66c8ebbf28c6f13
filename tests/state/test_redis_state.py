"""The Redis backend against a real redis-server: atomic budgets, one probe, exact windows, outages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.errors import BudgetExceeded, StateUnavailable
from orchestrator.state import Account, StateConfig, open_state, today
from orchestrator.state.redis_backend import RedisState
from tests.redis_server import RedisServer


def redis_state(url: str, budgets_path: Path, **on_failure: str) -> RedisState:
    config = StateConfig.model_validate(
        {"backend": "redis", "url": url, "retry_s": 0.2, "on_failure": on_failure}
    )
    state = open_state(config, budgets_path=budgets_path)
    assert isinstance(state, RedisState)
    return state


async def test_concurrent_reservations_never_pass_the_budget(redis_url: str, budgets_path: Path) -> None:
    states = [redis_state(redis_url, budgets_path) for _ in range(3)]  # three "instances"
    account = Account("key_x", "key_daily", "this API key", max_calls=17)
    day = today()

    async def one(i: int) -> bool:
        try:
            held = await states[i % 3].reserve([account], 1, 0.0, day)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0.01)
        await states[i % 3].settle(held, 0.0)
        return True

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert sum(results) == 17
    _, calls, held = await states[0].usage(account, day)
    assert (calls, held) == (17, 0)
    with pytest.raises(BudgetExceeded, match="key_daily_max_calls=17 of this API key is spent"):
        await states[1].reserve([account], 1, 0.0, day)
    for state in states:
        await state.aclose()


async def test_a_released_reservation_is_given_back_and_cost_is_checked(
    redis_url: str, budgets_path: Path
) -> None:
    state = redis_state(redis_url, budgets_path)
    key = Account("key_y", "key_daily", "this API key", max_calls=2, max_cost_usd=1.0)
    team = Account("team:cloud", "team_daily", "team 'cloud'", max_cost_usd=0.5)
    day = today()
    first = await state.reserve([key, team], 1, 0.3, day)
    with pytest.raises(BudgetExceeded) as refused:  # 0.3 held + 0.3 > the team's 0.5
        await state.reserve([key, team], 1, 0.3, day)
    assert refused.value.budget == "team_daily_max_cost_usd"
    await state.settle(first, None)  # failed: released, nothing charged
    assert await state.usage(key, day) == (0.0, 0, 0)
    second = await state.reserve([key, team], 1, 0.3, day)
    await state.settle(second, 0.45)
    assert await state.usage(team, day) == (pytest.approx(0.45), 1, 0)
    with pytest.raises(BudgetExceeded, match="team 'cloud'"):
        await state.reserve([key, team], 1, 0.1, day)
    await state.aclose()


async def test_exactly_one_instance_takes_the_half_open_probe(redis_url: str, budgets_path: Path) -> None:
    states = [redis_state(redis_url, budgets_path) for _ in range(3)]
    for _ in range(2):
        view = await states[0].breaker_record("m", True, 2, False)
    assert view is not None and view.state == "open" and view.opened_now
    assert await states[1].breaker_claim("m", 0.3, 5.0) == "refused"  # cooling down, seen by all
    await asyncio.sleep(0.35)
    claims = await asyncio.gather(*(states[i % 3].breaker_claim("m", 0.3, 5.0) for i in range(30)))
    assert claims.count("probe") == 1 and claims.count("refused") == 29
    view = await states[2].breaker_view("m", 0.3)
    assert view is not None and view.state == "half_open" and view.probing
    closed = await states[1].breaker_record("m", False, 2, True)
    assert closed is not None and closed.state == "closed"
    assert await states[0].breaker_claim("m", 0.3, 5.0) == "closed"
    for state in states:
        await state.aclose()


async def test_a_window_of_60_lets_60_through_across_instances(redis_url: str, budgets_path: Path) -> None:
    states = [redis_state(redis_url, budgets_path) for _ in range(3)]
    waits = await asyncio.gather(*(states[i % 3].admit("key:k:rpm", 60, 60.0) for i in range(150)))
    assert sum(1 for w in waits if w == 0) == 60
    assert all(0 < w <= 60 for w in waits if w)
    for state in states:
        await state.aclose()


async def test_token_bucket_takes_and_settles(redis_url: str, budgets_path: Path) -> None:
    state = redis_state(redis_url, budgets_path)
    assert await state.take("b", 100, 100 / 60, 80) == 0
    wait = await state.take("b", 100, 100 / 60, 80)
    assert wait > 0  # 20 left, 60 more take ~36 s to come back
    await state.take("b", 100, 100 / 60, -60, force=True)  # the call used 20, not 80
    assert await state.take("b", 100, 100 / 60, 80) == 0
    await state.aclose()


async def test_redis_down_follows_the_failure_mode_then_recovers(tmp_path: Path, budgets_path: Path) -> None:
    (tmp_path / "own").mkdir()
    server = RedisServer(tmp_path / "own").start()  # its own: this test stops and restarts it
    try:
        state = redis_state(server.url, budgets_path)  # budgets closed, limits open (the defaults)
        account = Account("key_z", "key_daily", "this API key", max_calls=100)
        assert await state.admit("w", 5, 60.0) == 0
        server.stop()
        started = asyncio.get_running_loop().time()
        with pytest.raises(StateUnavailable):
            await state.reserve([account], 1, 0.0, today())
        assert await state.admit("w", 5, 60.0) == 0  # open: this process's own window
        assert await state.breaker_claim("m", 1.0, 1.0) is None  # open: the local breaker decides
        assert asyncio.get_running_loop().time() - started < 2  # short timeouts, never a hang
        assert state.fallbacks["budgets"] >= 1 and state.fallbacks["limits"] >= 1
        server.start()  # same port
        await asyncio.sleep(0.3)  # retry_s
        held = await state.reserve([account], 1, 0.0, today())
        assert held.where == "shared"
        await state.settle(held, 0.0)
        assert await state.usage(account, today()) == (0.0, 1, 0)
        await state.aclose()
        opened = redis_state(server.url, budgets_path, budgets="open")
        server.stop()
        local = await opened.reserve([account], 1, 0.0, today())
        assert local.where == "local"  # open: the machine's own sqlite budget
        await opened.settle(local, 0.0)
        await opened.aclose()
    finally:
        server.stop()


async def test_the_memory_backend_reserves_in_its_sqlite_file_and_in_process(budgets_path: Path) -> None:
    account = Account("key_m", "key_daily", "this API key", max_calls=2, max_cost_usd=1.0)
    for state in (open_state(StateConfig(), budgets_path=budgets_path), open_state(StateConfig())):
        first = await state.reserve([account], 1, 0.6, "d")
        with pytest.raises(BudgetExceeded, match="key_daily_max_cost_usd"):
            await state.reserve([account], 1, 0.6, "d")  # 0.6 held + 0.6 > 1.0
        await state.settle(first, 0.2)
        second = await state.reserve([account], 1, 0.6, "d")
        await state.settle(second, None)  # released
        assert await state.usage(account, "d") == (pytest.approx(0.2), 1, 0)
        await state.aclose()
