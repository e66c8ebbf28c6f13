"""The official ``openai`` client, sync and async, against a real ``shoal serve`` of scripted members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from tests.proxy.servers import Served

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=20) as client:
        yield client


@pytest.fixture
async def aclient(served: Served) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=served.base_url, api_key="unused", max_retries=0, timeout=20
    ) as client:
        yield client


def test_auto_answers_with_the_vote_and_shoal_metadata(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="shoal/auto", messages=QUESTION)
    done = raw.parse()
    assert done.object == "chat.completion" and done.model == "shoal/auto"
    assert done.id.startswith("chatcmpl-")
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == "42"
    assert done.choices[0].finish_reason == "stop"
    meta = done.model_extra["shoal"]
    assert meta["strategy"] == "vote" and meta["abstained"] is False
    assert meta["confidence"] == pytest.approx(2 / 3)
    assert meta["route"]["strategy"] == "vote" and meta["route"]["team"] == "panel"
    assert sorted(c["member"] for c in meta["candidates"]) == ["alice", "bob", "carol"]
    assert {c["member"]: c["answer"] for c in meta["candidates"]}["carol"] == "41"
    assert all(c["error"] is None and c["latency_s"] >= 0 for c in meta["candidates"])
    # usage is the sum over the three member calls
    per_call = [c["usage"]["total_tokens"] for c in meta["candidates"]]
    assert done.usage.total_tokens == sum(per_call) > 0
    assert float(raw.headers["x-shoal-confidence"]) == pytest.approx(2 / 3, abs=1e-3)


def test_auto_streams_chunks_ending_with_metadata(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="shoal/auto", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.object == "chat.completion.chunk" and c.model == "shoal/auto" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "42"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens > 0
    assert last.model_extra["shoal"]["confidence"] == pytest.approx(2 / 3)


def test_without_include_usage_the_finish_chunk_carries_the_metadata(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="shoal/vote", messages=QUESTION, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is None
    assert chunks[-1].model_extra["shoal"]["strategy"] == "vote"


async def test_async_client_member_pass_through(aclient: openai.AsyncOpenAI) -> None:
    done = await aclient.chat.completions.create(model="talker", messages=QUESTION)
    assert done.choices[0].message.content == "The answer is forty two"
    meta = done.model_extra["shoal"]
    assert meta["strategy"] == "single" and meta["route"]["category"] == "direct"
    assert [c["member"] for c in meta["candidates"]] == ["talker"]


async def test_async_client_streams_a_member_token_by_token(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="talker", messages=QUESTION, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert pieces == ["The", " answer", " is", " forty", " two"]


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "shoal/auto"
    assert {"shoal/vote", "shoal/down", "alice", "talker", "relay"} <= set(ids)
    assert client.models.retrieve("shoal/auto").owned_by == "shoal"
    assert client.models.retrieve("alice").id == "alice"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("shoal/nope")


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-17", messages=QUESTION)
    assert caught.value.code == "model_not_found"
    assert "shoal/auto" in caught.value.message  # names what is offered


def test_tools_on_a_strategy_that_writes_its_answer_are_a_clear_400(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="shoal/fused", messages=QUESTION, tools=tools)  # type: ignore[arg-type]
    assert caught.value.param == "tools"
    assert "fusion" in caught.value.message and "member" in caught.value.message
    # a vote agrees on tool calls, so it takes them (these members answer in text)
    done = client.chat.completions.create(model="shoal/vote", messages=QUESTION, tools=tools)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "42" and done.choices[0].finish_reason == "stop"


def test_n_is_one_verdict_for_ensembles_and_n_samples_for_a_member(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="shoal/vote", messages=QUESTION, n=2)
    assert caught.value.param == "n"
    done = client.chat.completions.create(model="alice", messages=QUESTION, n=3)
    assert [c.index for c in done.choices] == [0, 1, 2]
    assert [c.message.content for c in done.choices] == ["42", "42", "42"]
    assert len(done.model_extra["shoal"]["candidates"]) == 3


def test_quorum_failure_is_502_with_the_members_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="shoal/down", messages=QUESTION)
    assert caught.value.status_code == 502
    assert caught.value.code == "quorum_not_met"
    assert "broken" in caught.value.message and "jammed" in caught.value.message
    assert "server_error" in caught.value.message and "rate_limit" in caught.value.message


def test_a_failing_stream_still_gets_its_status(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="shoal/down", messages=QUESTION, stream=True)
    assert caught.value.status_code == 502


def test_a_rate_limited_member_asked_directly_is_429_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="jammed", messages=QUESTION)
    assert caught.value.response.headers["retry-after"] == "7"


def test_a_request_cannot_point_a_member_elsewhere(client: openai.OpenAI) -> None:
    for key, value in (("api_base", "http://127.0.0.2:9/v1"), ("api_key", "sk-x"), ("provider", "litellm")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="alice", messages=QUESTION, extra_body={key: value})
        assert caught.value.param == key


def test_shoal_tags_ride_in_the_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:  # a budget is a 429 naming it
        client.chat.completions.create(
            model="shoal/vote", messages=QUESTION, extra_body={"shoal": {"max_calls": 1}}
        )
    assert caught.value.code == "budget_exceeded" and caught.value.param == "max_calls"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="shoal/vote", messages=QUESTION, extra_body={"shoal": {"colour": "red"}}
        )
    assert caught.value.param == "shoal.colour"


def test_empty_question_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="shoal/auto", messages=[{"role": "user", "content": "  "}])
    assert caught.value.param == "messages"
