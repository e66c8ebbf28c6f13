"""Sovereignty and continuity through ``shoal serve``: sensitivity header, policy, breakers, budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from orchestrator.proxy.quota import with_header_sensitivity
from orchestrator.types import Tags
from tests.conftest import REPO
from tests.proxy.servers import Served, serve_env, start_serve

SHOAL = [sys.executable, "-m", "orchestrator.cli"]

QUESTION = [{"role": "user", "content": "What is six times seven?"}]
LEAK = [{"role": "user", "content": "sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZ fails; what is 6 x 7?"}]
KEYS = ("sk-shoal-sovereign-a", "sk-shoal-sovereign-b")
SERVER = f"""
[server]
api_keys = ["{KEYS[0]}", "{KEYS[1]}"]
"""


def sovereign_config(path: Path, *, cloud_down: bool = False, daily_calls: int | None = None) -> Path:
    text = (REPO / "examples" / "sovereign.toml").read_text(encoding="utf-8")
    if cloud_down:
        text = text.replace('model = "scripted-cloud"\n', 'model = "scripted-cloud"\nfail = "server_error"\n')
    text += SERVER
    if daily_calls is not None:
        text += (
            f'key_daily_max_calls = {daily_calls}\nkey_budgets_path = "{path.parent / "budgets.sqlite"}"\n'
        )
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sovereign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("sovereign")
    server = start_serve(sovereign_config(workdir / "sovereign.toml"), workdir, key=KEYS[0])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rationed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("rationed")
    server = start_serve(sovereign_config(workdir / "rationed.toml", daily_calls=8), workdir, key=KEYS[0])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cloud_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("down")
    server = start_serve(sovereign_config(workdir / "down.toml", cloud_down=True), workdir, key=KEYS[0])
    yield server
    server.stop()


def ask(
    served: Served, key: str = KEYS[0], *, headers: dict[str, str] | None = None, **body: object
) -> httpx.Response:
    payload = {"model": "shoal/auto", "messages": QUESTION, **body}
    return httpx.post(
        served.base_url + "/chat/completions",
        json=payload,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        timeout=30,
    )


def members_of(response: httpx.Response) -> list[str]:
    return sorted(c["member"] for c in response.json()["shoal"]["candidates"])


def test_the_header_makes_a_request_confidential(sovereign: Served) -> None:
    plain = ask(sovereign, KEYS[1])
    assert plain.status_code == 200, plain.text
    assert members_of(plain) == ["cloud-us", "local-a", "local-b"]
    told = ask(sovereign, KEYS[1], headers={"x-shoal-sensitivity": "confidential"})
    assert told.status_code == 200, told.text
    assert told.json()["shoal"]["sensitivity"] == ["confidential"]
    assert members_of(told) == ["local-a", "local-b", "local-spare"]
    assert told.json()["choices"][0]["message"]["content"] == "42"


def test_a_leaked_key_is_confidential_without_being_told(sovereign: Served) -> None:
    with openai.OpenAI(base_url=sovereign.base_url, api_key=KEYS[1], max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="shoal/auto", messages=LEAK)  # type: ignore[arg-type]
    body = raw.parse().model_dump()
    assert body["shoal"]["sensitivity"] == ["confidential"]
    assert "cloud-us" not in {c["member"] for c in body["shoal"]["candidates"]}


def test_asking_an_excluded_member_directly_is_403_and_sends_nothing(sovereign: Served) -> None:
    before = sovereign.metric("shoal_upstream_calls_total", member="cloud-us", outcome="ok")
    with openai.OpenAI(base_url=sovereign.base_url, api_key=KEYS[1], max_retries=0) as client:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.chat.completions.create(
                model="cloud-us", messages=QUESTION, extra_headers={"x-shoal-sensitivity": "confidential"}
            )
    assert caught.value.code == "policy_denied"
    assert "model 'cloud-us'" in str(caught.value) and "nothing was sent" in str(caught.value)
    assert sovereign.metric("shoal_upstream_calls_total", member="cloud-us", outcome="ok") == before


def test_a_request_budget_is_429_naming_it(sovereign: Served) -> None:
    with openai.OpenAI(base_url=sovereign.base_url, api_key=KEYS[1], max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="shoal/auto", messages=QUESTION, extra_body={"shoal": {"max_calls": 2}}
            )
    assert caught.value.code == "budget_exceeded" and caught.value.param == "max_calls"
    assert "max_calls=2 would be exceeded" in str(caught.value)


def test_a_keys_daily_budget_is_429_with_retry_after_and_other_keys_go_on(rationed: Served) -> None:
    # 3 calls, 3 calls, then 2 left: a 3-member vote would pass the day's 8
    assert ask(rationed).status_code == 200
    assert ask(rationed).status_code == 200
    over = ask(rationed)
    assert over.status_code == 429
    error = over.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "budget_exceeded",
        "key_daily_max_calls",
        "insufficient_quota",
    )
    assert (
        "daily budget key_daily_max_calls=8 of this API key would be exceeded (2 left today"
        in error["message"]
    )
    assert int(over.headers["retry-after"]) > 0
    single = ask(rationed, model="local-a")  # one call fits
    assert single.status_code == 200, single.text
    ask(rationed, model="local-b")
    spent = ask(rationed, model="local-a")
    assert spent.status_code == 429 and "is spent (8 calls today)" in spent.json()["error"]["message"]
    assert ask(rationed, KEYS[1], model="local-a").status_code == 200


def test_with_the_cloud_down_answers_go_on_and_metrics_show_its_breaker(cloud_down: Served) -> None:
    for _ in range(4):
        response = ask(cloud_down, KEYS[1])
        assert response.status_code == 200, response.text
        seats = {c["member"]: c["replaces"] for c in response.json()["shoal"]["candidates"] if not c["error"]}
        assert seats == {"local-a": None, "local-b": None, "local-spare": "cloud-us"}
    assert cloud_down.metric("shoal_member_up", member="cloud-us") == 0
    assert cloud_down.metric("shoal_member_breaker_state", member="cloud-us") == 2
    assert cloud_down.metric("shoal_member_failures_total", member="cloud-us") == 3  # then not even tried
    assert cloud_down.metric("shoal_member_refused_total", member="cloud-us") >= 1
    assert cloud_down.metric("shoal_member_up", member="local-a") == 1


def test_header_and_body_sensitivities_both_apply() -> None:
    tags = with_header_sensitivity(Tags(sensitivity="secret"), "confidential")
    assert tags.sensitivity == "secret,confidential"
    assert with_header_sensitivity(Tags(), None) == Tags()


def test_members_status_reads_a_running_servers_breakers(cloud_down: Served, tmp_path: Path) -> None:
    for _ in range(3):
        ask(cloud_down, KEYS[1])
    config = sovereign_config(tmp_path / "down.toml", cloud_down=True)
    command = [*SHOAL, "members", "status", "-c", str(config), "--url", cloud_down.root, "--json"]
    result = subprocess.run([*command, "--api-key", KEYS[1]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = {row["member"]: row for row in json.loads(result.stdout)["members"]}
    assert rows["cloud-us"]["state"] == "open" and rows["cloud-us"]["failures"] == 3
    assert rows["local-a"]["state"] == "closed" and rows["local-a"]["calls"] >= 3
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60, env=serve_env())
    assert refused.returncode == 2 and "pass --api-key or set SHOAL_API_KEY" in refused.stderr
