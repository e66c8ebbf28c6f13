"""An open-loop HTTP/1.1 load generator for chat completions: requests start on a fixed schedule.

    python -m benchmarks.loadgen --url http://127.0.0.1:8000/v1/chat/completions --model fake \\
        --rate 200 --duration 5 [--stream] [--closed N --requests 10000]

Open loop: request ``i`` is due at ``start + i / rate`` whatever happened to the
ones before it, and its latency counts from that due time, so a server that
falls behind pays for the queue it builds (no coordinated omission). Each
request takes an idle keep-alive connection or opens a new one. ``--closed N``
instead runs N clients back to back (for a fixed count of requests).

Prints one JSON line: counts, achieved rate, latency percentiles (ms) and, for
streams, time to first token and the gaps between content chunks as received.
Runs in its own process so that it is never what the server competes with in
its own event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import socket
import time
from urllib.parse import urlsplit

__all__ = ["main"]

_CONTENT = re.compile(rb'"content": ?"[^"]')  # an SSE event that carries text


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": _pct(values, q) for q in (50, 90, 99)} | {"max": max(values) if values else None}


QUESTION = "What is six times seven?"
_FILLER = (
    "Context for the question below: the quarterly report lists 14 sites, 3 regions and 250 staff; "
    "deliveries rose 7% on last year, and the team in Osaka opened a second office in March. "
)


def prompt_of(size: int) -> str:
    """The question, after about ``size`` bytes of context text (none when ``size`` is 0)."""
    if size <= len(QUESTION):
        return QUESTION
    context = (_FILLER * (size // len(_FILLER) + 1))[: size - len(QUESTION) - 1]
    return context + "\n" + QUESTION


class Client:
    def __init__(self, url: str, model: str, stream: bool, key: str | None, prompt_bytes: int = 0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        body = json.dumps(
            {"model": model, "messages": [{"role": "user", "content": prompt_of(prompt_bytes)}]}
            | ({"stream": True} if stream else {})
        ).encode()
        auth = f"authorization: Bearer {key}\r\n" if key else ""
        self.request = (
            f"POST {self.path} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-type: application/json\r\n"
            f"{auth}content-length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.latencies: list[float] = []
        self.ttft: list[float] = []
        self.gaps: list[float] = []
        self.chunks: list[int] = []
        self.errors: dict[str, int] = {}
        self.opened = 0

    async def connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened += 1
        return reader, writer

    async def one(self, due: float) -> None:
        try:
            reader, writer = await self.connection()
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            lower = head.lower()
            arrivals: list[float] = []
            if b"transfer-encoding: chunked" in lower:
                data = await self._chunked(reader, arrivals)
            else:
                length = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                data = await reader.readexactly(length)
            done = time.perf_counter()
            if b"connection: close" in lower:
                writer.close()
            else:
                self.idle.append((reader, writer))
            if status != 200:
                key = f"http {status}"
                self.errors[key] = self.errors.get(key, 0) + 1
                if self.errors[key] == 1:
                    self.errors[f"{key} body"] = data[:200].decode("utf-8", "replace")  # type: ignore[assignment]
                return
            self.latencies.append((done - due) * 1000)
            if arrivals:
                self.ttft.append((arrivals[0] - due) * 1000)
                self.gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(arrivals))
                self.chunks.append(len(arrivals))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            key = type(exc).__name__
            self.errors[key] = self.errors.get(key, 0) + 1

    async def _chunked(self, reader: asyncio.StreamReader, arrivals: list[float]) -> bytes:
        data = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            part = await reader.readexactly(size + 2)
            if size == 0:
                return bytes(data)
            now = time.perf_counter()
            # one arrival per SSE event carrying content, even if the server packs several per chunk
            arrivals.extend(now for _ in _CONTENT.finditer(part))
            data += part[:-2]


async def open_loop(client: Client, rate: float, duration: float, drain_s: float) -> dict[str, object]:
    total = max(1, int(rate * duration))
    tasks: set[asyncio.Task[None]] = set()
    lag: list[float] = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        lag.append((time.perf_counter() - due) * 1000)
        task = asyncio.create_task(client.one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_in = time.perf_counter() - start
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=drain_s)
        for task in pending:
            task.cancel()
        client.errors["unfinished"] = len(pending)
    return {"sent": total, "offered_rate": rate, "send_s": sent_in, "sched_lag_p99_ms": _pct(lag, 99)}


async def closed_loop(client: Client, clients: int, requests: int) -> dict[str, object]:
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]

    async def worker(n: int) -> None:
        for _ in range(n):
            await client.one(time.perf_counter())

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in shares))
    return {"sent": requests, "elapsed_s": time.perf_counter() - start}


async def _main(args: argparse.Namespace) -> dict[str, object]:
    client = Client(args.url, args.model, args.stream, args.key, args.prompt_bytes)
    if args.closed:
        out = await closed_loop(client, args.closed, args.requests)
        elapsed = float(out["elapsed_s"])  # type: ignore[arg-type]
    else:
        out = await open_loop(client, args.rate, args.duration, args.drain)
        elapsed = float(out["send_s"])  # type: ignore[arg-type]
    for reader_writer in client.idle:
        reader_writer[1].close()
    out |= {
        "ok": len(client.latencies),
        "errors": {k: v for k, v in client.errors.items() if v},
        "connections": client.opened,
        "achieved_rate": len(client.latencies) / elapsed if elapsed else 0.0,
        "latency_ms": _summary(client.latencies),
    }
    if args.stream:
        out |= {
            "ttft_ms": _summary(client.ttft),
            "gap_ms": _summary(client.gaps),
            "chunks_p50": _pct([float(c) for c in client.chunks], 50),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", default=None)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (open loop)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of sending (open loop)")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for the stragglers")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--closed", type=int, default=0, help="closed loop with this many clients")
    parser.add_argument("--requests", type=int, default=10000, help="requests in closed loop")
    parser.add_argument("--prompt-bytes", type=int, default=0, help="context before the question")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_main(args))), flush=True)


if __name__ == "__main__":
    main()
