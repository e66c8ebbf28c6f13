"""``POST /v1/messages`` through the ``anthropic`` SDK (messages, streaming, tools), given only
``base_url``; bodies and events validated against the SDK's own pydantic types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conformance.conftest import TEXT, no_rendering
from tests.proxy.servers import FakeUpstream, Served

QUESTION = "What is the weather in Paris?"
FINAL = "It is sunny in Paris."
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# model names a client sends, mapped by the server's model_aliases: a member, and a vote of two
MODELS = ["claude-test-sonnet", "claude-vote"]


@pytest.fixture
def client(served: Served) -> Iterator[Any]:
    with anthropic.Anthropic(base_url=served.root, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def validate_message(body: dict[str, Any]) -> None:
    anthropic.types.Message.model_validate(body)


def validate_events(raw: str) -> list[dict[str, Any]]:
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    events = []
    for block in raw.split("\n\n"):
        lines = block.splitlines()
        kind = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
        if not data:
            continue
        event = json.loads(data)
        assert event["type"] == kind
        if kind == "ping":
            assert event == {"type": "ping"}
        elif kind == "error":
            anthropic.types.shared.ErrorResponse.model_validate(event)
        else:
            adapter.validate_python(event)
        events.append(event)
    return events


@pytest.mark.parametrize("model", MODELS)
def test_tool_round_trip(client: Any, fresh: FakeUpstream, model: str) -> None:
    ask = [{"role": "user", "content": QUESTION}]
    first = client.messages.create(
        model=model, max_tokens=100, messages=ask, tools=[TOOL], system="Be brief."
    )
    assert first.stop_reason == "tool_use" and first.model == model
    assert [b.type for b in first.content] == ["text", "tool_use"]
    assert first.content[0].text == TEXT
    use = first.content[1]
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    assert fresh.bodies[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert fresh.bodies[-1]["tools"][0]["function"]["parameters"] == TOOL["input_schema"]
    history = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    final = client.messages.create(model=model, max_tokens=100, messages=history, tools=[TOOL])
    assert final.stop_reason == "end_turn" and final.content[0].text == FINAL
    sent = fresh.bodies[-1]["messages"]
    assert sent[1]["content"] == TEXT and sent[1]["tool_calls"][0]["id"] == use.id
    assert sent[2] == {"role": "tool", "tool_call_id": use.id, "content": "sunny"}
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_round_trip(client: Any, fresh: FakeUpstream, model: str) -> None:
    ask = [{"role": "user", "content": QUESTION}]
    with client.messages.stream(model=model, max_tokens=100, messages=ask, tools=[TOOL]) as stream:
        text = "".join(stream.text_stream)
        first = stream.get_final_message()
    assert text == TEXT
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.input == {"city": "Paris"}
    history = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    with client.messages.stream(model=model, max_tokens=100, messages=history, tools=[TOOL]) as stream:
        assert "".join(stream.text_stream) == FINAL
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_bodies_and_events_match_the_sdk_types(served: Served, fresh: FakeUpstream, model: str) -> None:
    body = {
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": QUESTION}],
        "tools": [TOOL],
    }
    plain = httpx.post(served.root + "/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=20)
    assert plain.status_code == 200
    validate_message(plain.json())
    streamed = httpx.post(served.root + "/v1/messages", json={**body, "stream": True}, timeout=20)
    events = validate_events(streamed.text)
    kinds = [e["type"] for e in events if e["type"] != "ping"]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["text", "tool_use"]
    assert kinds.count("content_block_stop") == 2


def test_the_type_check_catches_a_wrong_field(served: Served, fresh: FakeUpstream) -> None:
    body = {"model": "claude-test-sonnet", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(served.root + "/v1/messages", json=body, timeout=20).json()
    answer["stop_reason"] = "stop"
    with pytest.raises(ValueError, match="stop_reason"):
        validate_message(answer)


def test_errors_are_in_anthropic_shape(client: Any, served: Served) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="claude-unknown", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert "claude-unknown" in missing.value.message
    no_max = {"model": "claude-test-sonnet", "messages": [{"role": "user", "content": "hi"}]}
    refused = httpx.post(served.root + "/v1/messages", json=no_max, timeout=10)
    assert refused.status_code == 400 and "max_tokens" in refused.json()["error"]["message"]
    anthropic.types.shared.ErrorResponse.model_validate(refused.json())
    with pytest.raises(anthropic.BadRequestError, match="document"):
        doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
        client.messages.create(
            model="claude-test-sonnet", max_tokens=10, messages=[{"role": "user", "content": [doc]}]
        )


def test_count_tokens(client: Any) -> None:
    counted = client.messages.count_tokens(
        model="claude-test-sonnet", messages=[{"role": "user", "content": QUESTION}], tools=[TOOL]
    )
    assert isinstance(counted, anthropic.types.MessageTokensCount) and counted.input_tokens > 10


def test_x_api_key_is_the_key_when_auth_is_on(tmp_path: Any, upstream: FakeUpstream) -> None:
    from tests.helpers import scripted_toml
    from tests.proxy.servers import start_serve

    config = tmp_path / "shoal.toml"
    config.write_text(scripted_toml({"alice": {"answers": ["42"]}}, '[server]\napi_keys = ["sk-right"]\n'))
    server = start_serve(config, tmp_path)
    try:
        ask = {"model": "alice", "max_tokens": 10, "messages": [{"role": "user", "content": "6 x 7?"}]}
        with anthropic.Anthropic(base_url=server.root, api_key="sk-wrong", max_retries=0) as wrong:
            with pytest.raises(anthropic.AuthenticationError):
                wrong.messages.create(**ask)
        with anthropic.Anthropic(base_url=server.root, api_key="sk-right", max_retries=0) as right:
            assert right.messages.create(**ask).content[0].text == "42"
    finally:
        server.stop()
