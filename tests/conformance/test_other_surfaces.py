"""Embeddings, completions, logprobs and the model list through real clients, validated against
OpenAI's schemas; the sensitivity policy applies to embedding inputs."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conformance.openai import validate
from tests.proxy.servers import FakeUpstream, Served

TEXTS = ["The cat sat on the mat.", "Le chat est assis sur le tapis.", "Quarterly revenue grew by 4%."]


@pytest.fixture
def client(served: Served) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0, timeout=30) as client:
        yield client


# -- embeddings ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["embedder", "lite-embedder"])
def test_embeddings_pass_through(client: openai.OpenAI, fresh: FakeUpstream, model: str) -> None:
    done = client.embeddings.create(model=model, input=TEXTS)  # the SDK asks for base64 and decodes it
    assert [d.embedding for d in done.data] == [[float(len(t)), float(t.count(" ")), 1.0] for t in TEXTS]
    assert done.model == model and done.usage.prompt_tokens == sum(len(t.split()) for t in TEXTS)
    assert fresh.bodies[-1]["input"] == TEXTS and fresh.bodies[-1]["model"] == "embed-model"


def test_embeddings_match_the_openapi_schema(served: Served, fresh: FakeUpstream) -> None:
    body = {"model": "embedder", "input": "one text", "encoding_format": "float"}
    validate(
        "CreateEmbeddingResponse", httpx.post(served.base_url + "/embeddings", json=body, timeout=20).json()
    )
    # base64 (the openai SDK's default) sends the vector as a string, which the schema does not describe
    answer = httpx.post(
        served.base_url + "/embeddings", json={**body, "encoding_format": "base64"}, timeout=20
    )
    raw = base64.b64decode(answer.json()["data"][0]["embedding"])
    assert list(struct.unpack("<3f", raw)) == [8.0, 1.0, 1.0]


def test_local_embeddings_on_e5(client: openai.OpenAI) -> None:
    done = client.embeddings.create(model="e5", input=TEXTS, encoding_format="float")
    vectors = [d.embedding for d in done.data]
    assert all(len(v) == 384 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    # multilingual: the French sentence is nearer its English twin than an unrelated one
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    short = client.embeddings.create(model="e5", input="a", dimensions=64, encoding_format="float")
    assert len(short.data[0].embedding) == 64


def test_the_policy_sees_embedding_inputs(served: Served, fresh: FakeUpstream) -> None:
    body = {"model": "embedder", "input": ["internal numbers"]}
    headers = {"x-shoal-sensitivity": "confidential"}
    refused = httpx.post(served.base_url + "/embeddings", json=body, headers=headers, timeout=20)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "policy_denied"
    validate("ErrorResponse", refused.json())
    assert fresh.bodies == []  # nothing was sent
    allowed = httpx.post(
        served.base_url + "/embeddings", json={**body, "model": "e5"}, headers=headers, timeout=30
    )
    assert allowed.status_code == 200


def test_embeddings_need_a_member_that_embeds(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="strategy"):
        client.embeddings.create(model="shoal/vote", input="x")


# -- completions -----------------------------------------------------------------------


def test_completions_on_a_strategy_and_a_member(client: openai.OpenAI, fresh: FakeUpstream) -> None:
    voted = client.completions.create(model="shoal/vote", prompt="What is six times seven?")
    assert voted.object == "text_completion" and voted.choices[0].text == "42"
    assert voted.model_extra and voted.model_extra["shoal"]["confidence"] == pytest.approx(2 / 3)
    fresh.reset(tokens=[" forty", " two"])
    member = client.completions.create(model="agent", prompt="Six times seven is", max_tokens=5, stop=["."])
    assert member.choices[0].text == " forty two"
    sent = fresh.bodies[-1]
    assert sent["messages"] == [{"role": "user", "content": "Six times seven is"}]
    assert (sent["max_tokens"], sent["stop"]) == (5, ["."])


def test_completions_stream(client: openai.OpenAI, fresh: FakeUpstream) -> None:
    fresh.reset(tokens=[" forty", " two"])
    chunks = list(client.completions.create(model="agent", prompt="Six times seven is", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " forty two"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_completions_match_the_openapi_schema(served: Served, fresh: FakeUpstream) -> None:
    body = {"model": "shoal/vote", "prompt": "What is six times seven?"}
    validate(
        "CreateCompletionResponse", httpx.post(served.base_url + "/completions", json=body, timeout=20).json()
    )
    fresh.reset(tokens=[" forty", " two"])
    streamed = httpx.post(
        served.base_url + "/completions",
        json={
            "model": "agent",
            "prompt": "6 x 7 =",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        timeout=20,
    )
    # the spec has no chunk schema: chunks are the response object with finish_reason null until the last
    events = [json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    for event in events:
        if event["choices"] and event["choices"][0]["finish_reason"] is None:
            event = {**event, "choices": [{**event["choices"][0], "finish_reason": "stop"}]}
        validate("CreateCompletionResponse", event)
    assert len(events) >= 3 and streamed.text.rstrip().endswith("data: [DONE]")


def test_llm_completion_model(
    served: Served, fresh: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm

    fresh.reset(tokens=[" forty", " two"])
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: shoal-completion\n  model_name: agent\n  api_base: {served.base_url}\n"
        "  completion: true\n",
        encoding="utf-8",
    )
    response = llm.get_model("shoal-completion").prompt("Six times seven is", key="unused")
    assert response.text() == " forty two"


# -- logprobs, models ------------------------------------------------------------------


def test_logprobs_pass_through_for_a_member(
    client: openai.OpenAI, fresh: FakeUpstream, served: Served
) -> None:
    fresh.reset(tokens=["4", "2"])
    done = client.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "6 x 7?"}], logprobs=True, top_logprobs=2
    )
    assert done.choices[0].logprobs is not None
    assert [t.token for t in done.choices[0].logprobs.content or []] == ["4", "2"]
    assert (fresh.bodies[-1]["logprobs"], fresh.bodies[-1]["top_logprobs"]) == (True, 2)
    body = {"model": "agent", "messages": [{"role": "user", "content": "6 x 7?"}], "logprobs": True}
    validate(
        "CreateChatCompletionResponse", httpx.post(served.base_url + "/chat/completions", json=body).json()
    )
    with pytest.raises(openai.BadRequestError, match="verdict over several generations"):
        client.chat.completions.create(
            model="shoal/vote", messages=[{"role": "user", "content": "6 x 7?"}], logprobs=True
        )


def test_models_with_and_without_the_v1_prefix(served: Served) -> None:
    for root in (served.base_url, served.root):
        listed = httpx.get(root + "/models", timeout=10).json()
        validate("ListModelsResponse", listed)
        one = httpx.get(root + "/models/shoal/agents", timeout=10)
        assert one.status_code == 200
        validate("Model", one.json())
    missing = httpx.get(served.root + "/models/nope", timeout=10)
    assert missing.status_code == 404
    validate("ErrorResponse", missing.json())


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/responses", {"model": "agent", "input": "internal numbers"}),
        ("/messages", {"model": "agent", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
        ("/completions", {"model": "agent", "prompt": "internal numbers"}),
    ],
)
def test_the_policy_applies_on_every_surface(
    served: Served, fresh: FakeUpstream, path: str, body: dict
) -> None:  # type: ignore[type-arg]
    headers = {"x-shoal-sensitivity": "confidential"}  # the cloud member may not see it
    refused = httpx.post(served.base_url + path, json=body, headers=headers, timeout=20)
    assert refused.status_code == 403, refused.text
    assert fresh.bodies == []  # nothing was sent
