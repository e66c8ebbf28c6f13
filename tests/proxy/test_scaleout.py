"""Several ``shoal serve`` processes on one real Redis behave as one server.

Each group of servers shares a redis-server that this module starts on a free loopback
port with its own temporary directory. The member ``up`` is an ``openai_compat`` member
whose upstream is a fake in this process, so the tests count exactly what reached it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxy.servers import FakeUpstream, Served, running, serve_env, start_serve
from tests.redis_server import RedisServer

KEYS = ("sk-scale-one", "sk-scale-two", "sk-scale-three")
QUESTION = [{"role": "user", "content": "What is six times seven?"}]


def config(
    path: Path, upstream: FakeUpstream, redis: RedisServer, server: str = "", state: str = "", extra: str = ""
) -> Path:
    path.write_text(
        f"""
[members.up]
provider = "openai_compat"
model = "fake"
api_base = "{upstream.base_url}"
max_retries = 0

[breaker]
failures = 2
cooldown_s = 2

[server]
api_keys = ["{KEYS[0]}", "{KEYS[1]}", "{KEYS[2]}"]
key_budgets_path = "{path.parent / "budgets.sqlite"}"
{server}

[state]
backend = "redis"
url = "{redis.url}"
retry_s = 0.3
{state}
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with running(fake.app()) as port:
        fake.port = port
        yield fake


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def start_group(workdir: Path, path: Path, n: int) -> list[Served]:
    servers: list[Served] = []
    try:
        for _ in range(n):
            servers.append(start_serve(path, workdir, key=KEYS[0]))
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, redis: RedisServer
) -> Iterator[list[Served]]:
    """Three servers on one Redis, each key limited to 60 requests a minute."""
    workdir = tmp_path_factory.mktemp("trio")
    # a generous command timeout: on a loaded machine a slow reply would fail limits open (by design)
    path = config(workdir / "shoal.toml", upstream, redis, "key_requests_per_minute = 60", "timeout_s = 2.0")
    servers = start_group(workdir, path, 3)
    yield servers
    for server in servers:
        server.stop()


def post(server: Served, key: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "up", "messages": QUESTION},
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    )


