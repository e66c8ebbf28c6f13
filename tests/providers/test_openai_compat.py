"""OpenAICompatProvider against respx fakes and a real loopback upstream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
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
from providers._http import parse_retry_after, retry_after_from_headers
from providers.openai_compat import OpenAICompatProvider, prompt_from_messages

BASE = "http://upstream.test/v1"


def make_member(**overrides: Any) -> Member:
    fields: dict[str, Any] = {
        "name": "m1",
        "provider": "openai_compat",
        "model": "some-model",
        "api_base": BASE,
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
    }
    return Member(**(fields | overrides))


def ask(question: str = "What is 2+2?", **params: Any) -> Call:
    return Call(messages=[{"role": "user", "content": question}], params=params)


def chat_body(content: str | None = "4", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "some-model-2025",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **extra},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def sse(*events: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    } | extra


USAGE_CHUNK = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ProviderContext]:
    ctx = ProviderContext(cache_dir=tmp_path)
    async with ctx.exit_stack:
        yield ctx


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, using="httpx") as router:
        yield router


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    return [delta async for delta in stream]


# --- completions ---------------------------------------------------------------------------------


async def test_complete_returns_text_usage_and_cost(
    upstream: respx.MockRouter, context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "sk-test")
    route = upstream.post("/chat/completions").respond(json=chat_body("4"))
    provider = OpenAICompatProvider(make_member(api_key_env="UPSTREAM_KEY"), context)
    assert isinstance(provider, Provider)

    completion = await provider.complete(ask(temperature=0.2, seed=None))

    assert completion.text == "4"
    assert completion.model == "some-model-2025"
    assert completion.finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)
    assert completion.usage.total_tokens == 15
    assert completion.cost_usd == pytest.approx(10 * 1e-6 + 5 * 2e-6)
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {
        "model": "some-model",
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "temperature": 0.2,
    }


async def test_null_content_is_empty_text_and_tool_calls_are_kept(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    tool_calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}]
    upstream.post("/chat/completions").respond(json=chat_body(None, tool_calls=tool_calls))
    member = make_member(input_cost_per_token=None, output_cost_per_token=None)
    completion = await OpenAICompatProvider(member, context).complete(ask())
    assert completion.text == ""
    assert completion.tool_calls == tool_calls
    assert completion.cost_usd is None


async def test_no_key_env_sends_no_authorization(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    route = upstream.post("/chat/completions").respond(json=chat_body())
    await OpenAICompatProvider(make_member(), context).complete(ask())
    assert "authorization" not in route.calls.last.request.headers


async def test_stream_yields_chunks_in_order_then_the_whole_completion(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    body = sse(chunk("The "), chunk("answer "), chunk("is 4"), chunk(finish="stop"), USAGE_CHUNK)
    route = upstream.post("/chat/completions").respond(
        text=body, headers={"content-type": "text/event-stream"}
    )

    deltas = await collect(OpenAICompatProvider(make_member(), context).stream(ask()))

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


async def test_stream_assembles_tool_calls(upstream: respx.MockRouter, context: ProviderContext) -> None:
    pieces = [
        {"index": 0, "id": "c1", "type": "function", "function": {"name": "add", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"a":'}},
        {"index": 0, "function": {"arguments": " 2}"}},
    ]
    events = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [p]}, "finish_reason": None}]} for p in pieces
    ]
    upstream.post("/chat/completions").respond(text=sse(*events, chunk(finish="tool_calls")))
    deltas = await collect(OpenAICompatProvider(make_member(), context).stream(ask()))
    final = deltas[-1].completion
    assert final is not None and final.finish_reason == "tool_calls"
    assert final.tool_calls == [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}
    ]


# --- completion prompt style ---------------------------------------------------------------------


async def test_completion_style_posts_a_templated_prompt(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    route = upstream.post("/completions").respond(
        json={"choices": [{"index": 0, "text": " 4", "finish_reason": "stop"}], "usage": {"prompt_tokens": 9}}
    )
    member = make_member(
        options={"prompt_style": "completion", "prompt_template": "{system}\nQ: {question}\nA:"}
    )
    call = Call(
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}],
        params={"max_tokens": 8},
    )

    completion = await OpenAICompatProvider(member, context).complete(call)

    assert completion.text == " 4"
    assert completion.usage.prompt_tokens == 9
    assert completion.usage.total_tokens == 9
    assert json.loads(route.calls.last.request.content) == {
        "model": "some-model",
        "prompt": "Be terse.\nQ: 2+2?\nA:",
        "max_tokens": 8,
    }


async def test_completion_style_streams(upstream: respx.MockRouter, context: ProviderContext) -> None:
    events = [{"choices": [{"index": 0, "text": t, "finish_reason": None}]} for t in (" 4", ".")]
    events.append({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]})
    route = upstream.post("/completions").respond(text=sse(*events, USAGE_CHUNK))
    member = make_member(options={"prompt_style": "completion"})

    deltas = await collect(OpenAICompatProvider(member, context).stream(ask("2+2?")))

    assert [d.text for d in deltas[:-1]] == [" 4", "."]
    assert deltas[-1].finish_reason == "length"
    assert deltas[-1].completion is not None and deltas[-1].completion.text == " 4."
    assert json.loads(route.calls.last.request.content)["prompt"] == "2+2?"


def test_default_prompt_is_the_last_user_message() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert prompt_from_messages(messages, None) == "second"
    assert prompt_from_messages(messages, "Q: {question}") == "Q: second"


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retryable"),
    [
        (429, {"Retry-After": "7"}, RateLimited, True),
        (500, {}, ServerError, True),
        (502, {}, ServerError, True),
        (503, {}, ServerError, True),
        (408, {}, ServerError, True),
        (409, {}, ServerError, True),
        (401, {}, AuthenticationError, False),
        (403, {}, AuthenticationError, False),
        (400, {}, BadRequestError, False),
        (404, {}, BadRequestError, False),
        (422, {}, BadRequestError, False),
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
    upstream.post("/chat/completions").respond(status, json=body, headers=headers)

    with pytest.raises(expected) as caught:
        await OpenAICompatProvider(make_member(), context).complete(ask())

    error = caught.value
    assert type(error) is expected
    assert error.retryable is retryable
    assert (error.provider, error.model, error.status) == ("openai_compat", "some-model", status)
    # the status passes on; the upstream's own text (it may echo keys or prompts) does not
    assert f"HTTP {status}" in str(error) and "upstream says" not in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    if status == 429:
        assert error.retry_after == 7


async def test_rate_limit_with_http_date_retry_after(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    upstream.post("/chat/completions").respond(429, text="slow down", headers={"Retry-After": when})
    with pytest.raises(RateLimited) as caught:
        await OpenAICompatProvider(make_member(), context).complete(ask())
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 30
    assert "HTTP 429" in str(caught.value) and "slow down" not in str(caught.value)


async def test_error_status_while_streaming(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").respond(400, json={"error": {"message": "context too long"}})
    with pytest.raises(BadRequestError, match="HTTP 400: the upstream rejected the request"):
        await collect(OpenAICompatProvider(make_member(), context).stream(ask()))


async def test_error_event_in_stream(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").respond(
        text=sse(chunk("par"), {"error": {"message": "model crashed"}})
    )
    with pytest.raises(ServerError, match="error event in the stream"):
        await collect(OpenAICompatProvider(make_member(), context).stream(ask()))


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("full")]
)
async def test_timeout_maps_to_provider_timeout(
    upstream: respx.MockRouter, context: ProviderContext, exc: Exception
) -> None:
    upstream.post("/chat/completions").mock(side_effect=exc)
    with pytest.raises(ProviderTimeout) as caught:
        await OpenAICompatProvider(make_member(), context).complete(ask())
    assert caught.value.retryable
    assert caught.value.__cause__ is exc


async def test_timeout_while_streaming(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout):
        await collect(OpenAICompatProvider(make_member(), context).stream(ask()))


async def test_connection_error_maps_to_provider_connection_error(
    upstream: respx.MockRouter, context: ProviderContext
) -> None:
    upstream.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderConnectionError) as caught:
        await OpenAICompatProvider(make_member(), context).complete(ask())
    assert caught.value.retryable and caught.value.status is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_by_a_real_socket(context: ProviderContext) -> None:
    member = make_member(api_base=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ProviderConnectionError) as caught:
        await OpenAICompatProvider(member, context).complete(ask())
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_malformed_response(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").respond(text="<html>gateway</html>")
    with pytest.raises(ProviderError, match="malformed"):
        await OpenAICompatProvider(make_member(), context).complete(ask())


# --- configuration -------------------------------------------------------------------------------


def test_missing_api_base_names_the_member(context: ProviderContext) -> None:
    with pytest.raises(ConfigError, match=r"'lonely'.*api_base"):
        OpenAICompatProvider(make_member(name="lonely", api_base=None), context)


async def test_api_base_may_come_from_options(upstream: respx.MockRouter, context: ProviderContext) -> None:
    upstream.post("/chat/completions").respond(json=chat_body())
    member = make_member(api_base=None, options={"api_base": BASE + "/"})
    assert (await OpenAICompatProvider(member, context).complete(ask())).text == "4"


def test_api_base_without_scheme(context: ProviderContext) -> None:
    with pytest.raises(ConfigError, match="http://"):
        OpenAICompatProvider(make_member(api_base="localhost:8080/v1"), context)


def test_missing_key_env_names_the_variable(
    context: ProviderContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOAL_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="SHOAL_TEST_NO_SUCH_KEY"):
        OpenAICompatProvider(make_member(api_key_env="SHOAL_TEST_NO_SUCH_KEY"), context)


@pytest.mark.parametrize(
    "options", [{"prompt_style": "infill"}, {"prompt_style": "completion", "prompt_template": "{answer}"}]
)
def test_bad_prompt_options(context: ProviderContext, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        OpenAICompatProvider(make_member(options=options), context)


async def test_members_on_one_base_url_share_one_client(tmp_path: Path, upstream: respx.MockRouter) -> None:
    upstream.post("/chat/completions").respond(json=chat_body())
    context = ProviderContext(cache_dir=tmp_path)
    async with context.exit_stack:
        first = OpenAICompatProvider(make_member(name="a"), context)
        second = OpenAICompatProvider(make_member(name="b", model="other"), context)
        assert context.shared == {}  # nothing event-loop bound until the first call
        await first.complete(ask())
        await second.complete(ask())
        await first.aclose()
        (client,) = context.shared.values()
        assert isinstance(client, httpx.AsyncClient) and not client.is_closed
    assert client.is_closed


# --- Retry-After parsing -------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:20 GMT", now=now.timestamp()) == 20
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now.timestamp()) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert retry_after_from_headers({"Retry-After-Ms": "250", "Retry-After": "1"}) == 0.25
    assert retry_after_from_headers(httpx.Headers({"retry-after": "3"})) == 3


# --- a real upstream on loopback -----------------------------------------------------------------


class LoopbackUpstream:
    """A tiny OpenAI-compatible HTTP/1.1 server (keep-alive, chunked SSE) on 127.0.0.1."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()  # holds a stream after its first chunk
        self._handlers: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                path, body = await self._read_request(reader)
                self.requests.append((path, body))
                question = body["messages"][-1]["content"]
                if body.get("stream"):
                    await self._stream(writer, question)
                else:
                    self._json(writer, question)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its pooled connection
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, dict[str, Any]]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
        return path, json.loads(await reader.readexactly(int(headers["content-length"])))

    def _json(self, writer: asyncio.StreamWriter, question: str) -> None:
        payload = json.dumps(chat_body(f"echo: {question}")).encode()
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        writer.write(head.encode() + payload)

    async def _stream(self, writer: asyncio.StreamWriter, question: str) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        events = [chunk("echo: "), chunk(question), chunk(finish="stop"), USAGE_CHUNK]
        lines = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
        for i, line in enumerate(lines):
            writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            await writer.drain()
            if i == 0:
                await asyncio.wait_for(self.release.wait(), timeout=5)
        writer.write(b"0\r\n\r\n")

    async def wait_idle(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self._handlers), timeout=5)


