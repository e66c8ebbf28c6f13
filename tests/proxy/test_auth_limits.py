"""Keys, body limits, overload and the loopback rule, against a ``shoal serve`` with ``[server]`` set."""

from __future__ import annotations

import concurrent.futures
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from orchestrator.config import parse_config
from orchestrator.errors import UsageError
from orchestrator.proxy.auth import ApiKeys, check_bind
from tests.helpers import scripted_toml
from tests.proxy.servers import SHOAL, Served, serve_env, start_serve

QUESTION = [{"role": "user", "content": "What is six times seven?"}]
KEYS = ("sk-shoal-test-one", "sk-shoal-test-two")
STRICT = f"""
[strategies.vote]
kind = "vote"

[server]
api_keys = ["{KEYS[0]}", "{KEYS[1]}"]
max_body_bytes = 4096
max_concurrent_requests = 1
"""


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("strict")
    config = workdir / "strict.toml"
    members = {"alice": {"answers": ["42"]}, "slow": {"answers": ["9"], "latency_s": 1.5}}
    config.write_text(scripted_toml(members, STRICT), encoding="utf-8")
    server = start_serve(config, workdir, key=KEYS[0])
    yield server
    server.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_banner_says_auth_is_on(strict: Served) -> None:
    assert "auth: on (2 keys)" in strict.banner
    assert KEYS[0] not in strict.banner


def test_a_wrong_key_raises_the_clients_authentication_error(strict: Served) -> None:
    with openai.OpenAI(base_url=strict.base_url, api_key="sk-wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.chat.completions.create(model="shoal/auto", messages=QUESTION)
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_either_configured_key_works(strict: Served) -> None:
    for key in KEYS:
        with openai.OpenAI(base_url=strict.base_url, api_key=key, max_retries=0) as client:
            done = client.chat.completions.create(model="alice", messages=QUESTION)
            assert done.choices[0].message.content == "42"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {KEYS[0]}"}, auth(KEYS[0] + "x")],
)
def test_missing_or_malformed_keys_are_401(strict: Served, headers: dict[str, str]) -> None:
    response = httpx.post(
        strict.base_url + "/chat/completions",
        json={"model": "alice", "messages": QUESTION},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_health_is_open_and_metrics_need_a_key(strict: Served) -> None:
    assert httpx.get(strict.root + "/health", timeout=5).status_code == 200
    assert httpx.get(strict.root + "/metrics", timeout=5).status_code == 401
    assert httpx.get(strict.root + "/metrics", headers=auth(KEYS[1]), timeout=5).status_code == 200


def test_a_body_over_the_limit_is_413(strict: Served) -> None:
    big = {"model": "alice", "messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(strict.base_url + "/chat/completions", json=big, headers=auth(KEYS[0]), timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_chunked_body_over_the_limit_is_413(strict: Served) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"model": "alice", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    response = httpx.post(
        strict.base_url + "/chat/completions",
        content=pieces(),
        headers={**auth(KEYS[0]), "content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413


def test_overload_is_503_with_retry_after(strict: Served) -> None:
    body = {"model": "slow", "messages": QUESTION}

    def ask() -> httpx.Response:
        return httpx.post(strict.base_url + "/chat/completions", json=body, headers=auth(KEYS[0]), timeout=10)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: ask(), range(3)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 503, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"


def test_shoal_api_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_API_KEYS", "k-env-1, k-env-2")
    config = parse_config(scripted_toml({"a": {}}), source="env.toml")
    assert [k.get_secret_value() for k in config.server.api_keys] == ["k-env-1", "k-env-2"]
    assert "k-env-1" not in repr(config.server)


def test_without_keys_only_loopback_unless_insecure() -> None:
    none = ApiKeys([])
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, none, insecure_no_auth=False)
    with pytest.raises(UsageError, match="--insecure-no-auth"):
        check_bind("0.0.0.0", none, insecure_no_auth=False)
    check_bind("0.0.0.0", none, insecure_no_auth=True)
    check_bind("0.0.0.0", ApiKeys(["k"]), insecure_no_auth=False)


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    config = tmp_path / "open.toml"
    config.write_text(scripted_toml({"alice": {}}), encoding="utf-8")
    result = subprocess.run(
        [str(SHOAL), "serve", "--config", str(config), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=serve_env(),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("shoal: error: refusing to serve on 0.0.0.0 without API keys")
    assert "--insecure-no-auth" in result.stderr
