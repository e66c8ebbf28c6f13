"""A fast fake OpenAI-compatible upstream for benchmarks: raw asyncio HTTP/1.1 with keep-alive.

    python -m benchmarks.fake_upstream --port 9100 --latency-ms 0 --chunks 16 --chunk-interval-ms 0

``--latency-ms`` delays each answer (``--lognormal-sigma`` draws it from a
lognormal with that median); streaming answers are ``--chunks`` deltas
``--chunk-interval-ms`` apart. Answers ``/v1/chat/completions`` (both forms)
and ``/v1/models``. It prints its URL on stdout when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass

__all__ = ["FakeUpstream", "UpstreamSettings"]


@dataclass
class UpstreamSettings:
    latency_ms: float = 0.0
    lognormal_sigma: float = 0.0
    chunks: int = 16
    chunk_interval_ms: float = 0.0
    answer: str = "42"


class FakeUpstream:
    def __init__(self, settings: UpstreamSettings | None = None) -> None:
        self.settings = settings or UpstreamSettings()
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = await asyncio.start_server(self._serve, host, port, backlog=1024)
        sock_host, sock_port = self._server.sockets[0].getsockname()[:2]
        return f"http://{sock_host}:{sock_port}/v1"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    if line[:15].lower() == "content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                await self._respond(method, path, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _respond(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> None:
        if path.endswith("/models"):
            payload = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
            writer.write(_head(200, "application/json", len(payload)) + payload)
            return
        request = json.loads(body or b"{}")
        await self._delay()
        if request.get("stream"):
            await self._stream(request, writer)
        else:
            payload = json.dumps(_completion(request.get("model", "fake"), self.settings.answer)).encode()
            writer.write(_head(200, "application/json", len(payload)) + payload)
        await writer.drain()

    async def _delay(self) -> None:
        s = self.settings
        if s.latency_ms <= 0:
            return
        ms = s.latency_ms * random.lognormvariate(0, s.lognormal_sigma) if s.lognormal_sigma else s.latency_ms
        await asyncio.sleep(ms / 1000)

    async def _stream(self, request: dict, writer: asyncio.StreamWriter) -> None:
        s = self.settings
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        model = request.get("model", "fake")
        created = int(time.time())
        for i in range(s.chunks):
            delta = {"content": f"t{i} "} if i else {"role": "assistant", "content": "t0 "}
            _chunk(writer, _sse(_delta(model, created, delta, None)))
            await writer.drain()
            if s.chunk_interval_ms:
                await asyncio.sleep(s.chunk_interval_ms / 1000)
        final = _delta(model, created, {}, "stop")
        if (request.get("stream_options") or {}).get("include_usage"):
            final["usage"] = {"prompt_tokens": 8, "completion_tokens": s.chunks, "total_tokens": 8 + s.chunks}
        _chunk(writer, _sse(final) + b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")


def _head(status: int, content_type: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {status} OK\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\n\r\n".encode()
    )


def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _sse(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _completion(model: str, answer: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }


def _delta(model: str, created: int, delta: dict, finish: str | None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _main(args: argparse.Namespace) -> None:
    upstream = FakeUpstream(
        UpstreamSettings(args.latency_ms, args.lognormal_sigma, args.chunks, args.chunk_interval_ms)
    )
    url = await upstream.start(args.host, args.port)
    print(url, flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--lognormal-sigma", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--chunk-interval-ms", type=float, default=0.0)
    try:
        asyncio.run(_main(parser.parse_args()))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
