"""``POST /v1/responses`` through the ``openai`` SDK's ``client.responses`` and the OpenAI Agents SDK,
every body and stream event validated against OpenAI's schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conformance.conftest import TEXT, WEATHER_TOOL, no_rendering
from tests.conformance.openai import validate, validate_sse
from tests.proxy.servers import FakeUpstream, Served

QUESTION = "What is the weather in Paris?"
FINAL = "It is sunny in Paris."
TOOL = {"type": "function", **WEATHER_TOOL["function"]}
MODELS = ["agent", "shoal/agents"]


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def test_a_string_input_is_answered_stored_retrieved_and_deleted(
    client: openai.OpenAI, served: Served
) -> None:
    done = client.responses.create(
        model="shoal/vote", input="What is six times seven?", metadata={"run": "7"}
    )
    assert done.output_text == "42" and done.status == "completed" and done.object == "response"
    assert (
        done.metadata == {"run": "7"} and done.model_extra and done.model_extra["shoal"]["strategy"] == "vote"
    )
    raw = httpx.get(f"{served.base_url}/responses/{done.id}", timeout=10)
    validate("Response", raw.json())
    assert client.responses.retrieve(done.id).output_text == "42"
    client.responses.delete(done.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(done.id)


@pytest.mark.parametrize("model", MODELS)
def test_tool_round_trip_through_previous_response_id(
    client: openai.OpenAI, fresh: FakeUpstream, model: str
) -> None:
    first = client.responses.create(model=model, input=QUESTION, tools=[TOOL], instructions="Be brief.")  # type: ignore[list-item]
    kinds = [item.type for item in first.output]
    assert kinds == ["message", "function_call"]
    assert first.output_text == TEXT
    call = first.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert fresh.bodies[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert fresh.bodies[-1]["tools"] == [WEATHER_TOOL]
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[TOOL],  # type: ignore[list-item]
    )
    assert second.output_text == FINAL
    sent = fresh.bodies[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]  # the instructions are not carried over
    assert sent[1]["content"] == TEXT and sent[1]["tool_calls"][0]["id"] == call.call_id
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_round_trip_with_the_whole_input(
    client: openai.OpenAI, fresh: FakeUpstream, model: str
) -> None:
    events = list(
        client.responses.create(model=model, input=QUESTION, tools=[TOOL], stream=True, store=False)
    )  # type: ignore[list-item]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.function_call_arguments.delta" in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == TEXT
    done = events[-1].response  # type: ignore[union-attr]
    call = next(i for i in done.output if i.type == "function_call")
    assert json.loads(call.arguments) == {"city": "Paris"}
    with pytest.raises(openai.NotFoundError):  # store=False
        client.responses.retrieve(done.id)
    items = [
        {"role": "user", "content": QUESTION},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    final = list(client.responses.create(model=model, input=items, stream=True))  # type: ignore[arg-type]
    assert "".join(e.delta for e in final if e.type == "response.output_text.delta") == FINAL
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", MODELS)
def test_bodies_and_events_match_the_openapi_schemas(served: Served, fresh: FakeUpstream, model: str) -> None:
    body = {"model": model, "input": QUESTION, "tools": [TOOL]}
    plain = httpx.post(served.base_url + "/responses", json=body, timeout=20)
    assert plain.status_code == 200
    validate("Response", plain.json())
    streamed = httpx.post(served.base_url + "/responses", json={**body, "stream": True}, timeout=20)
    events = validate_sse("ResponseStreamEvent", streamed.text)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["message", "function_call"]


def test_parameters_reach_the_member_and_metadata_does_not(
    client: openai.OpenAI, fresh: FakeUpstream
) -> None:
    fresh.reset(tokens=['{"city": "Paris"}'])
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    done = client.responses.create(
        model="agent",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Which city?"}]}],
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.9,
        metadata={"secret-label": "x"},
    )
    assert json.loads(done.output_text) == {"city": "Paris"}
    sent = fresh.bodies[-1]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (50, 0.2, 0.9)
    assert "metadata" not in sent and "secret-label" not in json.dumps(sent)
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Which city?"}]}]


def test_what_cannot_be_represented_is_a_400(client: openai.OpenAI, served: Served) -> None:
    with pytest.raises(openai.BadRequestError, match="web_search"):
        client.responses.create(model="agent", input="hi", tools=[{"type": "web_search"}])  # type: ignore[list-item]
    with pytest.raises(openai.BadRequestError, match="input_file"):
        client.responses.create(
            model="agent",
            input=[{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}],  # type: ignore[list-item]
        )
    with pytest.raises(openai.NotFoundError, match="previous_response_id"):
        client.responses.create(model="agent", input="hi", previous_response_id="resp_missing")
    error = httpx.post(served.base_url + "/responses", json={"model": "agent"}, timeout=10)
    assert error.status_code == 400
    validate("ErrorResponse", error.json())


# -- the OpenAI Agents SDK, its default model, configured only with base_url and api_key ----


@pytest.fixture
def agents_client(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import agents

    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")  # traces would go to a remote service
    agents.set_tracing_disabled(True)
    agents.set_default_openai_client(
        openai.AsyncOpenAI(base_url=served.base_url, api_key="unused", max_retries=0)
    )
    yield


def _agent(model: str | None) -> object:
    import agents

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny" if city == "Paris" else "unknown"

    if model is None:
        return agents.Agent(name="weather", instructions="Answer briefly.", tools=[get_weather])
    return agents.Agent(name="weather", instructions="Answer briefly.", tools=[get_weather], model=model)


# The SDK reads "shoal/..." as a provider prefix: the server's model_aliases maps "agents-vote" instead.
@pytest.mark.parametrize("model", [None, "agents-vote"])
async def test_agents_sdk_runs_a_tool_round_trip(
    agents_client: None, fresh: FakeUpstream, model: str | None
) -> None:
    import agents

    result = await agents.Runner.run(_agent(model), QUESTION)  # type: ignore[arg-type]
    assert result.final_output == FINAL
    outputs = [i for i in result.new_items if i.type == "tool_call_output_item"]
    assert [o.output for o in outputs] == ["sunny"]
    no_rendering(fresh.bodies)


@pytest.mark.parametrize("model", [None, "agents-vote"])
async def test_agents_sdk_runs_a_streamed_tool_round_trip(
    agents_client: None, fresh: FakeUpstream, model: str | None
) -> None:
    import agents

    run = agents.Runner.run_streamed(_agent(model), QUESTION)  # type: ignore[arg-type]
    deltas = []
    async for event in run.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    assert run.final_output == FINAL
    assert "".join(deltas) == TEXT + FINAL
    no_rendering(fresh.bodies)
