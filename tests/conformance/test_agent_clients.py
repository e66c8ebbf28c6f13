"""Agent frameworks, unchanged, run a tool round trip against ``shoal serve`` (plain and streamed):
langchain-openai, pydantic-ai, litellm as a client, and Simon Willison's ``llm``.

Each asks for the weather, gets the member's "Let me check." with a ``get_weather`` call, runs the
tool, and gets "It is sunny in Paris." from the turn that carries the tool's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.conftest import TEXT, no_rendering
from tests.proxy.servers import FakeUpstream, Served

QUESTION = "What is the weather in Paris?"
FINAL = "It is sunny in Paris."
MODELS = ["agent", "shoal/agents"]


def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny" if city == "Paris" else "unknown"


# -- langchain-openai ------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_langchain_openai(served: Served, fresh: FakeUpstream, model: str, streaming: bool) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    weather = tool(get_weather)
    llm = ChatOpenAI(model=model, base_url=served.base_url, api_key="unused", max_retries=0, timeout=20)  # type: ignore[arg-type]
    bound = llm.bind_tools([weather])
    if streaming:
        reply: Any = None
        for piece in bound.stream([HumanMessage(QUESTION)]):
            reply = piece if reply is None else reply + piece
    else:
        reply = bound.invoke([HumanMessage(QUESTION)])
    assert reply.content == TEXT
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]
    call = reply.tool_calls[0]
    history = [
        HumanMessage(QUESTION),
        AIMessage(content=reply.content, tool_calls=reply.tool_calls),
        ToolMessage(content=weather.invoke(call["args"]), tool_call_id=call["id"]),
    ]
    final = (
        "".join(str(p.content) for p in bound.stream(history)) if streaming else bound.invoke(history).content
    )
    assert final == FINAL
    no_rendering(fresh.bodies)


# -- pydantic-ai -----------------------------------------------------------------------


def _pydantic_agent(base_url: str, model: str) -> Any:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base_url, api_key="unused")
    return Agent(OpenAIChatModel(model, provider=provider), tools=[get_weather])


@pytest.mark.parametrize("model", MODELS)
def test_pydantic_ai_run(served: Served, fresh: FakeUpstream, model: str) -> None:
    result = _pydantic_agent(served.base_url, model).run_sync(QUESTION)
    assert result.output == FINAL
    returns = [p for m in result.all_messages() for p in m.parts if p.part_kind == "tool-return"]
    assert [r.content for r in returns] == ["sunny"]
    no_rendering(fresh.bodies)


async def _streamed_run(base_url: str, model: str) -> tuple[str, list[Any]]:
    async with _pydantic_agent(base_url, model).run_stream(QUESTION) as result:
        output = await result.get_output()
    returns = [p.content for m in result.all_messages() for p in m.parts if p.part_kind == "tool-return"]
    return output, returns


@pytest.mark.parametrize("model", MODELS)
async def test_pydantic_ai_run_stream(served: Served, fresh: FakeUpstream, model: str) -> None:
    """``run_stream`` runs the tool, and ends as it does against the upstream itself: pydantic-ai
    takes the first text it streams ("Let me check.") as the run's output, by its own design."""
    through_shoal = await _streamed_run(served.base_url, model)
    direct = await _streamed_run(fresh.base_url, "tool-model")
    assert through_shoal == direct
    assert through_shoal[1] == ["sunny"] and through_shoal[0] in (TEXT, FINAL)
    no_rendering(fresh.bodies)


# -- litellm as a client ---------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_litellm_client(served: Served, fresh: FakeUpstream, model: str, streaming: bool) -> None:
    import litellm

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    ask = [{"role": "user", "content": QUESTION}]
    common = {"model": "openai/" + model, "api_base": served.base_url, "api_key": "unused", "timeout": 20}
    if streaming:
        chunks = list(litellm.completion(messages=ask, tools=tools, stream=True, **common))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        rebuilt = litellm.stream_chunk_builder(chunks, messages=ask)
        calls = rebuilt.choices[0].message.tool_calls
    else:
        done = litellm.completion(messages=ask, tools=tools, **common)
        text, calls = done.choices[0].message.content, done.choices[0].message.tool_calls
    assert text == TEXT
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments) == {
        "city": "Paris"
    }
    history = [
        *ask,
        {"role": "assistant", "content": text, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
    ]
    final = litellm.completion(messages=history, tools=tools, **common)
    assert final.choices[0].message.content == FINAL
    no_rendering(fresh.bodies)


# -- llm -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_llm(
    served: Served,
    fresh: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    stream: bool,
) -> None:
    import llm

    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: shoal-test\n  model_name: {model}\n  api_base: {served.base_url}\n"
        "  supports_tools: true\n",
        encoding="utf-8",
    )
    chosen = llm.get_model("shoal-test")
    chain = chosen.chain(QUESTION, tools=[get_weather], stream=stream, key="unused")
    text = chain.text()
    responses = list(chain.responses())
    assert responses[0].text() == TEXT
    assert [c.name for c in responses[0].tool_calls()] == ["get_weather"]
    assert text.endswith(FINAL)
    no_rendering(fresh.bodies)