async def burst(servers: list[Served], key: str, n: int) -> list[httpx.Response]:
    """``n`` requests at once, spread over ``servers``."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(i: int) -> httpx.Response:
            return await client.post(
                servers[i % len(servers)].base_url + "/chat/completions",
                json={"model": "up", "messages": QUESTION},
                headers={"Authorization": f"Bearer {key}"},
            )

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_a_breaker_opened_through_one_server_is_open_in_the_others(
    trio: list[Served], upstream: FakeUpstream
) -> None:
    upstream.reset(status=500)
    first, second, third = trio
    assert [post(first, KEYS[0]).status_code for _ in range(2)] == [502, 502]
    assert len(upstream.bodies) == 2  # two failures: the breaker opens
    opened = time.monotonic()
    for server in (second, third):
        refused = post(server, KEYS[0])
        assert refused.status_code == 502 and "circuit open" in refused.text
    assert time.monotonic() - opened < 1.0  # seen open by the others within a second
    assert len(upstream.bodies) == 2  # nothing sent through the others
    assert second.metric("shoal_member_breaker_state", member="up") == 2

    # After the cooldown exactly one server takes the half-open probe; a slow success closes it.
    time.sleep(2.1)
    upstream.reset(gap_s=0.3)
    answers = asyncio.run(burst(trio, KEYS[0], 9))
    assert len(upstream.bodies) == 1
    assert sorted(r.status_code for r in answers) == [200] + [502] * 8
    assert all(post(server, KEYS[0]).status_code == 200 for server in trio)  # closed for everyone


def test_a_limit_of_60_a_minute_lets_60_through_in_total(trio: list[Served], upstream: FakeUpstream) -> None:
    upstream.reset()
    answers = asyncio.run(burst(trio, KEYS[1], 100))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 60 and codes.count(429) == 40
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    assert len(upstream.bodies) == 60


def test_200_concurrent_requests_against_a_budget_of_n_calls_make_exactly_n(
    tmp_path: Path, upstream: FakeUpstream, redis: RedisServer
) -> None:
    upstream.reset(gap_s=0.01)
    path = config(tmp_path / "shoal.toml", upstream, redis, "key_daily_max_calls = 25")
    servers = start_group(tmp_path, path, 2)
    try:
        answers = asyncio.run(burst(servers, KEYS[2], 200))
    finally:
        for server in servers:
            server.stop()
    codes = [r.status_code for r in answers]
    assert len(upstream.bodies) == 25
    assert codes.count(200) == 25 and codes.count(429) == 175
    params = {r.json()["error"]["param"] for r in answers if r.status_code == 429}
    assert params == {"key_daily_max_calls"}


def test_killing_redis_follows_the_failure_mode_and_recovers(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.reset()
    (tmp_path / "redis").mkdir()
    own = RedisServer(tmp_path / "redis").start()
    budget = "key_daily_max_calls = 1000"
    closed = config(tmp_path / "closed.toml", upstream, own, budget)  # budgets fail closed (default)
    opened = config(tmp_path / "open.toml", upstream, own, budget, '[state.on_failure]\nbudgets = "open"')
    servers: list[Served] = []
    try:
        servers = [start_serve(closed, tmp_path, key=KEYS[0]), start_serve(opened, tmp_path, key=KEYS[0])]
        strict, lenient = servers
        assert post(strict, KEYS[0]).status_code == 200
        own.stop()
        started = time.monotonic()
        down = post(strict, KEYS[0])
        assert down.status_code == 503 and down.json()["error"]["code"] == "state_unavailable"
        assert time.monotonic() - started < 5  # short timeouts: no hang
        assert post(lenient, KEYS[0]).status_code == 200  # fails open to the machine's own budget
        assert lenient.metric("shoal_state_fallbacks_total", kind="budgets") >= 1
        own.start()
        deadline = time.monotonic() + 10
        while post(strict, KEYS[0]).status_code != 200:
            assert time.monotonic() < deadline, "no recovery after Redis came back"
            time.sleep(0.2)
    finally:
        for server in servers:
            server.stop()
        own.stop()


def test_two_servers_share_the_response_cache_and_a_stream_gets_the_cached_answer(
    tmp_path: Path, upstream: FakeUpstream, redis: RedisServer
) -> None:
    upstream.reset()
    path = config(tmp_path / "shoal.toml", upstream, redis, extra="[cache]\nenabled = true\nttl_s = 60")
    servers = start_group(tmp_path, path, 2)
    try:
        first, second = servers
        stored = post(first, KEYS[0])
        assert stored.status_code == 200 and stored.json()["shoal"]["cached"] is False
        assert len(upstream.bodies) == 1
        served = post(second, KEYS[0])
        assert served.status_code == 200 and len(upstream.bodies) == 1  # nothing sent upstream
        body = served.json()
        assert body["shoal"]["cached"] is True and body["shoal"]["calls"] == 0
        assert body["choices"][0]["message"]["content"] == stored.json()["choices"][0]["message"]["content"]
        assert second.metric("shoal_cache_hits_total") == 1
        assert first.metric("shoal_cache_misses_total") == 1 and first.metric("shoal_cache_stores_total") == 1

        with httpx.stream(
            "POST",
            second.base_url + "/chat/completions",
            json={"model": "up", "messages": QUESTION, "stream": True},
            headers={"Authorization": f"Bearer {KEYS[0]}"},
            timeout=30,
        ) as streamed:
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text == "The answer is 42." and len(upstream.bodies) == 1
        assert chunks[-1]["shoal"]["cached"] is True
    finally:
        for server in servers:
            server.stop()


def test_metrics_with_two_workers_report_the_whole_server(tmp_path: Path, upstream: FakeUpstream) -> None:
    upstream.reset()
    path = tmp_path / "shoal.toml"
    path.write_text(
        f"""
