"""Chat completions with tools through real clients: the member's own text survives, tool calls stream
piece by piece, and the tool's result comes back in the next turn (plain and streamed).

The member writes "Let me check." before its tool call (as most real models do); asked directly it
streams straight through, and ``shoal/agents`` votes between two such members.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conformance.conftest import CALL, TEXT, WEATHER_TOOL, no_rendering
from tests.conformance.openai import validate, validate_sse
from tests.proxy.servers import FakeUpstream, Served

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
MODELS = ["agent", "shoal/agents"]


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def second_turn(content: str | None, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        *ASK,
        {"role": "assistant", "content": content, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_tool_round_trip(client: openai.OpenAI, fresh: FakeUpstream, model: str) -> None:
    done = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER_TOOL])  # type: ignore[arg-type, list-item]
    message = done.choices[0].message
    assert message.content == TEXT
    assert done.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls and message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    calls = [c.model_dump() for c in message.tool_calls]
    final = client.chat.completions.create(model=model, messages=second_turn(message.content, calls))  # type: ignore[arg-type]
    assert final.choices[0].message.content == "It is sunny in Paris."
    assert fresh.bodies[-1]["messages"][1]["content"] == TEXT
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_streamed_tool_round_trip(client: openai.OpenAI, fresh: FakeUpstream, model: str) -> None:
    chunks = list(
        client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER_TOOL], stream=True)
    )  # type: ignore[arg-type, list-item]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    pieces = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert text == TEXT
    if model == "agent":  # asked directly: the pieces go out as the member sends them
        assert len(pieces) > 2 and pieces[0].id == CALL["id"]
    arguments = "".join(p.function.arguments or "" for p in pieces if p.function)
    assert json.loads(arguments) == {"city": "Paris"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    calls = [
        {"id": pieces[0].id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
    ]
    final = client.chat.completions.create(model=model, messages=second_turn(text, calls), stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in final if c.choices) == "It is sunny in Paris."
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_bodies_and_events_match_the_openapi_schemas(served: Served, fresh: FakeUpstream, model: str) -> None:
    body = {"model": model, "messages": ASK, "tools": [WEATHER_TOOL]}
    plain = httpx.post(served.base_url + "/chat/completions", json=body, timeout=20)
    assert plain.status_code == 200
    validate("CreateChatCompletionResponse", plain.json())
    stream = httpx.post(
        served.base_url + "/chat/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        timeout=20,
    )
    events = validate_sse("CreateChatCompletionStreamResponse", stream.text)
    assert events and stream.text.rstrip().endswith("data: [DONE]")


def test_errors_match_the_openapi_schema(served: Served) -> None:
    for response in (
        httpx.post(served.base_url + "/chat/completions", json={"model": "nope", "messages": ASK}),
        httpx.post(served.base_url + "/chat/completions", json={"model": "agent", "messages": []}),
        httpx.post(served.base_url + "/chat/completions", content=b"{not json"),
    ):
        assert response.status_code in (400, 404)
        validate("ErrorResponse", response.json())


def test_the_schema_check_catches_a_wrong_field(served: Served, fresh: FakeUpstream) -> None:
    """The validation is real: the same body with one field wrong fails it."""
    body = httpx.post(served.base_url + "/chat/completions", json={"model": "agent", "messages": ASK}).json()
    body["choices"][0]["finish_reason"] = "tool_use"
    with pytest.raises(AssertionError, match="finish_reason"):
        validate("CreateChatCompletionResponse", body)


def test_legacy_functions_map_to_tools(client: openai.OpenAI, fresh: FakeUpstream) -> None:
    functions = [WEATHER_TOOL["function"]]
    done = client.chat.completions.create(model="agent", messages=ASK, functions=functions)  # type: ignore[arg-type, list-item]
    assert fresh.bodies[-1]["tools"] == [WEATHER_TOOL]
    message = done.choices[0].message
    assert done.choices[0].finish_reason == "function_call"
    assert message.function_call is not None and message.function_call.name == "get_weather"
    history = [
        *ASK,
        {"role": "assistant", "content": None, "function_call": message.function_call.model_dump()},
        {"role": "function", "name": "get_weather", "content": "sunny"},
    ]
    final = client.chat.completions.create(model="agent", messages=history, functions=functions)  # type: ignore[arg-type, list-item]
    assert final.choices[0].message.content == "It is sunny in Paris."
    sent = fresh.bodies[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "tool_call_id": sent[1]["tool_calls"][0]["id"], "content": "sunny"}
