"""Broken upstreams, driven through a real ``shoal serve`` on loopback (see :mod:`tests.proxy.faults`).

Every fault ends in an OpenAI-shaped error with a status a client can act on (never a 500),
within the request's deadline; a truncated stream is a failure; a client's bad input is a
400 that never counts against a member; an upstream's error text never reaches the client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxy.faults import FAULTS, FaultUpstream, fault_upstream, members_toml
from tests.proxy.servers import Served, serve_env, start_serve

KEY = "sk-proj-" + "Zq8Xw3Lm9Rt2Vb7Nc4Hy6Jd1"
QUESTION = [{"role": "user", "content": "What is six times seven?"}]

EXTRA = """
[members.patient429]
provider = "openai_compat"
model = "e429"
api_base = "{base}"
api_key_env = "FAULT_KEY"
max_retries = 3

[defaults]
max_retries = 0

[breaker]
failures = 3
cooldown_s = 60

[server]
heartbeat_s = 5
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstream]:
    with fault_upstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, upstream: FaultUpstream) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("faults")
    config = workdir / "shoal.toml"
    config.write_text(members_toml(upstream) + EXTRA.format(base=upstream.base_url), encoding="utf-8")
    server = start_serve(config, workdir, "--verbose", env=serve_env(FAULT_KEY=KEY))
    yield server
    server.stop()


_CLIENT = httpx.Client(timeout=20)  # one client: a new one per request costs ~0.1 s of TLS setup


def post(served: Served, body: dict) -> httpx.Response:
    return _CLIENT.post(served.base_url + "/chat/completions", json=body)


def assert_openai_error(response: httpx.Response) -> dict:
    assert response.status_code != 500, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


@pytest.mark.parametrize("fault", [f for f in FAULTS if f not in ("ok", "hang", "drip", "e429")])
def test_every_fault_is_an_error_the_client_can_act_on(faulty: Served, fault: str) -> None:
    response = post(faulty, {"model": fault, "messages": QUESTION})
    assert response.status_code == 502
    assert_openai_error(response)


@pytest.mark.parametrize("fault", ["dies", "truncated", "close", "nochoices", "badjson", "e500"])
def test_a_broken_member_stream_ends_with_an_error_event_never_a_stop(faulty: Served, fault: str) -> None:
    response = post(faulty, {"model": fault, "messages": QUESTION, "stream": True})
    if response.status_code != 200:  # failed before any text: its own status
        assert response.status_code == 502
        assert_openai_error(response)
        return
    got = events(response.text)
    assert "error" in got[-1], response.text
    assert not any(c.get("finish_reason") for e in got for c in e.get("choices", [])), response.text


def test_a_truncated_stream_counts_against_the_breaker(faulty: Served, upstream: FaultUpstream) -> None:
    body = {"model": "truncated", "messages": QUESTION, "stream": True}
    for _ in range(3):  # [breaker] failures = 3 (earlier tests may have counted some already)
        response = post(faulty, body)
        if response.status_code == 502:
            break
        assert "error" in events(response.text)[-1]
    sent = upstream.requests["truncated"]
    refused = post(faulty, body)  # the breaker is open: nothing is sent
    assert refused.status_code == 502
    assert "circuit open" in assert_openai_error(refused)["message"]
    assert upstream.requests["truncated"] == sent


@pytest.mark.parametrize("fault", ["hang", "drip"])
@pytest.mark.parametrize("stream", [False, True])
def test_the_deadline_caps_a_hung_or_dripping_member(faulty: Served, fault: str, stream: bool) -> None:
    deadline = 0.4
    started = time.perf_counter()
    response = post(
        faulty, {"model": fault, "messages": QUESTION, "stream": stream, "shoal": {"deadline_s": deadline}}
    )
    took = time.perf_counter() - started
    if stream and response.status_code == 200:  # text had gone out: the stream ends in an error
        assert "error" in events(response.text)[-1]
    else:
        assert response.status_code == 502
        assert_openai_error(response)
    assert took - deadline <= 0.1, f"{took:.3f} s for a {deadline} s deadline"


def test_a_rate_limited_member_is_a_429_within_the_deadline(faulty: Served) -> None:
    # patient429 retries up to 3 times, but its Retry-After (5 s) is past the deadline.
    started = time.perf_counter()
    response = post(faulty, {"model": "patient429", "messages": QUESTION, "shoal": {"deadline_s": 0.3}})
    took = time.perf_counter() - started
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "5"
    assert_openai_error(response)
    assert took <= 0.4, f"{took:.3f} s for a 0.3 s deadline"


def test_upstream_error_text_never_reaches_the_client_or_the_log(faulty: Served) -> None:
    marker = "PROMPT-MARKER-7781"
    response = post(faulty, {"model": "echo401", "messages": [{"role": "user", "content": marker}]})
    assert response.status_code == 502
    error = assert_openai_error(response)
    assert "HTTP 401" in error["message"]
    for leak in (KEY, marker, "127.0.0.1", "Bearer"):
        assert leak not in response.text
        assert leak not in faulty.stderr()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "ok", "messages": [{"role": "user", "content": "hi \\ud800"}]}',
        b'{"model": "ok", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
        b'{"model": "ok", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}',
    ],
)
def test_a_clients_bad_input_is_a_400_and_never_opens_a_breaker(
    faulty: Served, upstream: FaultUpstream, raw: bytes
) -> None:
    before = upstream.requests["ok"]
    for _ in range(4):
        response = _CLIENT.post(
            faulty.base_url + "/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert_openai_error(response)
    assert upstream.requests["ok"] == before  # nothing was sent
    assert post(faulty, {"model": "ok", "messages": QUESTION}).status_code == 200


def test_the_server_is_alive_after_every_fault(faulty: Served, tmp_path: Path) -> None:
    assert httpx.get(faulty.root + "/health", timeout=5).json()["status"] == "ok"
    assert "Traceback" not in faulty.stderr()