async def test_real_loopback_upstream_pools_connections_and_streams(tmp_path: Path) -> None:
    upstream = LoopbackUpstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    context = ProviderContext(cache_dir=tmp_path)
    try:
        async with context.exit_stack:
            first = OpenAICompatProvider(make_member(name="a", api_base=base), context)
            second = OpenAICompatProvider(make_member(name="b", api_base=base), context)
            assert (await first.complete(ask("one"))).text == "echo: one"
            assert (await second.complete(ask("two"))).text == "echo: two"

            async with asyncio.timeout(5):
                deltas = second.stream(ask("three"))
                head = await anext(deltas)  # arrives while the server still holds the rest
                assert head.text == "echo: "
                upstream.release.set()
                rest = await collect(deltas)
            assert [d.text for d in rest[:-1]] == ["three"]
            final = rest[-1].completion
            assert final is not None and final.text == "echo: three" and final.usage.total_tokens == 10

            assert (await first.complete(ask("four"))).text == "echo: four"
        await upstream.wait_idle()
    finally:
        server.close()
        await server.wait_closed()

    assert [path for path, _ in upstream.requests] == ["/v1/chat/completions"] * 4
    assert upstream.connections == 1  # every call, streamed or not, reused one pooled connection


def test_a_question_ending_in_the_templates_answer_cue_does_not_get_it_twice() -> None:
    """A base model prompted "...Answer:\\nAnswer:" and stopped at a newline answers nothing."""
    from providers.local.catalog import lookup

    template = lookup("gemma3-270m").prompt.template
    assert template is not None
    mmlu_style = "Largest planet?\n\nA. Mars\nB. Jupiter\nAnswer:"
    prompt = prompt_from_messages([{"role": "user", "content": mmlu_style}], template)
    assert prompt.endswith("Question: Largest planet?\n\nA. Mars\nB. Jupiter\nAnswer:")
    assert "Answer:\nAnswer:" not in prompt
    plain = prompt_from_messages([{"role": "user", "content": "Largest planet?\n"}], template)
    assert plain.endswith("Question: Largest planet?\nAnswer:")
