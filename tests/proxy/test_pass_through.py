"""A member asked directly: parameters reach the upstream, tokens stream through live, errors pass on.

The member ``relay`` is an ``openai_compat`` member whose upstream is a fake
OpenAI-compatible server in this process, so the tests see exactly what the
proxy sent it.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator

import openai
import pytest

from tests.proxy.servers import FakeUpstream, Served

QUESTION = [{"role": "user", "content": "What is six times seven?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
        },
    }
]
CALL = {"id": "call_1", "type": "function", "function": {"name": "multiply", "arguments": '{"a": 6}'}}


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


def test_parameters_reach_the_member_and_nothing_else_does(
    client: openai.OpenAI, fresh_upstream: FakeUpstream
) -> None:
    done = client.chat.completions.create(
        model="relay",
        messages=QUESTION,
        temperature=0.7,
        max_completion_tokens=33,
        top_p=0.5,
        stop=["\n\n"],
        seed=11,
        response_format={"type": "json_object"},
        user="someone",
        extra_body={"frobnicate": True},
    )
    assert done.choices[0].message.content == "The answer is 42."
    assert done.usage.prompt_tokens == 7 and done.usage.completion_tokens == 4
    (sent,) = fresh_upstream.bodies
    assert sent["model"] == "upstream-model"  # the member's model, not the client's
    assert sent["messages"] == QUESTION
    assert sent["temperature"] == 0.7  # the client's value wins over the member's params
    assert sent["max_tokens"] == 33
    assert (sent["top_p"], sent["stop"], sent["seed"]) == (0.5, ["\n\n"], 11)
    assert sent["response_format"] == {"type": "json_object"}
    assert "frobnicate" not in sent and "user" not in sent


def test_member_params_apply_when_the_client_sets_none(
    client: openai.OpenAI, fresh_upstream: FakeUpstream
) -> None:
    client.chat.completions.create(model="relay", messages=QUESTION)
    assert fresh_upstream.bodies[0]["temperature"] == 0.3


def test_tool_calls_come_back(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(tool_calls=[CALL], tokens=[])
    done = client.chat.completions.create(model="relay", messages=QUESTION, tools=TOOLS, tool_choice="auto")  # type: ignore[arg-type]
    assert fresh_upstream.bodies[0]["tools"] == TOOLS
    assert fresh_upstream.bodies[0]["tool_choice"] == "auto"
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "multiply"
    assert choice.message.tool_calls[0].function.arguments == '{"a": 6}'


def test_tool_calls_come_back_streamed(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(tool_calls=[CALL], tokens=[])
    chunks = list(client.chat.completions.create(model="relay", messages=QUESTION, tools=TOOLS, stream=True))  # type: ignore[arg-type]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    # piece by piece, as the member sent them: id and name first, then the arguments
    assert (calls[0].index, calls[0].id, calls[0].function.name) == (0, "call_1", "multiply")
    assert len(calls) > 2 and all(tc.id is None and tc.function.name is None for tc in calls[1:])
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"a": 6}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]


def test_tokens_stream_through_as_they_come(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    """The upstream sends a token every 0.3 s: each must reach the client before the next is made."""
    fresh_upstream.reset(tokens=["one", " two", " three", " four"], gap_s=0.3)
    started = time.perf_counter()
    arrivals: list[tuple[float, str]] = []
    for chunk in client.chat.completions.create(model="relay", messages=QUESTION, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.perf_counter() - started, chunk.choices[0].delta.content))
    assert [text for _, text in arrivals] == ["one", " two", " three", " four"]
    total = time.perf_counter() - started
    assert total >= 1.2
    # No buffering: the first token arrives long before the last one was generated,
    # and the arrivals are spread out like the upstream's gaps.
    assert arrivals[0][0] < total - 0.6
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert all(gap > 0.15 for gap in gaps), gaps


def test_an_upstream_400_is_a_400(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(status=400)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="relay", messages=QUESTION)
    # the status and a fixed phrase pass on; the upstream's own text (which may echo keys,
    # prompts or addresses) does not
    assert "HTTP 400: the upstream rejected the request" in caught.value.message
    assert "upstream says" not in caught.value.message


def test_an_upstream_429_is_a_429_with_its_retry_after(
    client: openai.OpenAI, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(status=429, error_headers={"Retry-After": "3"})
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="relay", messages=QUESTION, stream=True)
    assert caught.value.response.headers["retry-after"] == "3"


def test_an_upstream_outage_is_a_502(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="relay", messages=QUESTION)
    assert caught.value.status_code == 502
    assert "relay" in caught.value.message


async def test_member_calls_print_nothing_to_stdout(
    fresh_upstream: FakeUpstream, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's stdout may be a pipe no one reads: a provider that prints there would block it."""
    from orchestrator.config import parse_config
    from orchestrator.engine import Orchestrator

    monkeypatch.setattr(logging.getLogger("shoal"), "level", logging.DEBUG)
    config = parse_config(
        f'[members.relay]\nprovider = "openai_compat"\nmodel = "m"\napi_base = "{fresh_upstream.base_url}"\n',
        source="stdout.toml",
    )
    async with Orchestrator(config) as orch:
        await orch.run("What is six times seven?", member="relay")
        await orch.run("What is six times seven?", member="relay", on_delta=lambda d: None)
    assert capfd.readouterr().out == ""


def test_a_vote_agrees_on_tool_calls(client: openai.OpenAI, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(tool_calls=[CALL], tokens=[])
    done = client.chat.completions.create(model="shoal/relays", messages=QUESTION, tools=TOOLS)  # type: ignore[arg-type]
    assert [b["tools"] for b in fresh_upstream.bodies] == [TOOLS, TOOLS]  # both members were offered them
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls] == [
        ("call_1", "multiply", '{"a": 6}')
    ]
    assert done.model_extra["shoal"]["confidence"] == 1.0
