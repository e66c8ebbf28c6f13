"""Real servers on loopback for the proxy tests: ``shoal serve`` as a process, and a fake upstream.

:func:`start_serve` runs the installed ``shoal serve --port 0`` and reads the
URL from its banner. :class:`FakeUpstream` is an OpenAI-compatible server
(Starlette on uvicorn, in a thread of the test process) that records every
request body, streams its answer token by token with a chosen gap, and notes
when a client hangs up mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SHOAL = Path(sys.executable).parent / "shoal"
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/v1")


@dataclass
class Served:
    """A running ``shoal serve``."""

    process: subprocess.Popen[str]
    port: int
    stderr_path: Path
    banner: str

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/v1"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0 when absent); ``instance`` is matched only when given."""
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        text = httpx.get(self.root + "/metrics", headers=headers, timeout=5).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            series, value = line.rsplit(" ", 1)
            metric, _, rest = series.partition("{")
            pairs = rest.rstrip("}").split(",") if rest else []
            if "instance" not in labels:
                pairs = [p for p in pairs if not p.startswith("instance=")]
            got = ",".join(sorted(pairs))
            if metric == name and got == want:
                return float(value)
        return 0.0

    key: str | None = None

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOAL_", "OPENAI_"))}
    if "SHOAL_CACHE_DIR" in os.environ:
        env["SHOAL_CACHE_DIR"] = os.environ["SHOAL_CACHE_DIR"]
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_serve(
    config: Path | None,
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    key: str | None = None,
    timeout: float = 60,
) -> Served:
    """Start ``shoal serve --config CONFIG --port 0`` (no ``--config`` for None) and wait for its banner."""
    chosen = ["--config", str(config)] if config is not None else []
    stderr_path = workdir / f"serve-{time.monotonic_ns()}.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [str(SHOAL), "serve", *chosen, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env or serve_env(),
            cwd=workdir,
        )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = _URL.search(line)
        if match:
            # the banner is three lines; read the rest
            lines += [process.stdout.readline(), process.stdout.readline()]
            served = Served(process, int(match.group(1)), stderr_path, "".join(lines), key)
            _wait_ready(served, deadline)
            return served
    process.kill()
    process.wait(5)
    raise RuntimeError(f"shoal serve did not start: {''.join(lines)}\n{stderr_path.read_text()}")


def _wait_ready(served: Served, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(served.root + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"shoal serve never answered /health\n{served.stderr()}")


# -- a fake OpenAI-compatible upstream ----------------------------------------------


@dataclass
class FakeUpstream:
    """Answers ``/v1/chat/completions`` from ``script``; records bodies and hang-ups."""

    tokens: list[str] = field(default_factory=lambda: ["The", " answer", " is", " 42."])
    gap_s: float = 0.0
    status: int = 200
    error_headers: dict[str, str] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] | None = None
    # once the conversation ends with a tool's result: answer this (``{result}`` is that result)
    after_tool: str | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self, **changes: Any) -> None:
        self.bodies.clear()
        self.hung_up.clear()
        self.finished.clear()
        defaults = FakeUpstream()
        for name in ("tokens", "gap_s", "status", "error_headers", "tool_calls", "after_tool"):
            setattr(self, name, changes.get(name, getattr(defaults, name)))

    def _turn(self, body: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]] | None]:
        """This turn's text tokens and tool calls: after a tool's result, the ``after_tool`` answer."""
        last = (body.get("messages") or [{}])[-1]
        if self.after_tool is not None and last.get("role") == "tool":
            content = last.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            answer = self.after_tool.replace("{result}", str(content))
            words = answer.split(" ")
            return [w if i == 0 else " " + w for i, w in enumerate(words)], None
        return list(self.tokens), self.tool_calls

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        if self.status != 200:
            error = {"error": {"message": f"upstream says {self.status}", "type": "x"}}
            return JSONResponse(error, status_code=self.status, headers=self.error_headers)
        tokens, tool_calls = self._turn(body)
        if body.get("stream"):
            return StreamingResponse(self._events(body, tokens, tool_calls), media_type="text/event-stream")
        await asyncio.sleep(self.gap_s * len(tokens))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(tokens)}
        if tool_calls:
            message = {"role": "assistant", "content": "".join(tokens) or None, "tool_calls": tool_calls}
        self.finished.set()
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": "tool_calls" if tool_calls else "stop",
        }
        if body.get("logprobs"):  # made-up numbers, in OpenAI's shape
            entries = [
                {"token": t, "logprob": -0.5, "bytes": list(t.encode()), "top_logprobs": []} for t in tokens
            ]
            choice["logprobs"] = {"content": entries, "refusal": None}
        self.finished.set()
        return JSONResponse(
            {
                "id": "up-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [choice],
                "usage": {
                    "prompt_tokens": 7,
                    "completion_tokens": len(tokens),
                    "total_tokens": 7 + len(tokens),
                },
            }
        )

    async def _events(
        self, body: dict[str, Any], tokens: list[str], tool_calls: list[dict[str, Any]] | None
    ) -> AsyncIterator[bytes]:
        def data(obj: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        base = {"id": "up-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        try:
            for at, token in enumerate(tokens):
                await asyncio.sleep(self.gap_s)
                choice: dict[str, Any] = {"index": 0, "delta": {"content": token}}
                if body.get("logprobs"):  # as OpenAI streams them: each chunk its own tokens'
                    choice["logprobs"] = {"content": [_token_logprob(token, at, body)], "refusal": None}
                yield data({**base, "choices": [choice]})
            for index, call in enumerate(tool_calls or []):
                # as OpenAI streams a call: its id and name, then the arguments a few characters at a time
                head = {"index": index, "id": call["id"], "type": "function"}
                head["function"] = {"name": call["function"]["name"], "arguments": ""}
                yield data({**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
                arguments = call["function"]["arguments"]
                for at in range(0, len(arguments), 4):
                    await asyncio.sleep(self.gap_s)
                    piece = {"index": index, "function": {"arguments": arguments[at : at + 4]}}
                    yield data({**base, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
            finish = "tool_calls" if tool_calls else "stop"
            yield data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            usage = {"prompt_tokens": 7, "completion_tokens": len(tokens), "total_tokens": 7 + len(tokens)}
            yield data({**base, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
            self.finished.set()
        except BaseException:
            self.hung_up.set()
            raise

    async def _embeddings(self, request: Request) -> Response:
        """A deterministic embedding per text: [its length, its count of spaces, 1.0]."""
        body = await request.json()
        self.bodies.append(body)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), float(t.count(" ")), 1.0]}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JSONResponse({"object": "list", "model": body["model"], "data": data, "usage": usage})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )


def _token_logprob(token: str, at: int, body: dict[str, Any]) -> dict[str, Any]:
    """Made-up numbers in OpenAI's shape: the ``at``-th token at ``-0.1 * (at + 1)``, and as many
    alternatives as ``top_logprobs`` asks, each less likely."""
    logprob = round(-0.1 * (at + 1), 4)
    top = [
        {"token": f"{token}~{n}" if n else token, "logprob": logprob - n, "bytes": list(token.encode())}
        for n in range(int(body.get("top_logprobs") or 0))
    ]
    return {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top}


@contextmanager
def running(app: Any) -> Iterator[int]:
    """Serve an ASGI app on a free loopback port in a thread; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
