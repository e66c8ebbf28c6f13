"""What ``openai_compat`` writes and reads on a plain ``http://`` server, where it skips httpx's models.

A real server on loopback answers with whatever bytes each test gives it and records the
bytes it received, so the request is checked byte for byte against what httpx would have
sent, and the reading against replies httpx handles itself (compressed bodies, error
statuses, odd line ends, bad framing).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.errors import BadRequestError, ProviderError, ProviderTimeout, RateLimited, TruncatedStream
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Member
from providers._transport import _Deadline, _serialize, sse_lines
from providers.openai_compat import OpenAICompatProvider

Reply = Callable[[bytes], bytes | list[bytes | float]]  # request bytes -> reply parts (a float: a pause)


class WireServer:
    """An HTTP/1.1 server on 127.0.0.1 that records each request's bytes and answers with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.received: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                raw = head + await reader.readexactly(length)
                self.received.append(raw)
                parts = self.reply(raw)
                for part in parts if isinstance(parts, list) else [parts]:
                    if isinstance(part, float):
                        await asyncio.sleep(part)
                        continue
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[[Reply], Any]]:
    servers: list[asyncio.Server] = []
    context = ProviderContext(cache_dir=tmp_path)

    async def start(reply: Reply, **member: Any) -> tuple[OpenAICompatProvider, WireServer]:
        wire = WireServer(reply)
        server = await asyncio.start_server(wire.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        fields = {"name": "m", "provider": "openai_compat", "model": "wire-model"}
        provider = OpenAICompatProvider(
            Member(**fields, api_base=f"http://127.0.0.1:{port}/v1", **member), context
        )
        return provider, wire

    async with context.exit_stack:
        yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def ask(question: str = "What is 2+2?", **params: Any) -> Call:
    return Call(messages=[{"role": "user", "content": question}], params=params)


def body_of(content: str) -> bytes:
    return json.dumps(
        {
            "model": "wire-model",
            "choices": [{"index": 0, "message": {"content": content}, "finish_reason": "stop"}],
        }
    ).encode()


def ok(payload: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "content-type: application/json", f"content-length: {len(payload)}", *headers]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + payload


def event(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    return (
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).encode()
    )


def chunked(*parts: bytes | float) -> list[bytes | float]:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    return [
        head,
        *(p if isinstance(p, float) else b"%x\r\n%s\r\n" % (len(p), p) for p in parts),
        b"0\r\n\r\n",
    ]


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    return [delta async for delta in stream]


async def test_the_bytes_written_are_those_httpx_would_send(
    serve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIRE_KEY", "sk-wire")
    provider, wire = await serve(lambda raw: ok(body_of("4")), api_key_env="WIRE_KEY")
    call = ask('Ünïcode ✓ and a quote "', temperature=0.5)
    assert (await provider.complete(call)).text == "4"

    client = provider._client()
    route = provider._wired[2]["/chat/completions"]  # type: ignore[index]
    assert route.head is not None  # the request went out without an httpx.Request
    headers = httpx.Headers(client.headers)
    headers["Content-Type"] = "application/json"
    headers["Authorization"] = "Bearer sk-wire"
    content = json.dumps(
        {"temperature": 0.5, "model": "wire-model", "messages": call.messages},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    expected = _serialize(httpx.Request("POST", route.url, headers=headers, content=content), content)
    assert wire.received == [expected]


async def test_a_compressed_body_is_decoded(serve: Callable[..., Any]) -> None:
    provider, _ = await serve(lambda raw: ok(gzip.compress(body_of("four")), "content-encoding: gzip"))
    assert (await provider.complete(ask())).text == "four"


async def test_a_compressed_stream_is_decoded(serve: Callable[..., Any]) -> None:
    events = gzip.compress(event("fo") + b"\n\n" + event("ur", "stop") + b"\n\ndata: [DONE]\n\n")
    head, *rest = chunked(events[:10], events[10:])
    provider, _ = await serve(
        lambda raw: [head.replace(b"\r\n\r\n", b"\r\ncontent-encoding: gzip\r\n\r\n"), *rest]
    )
    deltas = await collect(provider.stream(ask()))
    assert [d.text for d in deltas[:-1]] == ["fo", "ur"]
    assert deltas[-1].completion is not None and deltas[-1].completion.text == "four"


async def test_an_error_status_maps_as_before_even_compressed(serve: Callable[..., Any]) -> None:
    error = gzip.compress(b'{"error": {"message": "slow down", "code": "rate_limit"}}')
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\ncontent-encoding: gzip\r\nretry-after: 7\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(error), error)
    )
    provider, _ = await serve(lambda raw: reply)
    with pytest.raises(RateLimited) as caught:
        await provider.complete(ask())
    assert caught.value.retry_after == 7 and caught.value.status == 429
    with pytest.raises(RateLimited):
        await collect(provider.stream(ask()))


async def test_a_redirect_is_an_error_as_httpx_raises_it(serve: Callable[..., Any]) -> None:
    provider, _ = await serve(
        lambda raw: b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n"
    )
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask())
    assert caught.value.status == 302


