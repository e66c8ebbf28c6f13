"""LiteLLMProvider against respx fakes of an OpenAI-compatible upstream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from orchestrator.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    ServerError,
)
from orchestrator.protocols import Provider, ProviderContext, StreamDelta
from orchestrator.types import Call, Member
from providers.litellm import LiteLLMProvider, _litellm, error_from_litellm

BASE = "http://upstream.test/v1"
REPO = Path(__file__).resolve().parents[2]

# litellm lazily imports modules whose pydantic TypeAdapters warn about ReadOnly TypedDict items;
# whether that lands inside a test depends on litellm's background warm-up, so ignore it here.
pytestmark = pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning")


def make_member(**overrides: Any) -> Member:
    fields: dict[str, Any] = {
        "name": "m1",
        "provider": "litellm",
        "model": "openai/some-model",
        "api_base": BASE,
        "api_key_env": "SHOAL_TEST_UPSTREAM_KEY",
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
    }
    return Member(**(fields | overrides))


def ask(question: str = "What is 2+2?", **params: Any) -> Call:
    return Call(messages=[{"role": "user", "content": question}], params=params)


def chat_body(content: str | None = "4") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "some-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "some-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


@pytest.fixture(autouse=True)
def litellm_over_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route litellm through httpx (its aiohttp transport would bypass respx) and give it a key."""
    monkeypatch.setattr(_litellm(), "disable_aiohttp_transport", True)
    monkeypatch.setenv("SHOAL_TEST_UPSTREAM_KEY", "sk-test")


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ProviderContext]:
    ctx = ProviderContext(cache_dir=tmp_path)
    async with ctx.exit_stack:
        yield ctx


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    return [delta async for delta in stream]


def test_import_does_not_load_litellm() -> None:
    code = "import orchestrator, providers.litellm, sys; assert 'litellm' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lazy_import_sets_local_cost_map() -> None:
    _litellm()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"].lower() == "true"


async def test_complete_returns_text_usage_and_cost(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    route = upstream.post("/chat/completions").respond(json=chat_body("4"))
    provider = LiteLLMProvider(make_member(), context)
    assert isinstance(provider, Provider)

    completion = await provider.complete(ask(temperature=0.2, seed=None))

    assert completion.text == "4"
    assert completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)
    assert completion.usage.total_tokens == 15
    assert completion.cost_usd == pytest.approx(10 * 1e-6 + 5 * 2e-6)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    sent = json.loads(request.content)
    assert sent["model"] == "some-model"
    assert sent["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert sent["temperature"] == 0.2
    assert "seed" not in sent


async def test_cost_falls_back_to_litellm_cost_map(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    upstream.post("/chat/completions").respond(json=chat_body() | {"model": "gpt-4o-mini"})
    member = make_member(model="openai/gpt-4o-mini", input_cost_per_token=None, output_cost_per_token=None)
    completion = await LiteLLMProvider(member, context).complete(ask())
    assert completion.cost_usd is not None and completion.cost_usd > 0


async def test_cost_is_none_for_a_model_without_prices(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    upstream.post("/chat/completions").respond(json=chat_body(None))
    member = make_member(input_cost_per_token=None, output_cost_per_token=None)
    completion = await LiteLLMProvider(member, context).complete(ask())
    assert completion.text == ""
    assert completion.cost_usd is None


async def test_tool_calls_come_back_as_dicts(upstream: respx.MockRouter, context: ProviderContext) -> None:
    tool_call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
    body = chat_body(None)
    body["choices"][0]["message"]["tool_calls"] = [tool_call]
    body["choices"][0]["finish_reason"] = "tool_calls"
    upstream.post("/chat/completions").respond(json=body)
    completion = await LiteLLMProvider(make_member(), context).complete(ask())
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls is not None
    (got,) = completion.tool_calls
    assert (got["id"], got["function"]) == ("c1", tool_call["function"])


async def test_stream_yields_chunks_in_order_then_the_whole_completion(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    events = [
        chunk("The "),
        chunk("answer "),
        chunk("is 4"),
        chunk(finish="stop"),
        chunk() | {"usage": usage},
    ]
    route = upstream.post("/chat/completions").respond(
        text=sse(*events), headers={"content-type": "text/event-stream"}
    )

    deltas = await collect(LiteLLMProvider(make_member(), context).stream(ask()))

    assert [d.text for d in deltas[:-1]] == ["The ", "answer ", "is 4"]
    final = deltas[-1]
    assert final.finish_reason == "stop"
    assert final.completion is not None
    assert final.completion.text == "The answer is 4"
    assert final.completion.usage.total_tokens == 10
    assert final.completion.cost_usd == pytest.approx(7 * 1e-6 + 3 * 2e-6)
    sent = json.loads(route.calls.last.request.content)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retryable"),
    [
        (429, {"Retry-After": "7"}, RateLimited, True),
        (500, {}, ServerError, True),
        (502, {}, ServerError, True),
        (503, {}, ServerError, True),
        (401, {}, AuthenticationError, False),
        (403, {}, AuthenticationError, False),
        (400, {}, BadRequestError, False),
        (404, {}, BadRequestError, False),
        (409, {}, ServerError, True),
    ],
)
async def test_http_status_maps_to_error_tree(
    upstream: respx.MockRouter,
    context: ProviderContext,
    status: int,
    headers: dict[str, str],
    expected: type[ProviderError],
    retryable: bool,
) -> None:
    body = {"error": {"message": f"upstream says no ({status})", "type": "invalid_request_error"}}
    route = upstream.post("/chat/completions").respond(status, json=body, headers=headers)

    with pytest.raises(expected) as caught:
        await LiteLLMProvider(make_member(), context).complete(ask())

    error = caught.value
    assert type(error) is expected
    assert error.retryable is retryable
    assert (error.provider, error.model, error.status) == ("litellm", "openai/some-model", status)
    # the status passes on; the upstream's own text (it may echo keys or prompts) does not
    assert f"HTTP {status}" in str(error) and "upstream says" not in str(error)
    assert error.__cause__ is not None
    assert route.call_count == 1  # retries are the engine's job, not litellm's or the SDK's
    if status == 429:
        assert error.retry_after == 7


async def test_error_status_while_streaming(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").respond(429, json={"error": {"message": "slow down"}})
    with pytest.raises(RateLimited, match="HTTP 429: rate limited by the upstream"):
        await collect(LiteLLMProvider(make_member(), context).stream(ask()))


async def test_timeout_maps_to_provider_timeout(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout) as caught:
        await LiteLLMProvider(make_member(), context).complete(ask())
    assert caught.value.retryable and caught.value.status is None


async def test_connection_refused_maps_to_provider_connection_error(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    upstream.post("/chat/completions").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(ProviderConnectionError) as caught:
        await LiteLLMProvider(make_member(), context).complete(ask())
    assert caught.value.retryable and caught.value.status is None


def test_missing_key_env_names_the_variable(
    context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="SHOAL_TEST_NO_SUCH_KEY"):
        LiteLLMProvider(make_member(api_key_env="SHOAL_TEST_NO_SUCH_KEY"), context)


def test_unknown_exceptions_become_provider_errors() -> None:
    cause = ValueError("odd")
    error = error_from_litellm(cause, model="x/y")
    assert type(error) is ProviderError
    assert not error.retryable
    assert "odd" not in str(error)  # an exception's text may carry what the upstream said