[members.up]
provider = "openai_compat"
model = "fake"
api_base = "{upstream.base_url}"

[state]
instance = "web-7"
""",
        encoding="utf-8",
    )
    env = {**serve_env(), "TMPDIR": str(tmp_path)}  # where `shoal serve` makes its metrics directory
    server = start_serve(path, tmp_path, "--workers", "2", env=env)
    try:
        assert len(list(tmp_path.glob("shoal-metrics-*"))) == 1
        for _ in range(20):  # a new connection each: the kernel hands them to either worker
            answer = httpx.post(
                server.base_url + "/chat/completions", json={"model": "up", "messages": QUESTION}, timeout=30
            )
            assert answer.status_code == 200
        for _ in range(6):  # whichever worker answers the scrape, it reports both
            assert server.metric("shoal_workers") == 2
            assert server.metric("shoal_requests_total", model="up", status="200", stream="false") == 20
            assert server.metric("shoal_upstream_calls_total", member="up", outcome="ok") == 20
            assert server.metric("shoal_member_calls_total", member="up") == 20  # breakers' counters too
            assert server.metric("shoal_member_up", member="up") == 1
            labelled = {"model": "up", "status": "200", "stream": "false", "instance": "web-7"}
            assert server.metric("shoal_requests_total", **labelled) == 20
            assert server.metric("shoal_state_info", backend="memory", instance="web-7") == 1
    finally:
        assert server.stop() in (0, -signal.SIGTERM)
    assert list(tmp_path.glob("shoal-metrics-*")) == []  # removed at exit


def test_a_response_stored_through_one_server_is_continued_and_deleted_through_another(
    tmp_path: Path, upstream: FakeUpstream, redis: RedisServer
) -> None:
    upstream.reset()
    path = config(tmp_path / "shoal.toml", upstream, redis)
    servers: list[Served] = []
    for machine in ("one", "two"):  # as on two machines: no cache directory in common, only Redis
        env = serve_env(SHOAL_CACHE_DIR=str(tmp_path / machine))
        servers.append(start_serve(path, tmp_path, env=env, key=KEYS[0]))
    auth = {"Authorization": f"Bearer {KEYS[0]}"}
    try:
        first, second = servers
        created = httpx.post(
            first.base_url + "/responses",
            json={"model": "up", "input": "What is six times seven?", "store": True},
            headers=auth,
            timeout=30,
        )
        assert created.status_code == 200, created.text
        response_id = created.json()["id"]
        fetched = httpx.get(f"{second.base_url}/responses/{response_id}", headers=auth, timeout=30)
        assert fetched.status_code == 200 and fetched.json()["id"] == response_id

        followed = httpx.post(
            second.base_url + "/responses",
            json={"model": "up", "input": "And plus one?", "previous_response_id": response_id},
            headers=auth,
            timeout=30,
        )
        assert followed.status_code == 200, followed.text
        sent = upstream.bodies[-1]["messages"]  # the second server replayed what the first stored
        assert [m["content"] for m in sent] == [
            "What is six times seven?",
            "The answer is 42.",
            "And plus one?",
        ]

        continued = followed.json()["id"]
        listed = httpx.get(  # the first server lists what the second stored: the first's turn, then its own
            f"{first.base_url}/responses/{continued}/input_items?order=asc", headers=auth, timeout=30
        )
        assert listed.status_code == 200, listed.text
        texts = [part["text"] for item in listed.json()["data"] for part in item["content"]]
        assert texts == ["What is six times seven?", "The answer is 42.", "And plus one?"]
        keyless = httpx.get(f"{first.base_url}/responses/{continued}/input_items", timeout=30)
        assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "invalid_api_key"

        gone = httpx.delete(f"{second.base_url}/responses/{response_id}", headers=auth, timeout=30)
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        missing = httpx.get(f"{first.base_url}/responses/{response_id}", headers=auth, timeout=30)
        assert missing.status_code == 404
    finally:
        for server in servers:
            server.stop()
