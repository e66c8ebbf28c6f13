"""Log-probabilities on streamed chat completions: a member asked directly streams its tokens'
``logprobs`` in every content chunk, as OpenAI does; a strategy refuses them before anything is sent.
Through the ``openai`` SDK against ``shoal serve`` and a loopback upstream that streams them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conformance.conftest import WEATHER_TOOL
from tests.conformance.openai import validate_sse
from tests.proxy.servers import FakeUpstream, Served

QUESTION = [{"role": "user", "content": "6 x 7?"}]


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


# ``agent`` is an openai_compat member, ``lite-embedder`` a litellm one, both on the same upstream.
@pytest.mark.parametrize("model", ["agent", "lite-embedder"])
def test_a_member_asked_directly_streams_each_chunks_logprobs(
    client: openai.OpenAI, fresh: FakeUpstream, model: str
) -> None:
    fresh.reset(tokens=["The", " answer", " is", " 42."], gap_s=0.01)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            logprobs=True,
            top_logprobs=2,
            stream_options={"include_usage": True},
        )
    )
    assert (fresh.bodies[-1]["logprobs"], fresh.bodies[-1]["top_logprobs"]) == (True, 2)
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(texts) == "The answer is 42."
    tokens = []
    for chunk in chunks:
        if not chunk.choices or not chunk.choices[0].delta.content:
            continue
        logprobs = chunk.choices[0].logprobs
        assert logprobs is not None and logprobs.content is not None, chunk
        assert "".join(t.token for t in logprobs.content) == chunk.choices[0].delta.content
        tokens.extend(logprobs.content)
    assert [t.token for t in tokens] == ["The", " answer", " is", " 42."]
    assert [t.logprob for t in tokens] == pytest.approx([-0.1, -0.2, -0.3, -0.4])
    assert [len(t.top_logprobs) for t in tokens] == [2, 2, 2, 2]
    assert tokens[3].bytes == list(b" 42.")
    assert chunks[-1].usage is not None


def test_streamed_logprobs_match_the_openapi_schema(served: Served, fresh: FakeUpstream) -> None:
    fresh.reset(tokens=["4", "2"])
    body = {"model": "agent", "messages": QUESTION, "stream": True, "logprobs": True, "top_logprobs": 1}
    raw = httpx.post(served.base_url + "/chat/completions", json=body, timeout=20)
    assert raw.status_code == 200
    events = validate_sse("CreateChatCompletionStreamResponse", raw.text)
    carried = [e["choices"][0]["logprobs"] for e in events if e["choices"] and e["choices"][0]["logprobs"]]
    assert [lp["content"][0]["token"] for lp in carried] == ["4", "2"]
    assert all(lp["refusal"] is None for lp in carried)


def test_without_logprobs_asked_none_are_asked_or_streamed(
    client: openai.OpenAI, fresh: FakeUpstream
) -> None:
    fresh.reset(tokens=["4", "2"])
    chunks = list(client.chat.completions.create(model="agent", messages=QUESTION, stream=True))  # type: ignore[arg-type]
    assert "logprobs" not in fresh.bodies[-1]
    assert all(c.choices[0].logprobs is None for c in chunks if c.choices)


def test_tool_call_chunks_carry_no_logprobs(client: openai.OpenAI, fresh: FakeUpstream) -> None:
    chunks = list(
        client.chat.completions.create(
            model="agent",
            messages=QUESTION,  # type: ignore[arg-type]
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            stream=True,
            logprobs=True,
        )
    )
    with_calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert with_calls and all(c.choices[0].logprobs is None for c in with_calls)
    with_text = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert [c.choices[0].logprobs.content[0].token for c in with_text] == ["Let", " me", " check."]  # type: ignore[union-attr,index]


@pytest.mark.parametrize("model", ["shoal/vote", "shoal/agents"])
def test_a_strategy_refuses_streamed_logprobs_before_sending_anything(
    client: openai.OpenAI, fresh: FakeUpstream, model: str
) -> None:
    with pytest.raises(openai.BadRequestError, match="verdict over several generations") as raised:
        client.chat.completions.create(model=model, messages=QUESTION, stream=True, logprobs=True)  # type: ignore[arg-type]
    assert raised.value.status_code == 400 and raised.value.param == "logprobs"  # type: ignore[attr-defined]
    assert fresh.bodies == []