async def test_a_client_error_status_is_a_bad_request(serve: Callable[..., Any]) -> None:
    error = b'{"error": {"message": "x"}}'
    provider, _ = await serve(
        lambda raw: b"HTTP/1.1 400 Bad Request\r\ncontent-length: %d\r\n\r\n%s" % (len(error), error)
    )
    with pytest.raises(BadRequestError):
        await provider.complete(ask())


@pytest.mark.parametrize("ends", [b"\n\n", b"\r\n\r\n", b"\r\r"], ids=["LF", "CRLF", "CR"])
async def test_every_line_end_of_server_sent_events_is_read(serve: Callable[..., Any], ends: bytes) -> None:
    body = event("a") + ends + event("b", "stop") + ends + b"data: [DONE]" + ends
    # cut the events at every third byte, so a CR LF falls across parts somewhere
    parts = [body[i : i + 3] for i in range(0, len(body), 3)]
    provider, _ = await serve(lambda raw: chunked(*parts))
    deltas = await collect(provider.stream(ask()))
    assert [d.text for d in deltas[:-1]] == ["a", "b"]
    assert deltas[-1].completion is not None and deltas[-1].completion.text == "ab"


TRICKY = "line\u2028separator\x0cform feed\x1crecord \u0085next"


async def test_separators_inside_an_events_json_stay_in_it(serve: Callable[..., Any]) -> None:
    """U+2028, form feed and friends are line breaks to ``str.splitlines`` but not to SSE."""
    payload = json.dumps({"choices": [{"index": 0, "delta": {"content": TRICKY}, "finish_reason": "stop"}]})
    escaped = b"data: " + payload.encode() + b"\n\ndata: [DONE]\n\n"  # json.dumps escapes them
    literal = (
        "data: " + json.dumps(json.loads(payload), ensure_ascii=False) + "\n\ndata: [DONE]\n\n"
    ).encode()
    for stream_body in (escaped, literal):
        provider, _ = await serve(lambda raw, b=stream_body: chunked(b))
        deltas = await collect(provider.stream(ask()))
        assert deltas[-1].completion is not None and deltas[-1].completion.text == TRICKY


async def test_separators_inside_an_events_json_stay_in_it_through_httpx(tmp_path: Path) -> None:
    literal = (
        "data: "
        + json.dumps(
            {"choices": [{"index": 0, "delta": {"content": TRICKY}, "finish_reason": "stop"}]},
            ensure_ascii=False,
        )
        + "\n\ndata: [DONE]\n\n"
    ).encode()
    context = ProviderContext(cache_dir=tmp_path)
    base = "http://upstream.test/v1"
    with respx.mock(base_url=base, using="httpx") as router:
        router.post("/chat/completions").respond(
            200, content=literal, headers={"content-type": "text/event-stream"}
        )
        async with context.exit_stack:
            provider = OpenAICompatProvider(
                Member(name="m", provider="openai_compat", model="x", api_base=base), context
            )
            deltas = await collect(provider.stream(ask()))
    assert deltas[-1].completion is not None and deltas[-1].completion.text == TRICKY


@pytest.mark.parametrize("length", [b"1_0", b"+10", b"ten", b"-1"])
async def test_a_malformed_content_length_is_a_protocol_error_and_the_connection_is_dropped(
    serve: Callable[..., Any], length: bytes
) -> None:
    answers = iter([b"HTTP/1.1 200 OK\r\ncontent-length: %s\r\n\r\n0123456789" % length, ok(body_of("fine"))])
    provider, wire = await serve(lambda raw: next(answers))
    with pytest.raises(TruncatedStream):
        await provider.complete(ask())
    assert (await provider.complete(ask())).text == "fine"
    assert wire.connections == 2


async def test_a_body_that_arrives_after_its_head_is_read_whole(serve: Callable[..., Any]) -> None:
    payload = body_of("late " * 2000)
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(payload)
    provider, wire = await serve(lambda raw: [head, payload[:100], payload[100:]])
    assert (await provider.complete(ask())).text == "late " * 2000
    assert (await provider.complete(ask())).text == "late " * 2000
    assert wire.connections == 1  # read to its end, the connection went back to the pool


