"""A fault-injecting OpenAI-compatible upstream: raw asyncio HTTP/1.1 on loopback, in a thread.

Each member of a test config names its fault as its ``model``; the upstream answers
``/v1/chat/completions`` accordingly:

=============  ==========================================================================
``ok``         a normal answer (``stream: true``: chunks, a finish_reason, ``[DONE]``)
``e500``       HTTP 500
``e429``       HTTP 429 with ``Retry-After: 5``
``echo401``    HTTP 401 whose body echoes the Authorization header and the prompt it got
``hang``       reads the request, never answers (until the client hangs up)
``close``      closes the connection halfway through the response body
``badjson``    HTTP 200 whose body is not JSON
``nochoices``  HTTP 200 JSON (or chunks) without ``choices``
``dies``       a stream whose connection closes after two chunks (chunked body not ended)
``truncated``  a stream whose chunked body ends cleanly without a finish_reason or ``[DONE]``
``drip``       the response one byte a second
=============  ==========================================================================

It notes, per fault, when a client hung up (``hangups``), so tests can time cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FAULTS = (
    "ok",
    "e500",
    "e429",
    "echo401",
    "hang",
    "close",
    "badjson",
    "nochoices",
    "dies",
    "truncated",
    "drip",
)


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _choice(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"index": 0, "delta": delta, "finish_reason": finish}


@dataclass
class FaultUpstream:
    port: int = 0
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hangups: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fault = "?"
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
                }
                body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}")
                fault = str(body.get("model", "ok"))
                self.requests[fault] += 1
                if not await self._answer(fault, body, headers, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            if fault in ("hang", "drip"):
                self.hangups[fault].append(time.monotonic())
        finally:
            writer.close()

    async def _answer(
        self,
        fault: str,
        body: dict[str, Any],
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Write the response for ``fault``; False when the connection must close after it."""
        stream = bool(body.get("stream"))
        if fault in ("e500", "e429", "echo401"):
            status = {"e500": 500, "e429": 429, "echo401": 401}[fault]
            message = "internal failure"
            if fault == "echo401":
                prompt = json.dumps(body.get("messages"))
                message = f"bad credentials {headers.get('authorization')} for prompt {prompt} at 127.0.0.1:1"
            payload = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
            extra = "retry-after: 5\r\n" if fault == "e429" else ""
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}"
                f"content-length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
            return True
        if fault == "hang":
            await reader.read()  # until the client hangs up
            raise ConnectionResetError
        if stream:
            return await self._stream(fault, body, writer)
        if fault == "badjson":
            payload = b"{not json"
        elif fault == "nochoices":
            payload = json.dumps({"id": "x", "object": "chat.completion", "model": "m"}).encode()
        else:
            payload = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": fault,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "42"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                }
            ).encode()
        response = (
            f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        if fault in ("close", "dies", "truncated"):  # the body stops short of its Content-Length
            writer.write(response[: len(response) - len(payload) // 2])
            await writer.drain()
            return False
        if fault == "drip":
            for byte in response:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
            return True
        writer.write(response)
        await writer.drain()
        return True

    async def _stream(self, fault: str, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        base = {"id": "x", "object": "chat.completion.chunk", "model": fault}
        if fault == "nochoices":
            for _ in range(3):
                writer.write(_chunk(_sse({**base, "usage": None})))
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        for word in ("The", " answer", " is"):
            writer.write(_chunk(_sse({**base, "choices": [_choice(word)]})))
            await writer.drain()
            await asyncio.sleep(0.01)
        if fault in ("dies", "close"):
            return False  # the connection closes with the chunked body unfinished
        if fault == "badjson":
            writer.write(_chunk(b"data: {not json\n\n"))
        if fault == "truncated":
            writer.write(b"0\r\n\r\n")  # a clean end of the body, but the stream never said it was done
            await writer.drain()
            return True
        if fault == "drip":
            for byte in _chunk(_sse({**base, "choices": [_choice(" 42", "stop")]})):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
        writer.write(_chunk(_sse({**base, "choices": [_choice(" 42.", "stop")]}) + b"data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


@contextlib.contextmanager
def fault_upstream() -> Iterator[FaultUpstream]:
    """Run a :class:`FaultUpstream` on a free loopback port in a thread of its own."""
    upstream = FaultUpstream()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def main() -> None:
        server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0)
        upstream.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    thread = threading.Thread(target=lambda: _run(loop, main()), daemon=True)
    thread.start()
    assert ready.wait(10), "the fault upstream did not start"
    try:
        yield upstream
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(10)


def _run(loop: asyncio.AbstractEventLoop, main: Any) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(main)
    loop.close()


def members_toml(upstream: FaultUpstream, *, max_retries: int = 0) -> str:
    """One ``openai_compat`` member per fault (named like it), reading its key from FAULT_KEY."""
    parts = []
    for fault in FAULTS:
        parts.append(
            f'[members.{fault}]\nprovider = "openai_compat"\nmodel = "{fault}"\n'
            f'api_base = "{upstream.base_url}"\napi_key_env = "FAULT_KEY"\nmax_retries = {max_retries}\n'
            "timeout_s = 30\n"
        )
    return "\n".join(parts)
