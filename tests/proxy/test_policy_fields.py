"""Through ``shoal serve`` on loopback: the policy reads every field a request forwards, and labels
fail closed.

The cloud member is an ``openai_compat`` member on a real fake upstream, so what it would have been
sent is what that upstream records; ``[policy.confidential]`` excludes it. A secret in any field the
proxy forwards (message fields of every role, tool calls and results, ``tools``, ``tool_choice``,
``stop``, ``response_format``, ``logit_bias``) must leave the upstream's record empty, while the same
request with a harmless word reaches it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, Served, running, start_serve
from tests.unit.test_forwarded_fields import AWS_KEY, HARMLESS, SLOTS

LOCALS = {
    "local-a": {"answers": ["42"], "locality": "local"},
    "local-b": {"answers": ["42"], "locality": "local"},
}
CONFIG = """
[members.cloud]
provider = "openai_compat"
model = "cloud-model"
api_base = "{upstream}"
locality = "cloud"
max_retries = 0

[teams.main]
members = ["cloud", "local-a", "local-b"]

[strategies.vote]
kind = "vote"
team = "main"
min_answers = 2

[defaults]
strategy = "vote"
team = "main"

[policy]
labels = ["public"]

[policy.confidential]
allow = ["locality:local"]
"""

# Slots that mean a parameter the proxy's schema does not take are left to the library tests.
PROXY_SLOTS = [slot for slot in SLOTS if slot not in ("any param (nested)",)]


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(tokens=["42"])
    with running(fake.app()) as port:
        fake.port = port
        yield fake


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, cloud: FakeUpstream) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("fields")
    config = workdir / "shoal.toml"
    config.write_text(
        scripted_toml(copy.deepcopy(LOCALS), CONFIG.format(upstream=cloud.base_url)), encoding="utf-8"
    )
    server = start_serve(config, workdir)
    yield server
    server.stop()


def post(served: Served, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(served.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=30)


def request_body(slot: str, word: str, **extra: Any) -> dict[str, Any]:
    messages, params = SLOTS[slot](word)
    return {"model": "shoal/auto", "messages": messages, **params, **extra}


def members_of(response: httpx.Response) -> set[str]:
    return {c["member"] for c in response.json()["shoal"]["candidates"]}


@pytest.mark.parametrize("slot", PROXY_SLOTS)
def test_a_secret_in_any_forwarded_field_never_reaches_the_excluded_upstream(
    guarded: Served, cloud: FakeUpstream, slot: str
) -> None:
    cloud.reset(tokens=["42"])
    control = post(guarded, request_body(slot, HARMLESS))
    assert control.status_code == 200, control.text
    assert len(cloud.bodies) == 1, "without the secret the cloud member is asked, so a leak would show"

    cloud.reset(tokens=["42"])
    told = post(guarded, request_body(slot, AWS_KEY))
    assert told.status_code == 200, told.text
    assert cloud.bodies == [], f"{slot}: the excluded member was sent the request"
    assert told.json()["shoal"]["sensitivity"] == ["confidential"]
    assert members_of(told) == {"local-a", "local-b"}


@pytest.mark.parametrize(
    "slot", ["tools.function.description", "assistant.tool_calls.arguments", "stop (list)"]
)
def test_streamed_and_direct_requests_are_checked_the_same_way(
    guarded: Served, cloud: FakeUpstream, slot: str
) -> None:
    cloud.reset(tokens=["42"])
    with httpx.stream(
        "POST",
        guarded.base_url + "/chat/completions",
        json=request_body(slot, AWS_KEY, stream=True),
        timeout=30,
    ) as streamed:
        assert streamed.status_code == 200
        text = "".join(streamed.iter_text())
    assert "data: [DONE]" in text and cloud.bodies == []
    direct = post(guarded, {**request_body(slot, AWS_KEY), "model": "cloud"})
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "policy_denied"
    assert cloud.bodies == []


def test_unknown_message_fields_are_not_forwarded(guarded: Served, cloud: FakeUpstream) -> None:
    cloud.reset(tokens=["42"])
    messages = [
        {"role": "user", "content": "hi", "x_vendor": AWS_KEY},
        {"role": "assistant", "content": "hello", "refusal": AWS_KEY, "audio": {"id": AWS_KEY}},
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is 6 x 7?", "cache_control": {"k": AWS_KEY}}],
        },
    ]
    response = post(guarded, {"model": "shoal/auto", "messages": messages, "user": AWS_KEY})
    assert response.status_code == 200, response.text
    (sent,) = cloud.bodies
    assert AWS_KEY not in json.dumps(sent)
    assert sent["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "What is 6 x 7?"}]},
    ]


@pytest.mark.parametrize("kind", ["image_url", "input_audio", "file"])
def test_a_content_part_the_policy_cannot_read_is_400_and_nothing_is_sent(
    guarded: Served, cloud: FakeUpstream, kind: str
) -> None:
    cloud.reset(tokens=["42"])
    part = {"type": kind, kind: {"url": f"https://example.com/?k={AWS_KEY}"}}
    body = {"model": "shoal/auto", "messages": [{"role": "user", "content": [part]}]}
    response = post(guarded, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (
        error["param"] == "messages.0.content"
        and f"content part type {kind!r} is not forwarded" in error["message"]
    )
    assert cloud.bodies == []


# -- labels fail closed --------------------------------------------------------------------

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


@pytest.mark.parametrize(
    ("headers", "shoal"),
    [
        ({"x-shoal-sensitivity": "CONFIDENTIAL"}, None),
        ({"x-shoal-sensitivity": "Confidential ,  PUBLIC"}, None),
        ({}, {"sensitivity": "Confidential"}),
        ({}, {"sensitivity": "public, CONFIDENTIAL "}),
    ],
)
def test_labels_are_normalised_and_then_applied(
    guarded: Served, cloud: FakeUpstream, headers: dict[str, str], shoal: dict[str, str] | None
) -> None:
    cloud.reset(tokens=["42"])
    body: dict[str, Any] = {"model": "shoal/auto", "messages": QUESTION}
    if shoal is not None:
        body["shoal"] = shoal
    response = post(guarded, body, headers)
    assert response.status_code == 200, response.text
    assert "confidential" in response.json()["shoal"]["sensitivity"]
    assert cloud.bodies == [] and members_of(response) == {"local-a", "local-b"}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("headers", "shoal", "param"),
    [
        ({"x-shoal-sensitivity": "confidental"}, None, "x-shoal-sensitivity"),
        ({}, {"sensitivity": "Confidental"}, "shoal.sensitivity"),
        ({}, {"sensitivity": "public,top-secret"}, "shoal.sensitivity"),
    ],
)
def test_an_unknown_label_is_400_naming_the_known_ones_and_nothing_is_sent(
    guarded: Served,
    cloud: FakeUpstream,
    headers: dict[str, str],
    shoal: dict[str, str] | None,
    param: str,
    stream: bool,
) -> None:
    cloud.reset(tokens=["42"])
    body: dict[str, Any] = {"model": "shoal/auto", "messages": QUESTION, "stream": stream}
    if shoal is not None:
        body["shoal"] = shoal
    response = post(guarded, body, headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "unknown_sensitivity",
        param,
    )
    assert "known: confidential, public" in error["message"]
    assert cloud.bodies == []


def test_a_declared_label_is_accepted_and_open_to_all(guarded: Served, cloud: FakeUpstream) -> None:
    cloud.reset(tokens=["42"])
    response = post(guarded, {"model": "shoal/auto", "messages": QUESTION}, {"x-shoal-sensitivity": "Public"})
    assert response.status_code == 200 and response.json()["shoal"]["sensitivity"] == ["public"]
    assert len(cloud.bodies) == 1


def test_the_openai_client_gets_a_bad_request_error_for_a_misspelt_label(guarded: Served) -> None:
    with openai.OpenAI(base_url=guarded.base_url, api_key="none", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="shoal/auto", messages=QUESTION, extra_body={"shoal": {"sensitivity": "confidental"}}
            )
    assert caught.value.code == "unknown_sensitivity"
    assert "did you mean 'confidential'?" in caught.value.message