def _reference_lines(data: bytes) -> list[str]:
    pieces = re.split(rb"\r\n|\r|\n", data)
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return [p.decode("utf-8", "replace") for p in pieces]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"data: x", b"\r", b"\n", b"\r\n", "é".encode(), b"\xe2\x80\xa8"]), max_size=30
    ),
    st.lists(st.integers(min_value=1, max_value=7), max_size=30),
)
def test_lines_are_the_same_however_the_bytes_are_cut(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    parts, at = [], 0
    for size in cuts:
        parts.append(data[at : at + size])
        at += size
    parts.append(data[at:])

    async def lines() -> list[str]:
        async def source() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        return [line async for line in sse_lines(source())]

    got = asyncio.run(lines())
    assert got == _reference_lines(data)


# --- the read timeout: each wait for the server may last timeout_s, however long the whole ----------

STREAM = [event("a"), b"\n\n", event("b", "stop"), b"\n\n", b"data: [DONE]\n\n"]


async def test_a_server_that_never_answers_times_out(serve: Callable[..., Any]) -> None:
    provider, _ = await serve(lambda raw: [5.0], timeout_s=0.2)
    started = asyncio.get_running_loop().time()
    with pytest.raises(ProviderTimeout):
        await provider.complete(ask())
    assert 0.19 <= asyncio.get_running_loop().time() - started < 2
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the timeout's cancellation was taken back
    await asyncio.sleep(0)  # and none is left pending


async def test_a_stream_that_stalls_times_out_after_what_it_sent(serve: Callable[..., Any]) -> None:
    provider, _ = await serve(lambda raw: chunked(STREAM[0], STREAM[1], 5.0), timeout_s=0.2)
    seen: list[str] = []
    with pytest.raises(ProviderTimeout):
        async for delta in provider.stream(ask()):
            seen.append(delta.text)
    assert seen == ["a"]
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_slow_stream_whose_every_wait_is_short_is_read_to_its_end(serve: Callable[..., Any]) -> None:
    """Eight pauses of 0.1 s under a 0.25 s timeout: 0.8 s in all, but no wait reaches 0.25 s."""
    paced: list[bytes | float] = []
    for part in [event("a"), b"\n\n", event("b"), b"\n\n", event("c", "stop"), b"\n\n", b"data: [DONE]\n\n"]:
        paced += [0.1, part]
    provider, _ = await serve(lambda raw: chunked(*paced), timeout_s=0.25)
    deltas = await collect(provider.stream(ask()))
    assert deltas[-1].completion is not None and deltas[-1].completion.text == "abc"


async def test_a_slow_reader_is_not_timed_out_by_the_server_s_clock(serve: Callable[..., Any]) -> None:
    """Time the caller spends between chunks is not a wait for the server."""
    provider, _ = await serve(lambda raw: chunked(*STREAM), timeout_s=0.15)
    texts = []
    async for delta in provider.stream(ask()):
        texts.append(delta.text)
        await asyncio.sleep(0.4)
    assert texts[:2] == ["a", "b"]


async def test_a_cancellation_from_outside_stays_a_cancellation(serve: Callable[..., Any]) -> None:
    provider, _ = await serve(lambda raw: [5.0], timeout_s=0.2)
    task = asyncio.create_task(provider.complete(ask()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # and a caller's own shorter deadline wins over the member's read timeout
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await provider.complete(ask())


@pytest.mark.parametrize("outer_cancel_too", [False, True])
async def test_a_cancellation_in_the_same_instant_as_the_timeout_wins(
    monkeypatch: pytest.MonkeyPatch, outer_cancel_too: bool
) -> None:
    """The read timeout fires and, before the task runs again, someone else cancels it too."""
    fire = _Deadline._fire

    def fire_and_cancel(self: _Deadline) -> None:
        waiting = self._task
        fire(self)
        if outer_cancel_too and waiting is not None:
            waiting.cancel()

    monkeypatch.setattr(_Deadline, "_fire", fire_and_cancel)
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def read() -> str:
        deadline = _Deadline(0.05)
        try:
            deadline.waiting()
            try:
                await never
            finally:
                deadline.done()
        except asyncio.CancelledError:
            if deadline.timed_out():
                return "timed out"
            raise
        return "answered"

    task = asyncio.create_task(read())
    if outer_cancel_too:
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        assert await task == "timed out"
        assert task.cancelling() == 0
