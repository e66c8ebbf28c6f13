"""Soak: 10,000 requests at concurrency 200 through a real ``shoal serve``; nothing lost, nothing leaks.

    python -m benchmarks.soak [--requests 10000] [--concurrency 200]

Half the requests stream; every tenth client hangs up early (after sending its request,
at a random point of the answer). The server fronts a fast fake upstream
(:mod:`benchmarks.fake_upstream`, its own process) through an ``openai_compat`` member.
Prints, before and after (after a warm-up of 500 requests): the server's RSS, open file
descriptors and asyncio tasks; and lost requests (neither answered 200 in full nor hung up
on purpose), p50/p99 latency of the completed ones. Target: 0 lost, RSS growth < 5 MB,
fds and tasks back where they were.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._util import percentile, print_table

__all__ = ["main"]

CONFIG = """
[members.relay]
provider = "openai_compat"
model = "fake"
api_base = "{upstream}"
max_retries = 0

[server]
max_concurrent_requests = 512
heartbeat_s = 5
"""


def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line


def _proc(pid: int) -> tuple[float, int]:
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def _health(port: int) -> dict[str, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


class Soak:
    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies: list[float] = []
        self.lost: dict[str, int] = {}
        self.hung_up = 0

    def _lose(self, why: str) -> None:
        self.lost[why] = self.lost.get(why, 0) + 1

    async def one(self, i: int) -> None:
        stream = i % 2 == 0
        leave = i % 10 == 5
        body = json.dumps(
            {"model": "relay", "messages": [{"role": "user", "content": f"q{i}"}], "stream": stream}
        ).encode()
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode() + body
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        except OSError as exc:
            self._lose(type(exc).__name__)
            return
        try:
            writer.write(request)
            if leave:
                await asyncio.sleep(random.random() * 0.01)
                if random.random() < 0.5:
                    await reader.read(random.randint(1, 400))
                self.hung_up += 1
                return
            data = await reader.read()
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
            whole = data.rstrip().endswith(b"0") and b"[DONE]" in data if stream else b'"choices"' in data
            if status != 200 or not whole:
                self._lose(f"http {status}" if status != 200 else "incomplete")
                return
            self.latencies.append((time.perf_counter() - started) * 1000)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self._lose(type(exc).__name__)
        finally:
            writer.close()

    async def run(self, requests: int, concurrency: int, offset: int = 0) -> float:
        counter = iter(range(offset, offset + requests))

        async def worker() -> None:
            for i in counter:
                await self.one(i)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        return time.perf_counter() - started


async def _soak(port: int, pid: int, requests: int, concurrency: int) -> None:
    warm = Soak(port)
    await warm.run(500, concurrency)
    await asyncio.sleep(1.0)
    rss0, fds0 = _proc(pid)
    tasks0 = (await _health(port))["tasks"]
    soak = Soak(port)
    seconds = await soak.run(requests, concurrency, offset=500)
    await asyncio.sleep(1.5)  # let hung-up requests' cancellations settle
    rss1, fds1 = _proc(pid)
    health = await _health(port)
    lost = sum(soak.lost.values())
    print(
        f"\n{requests} requests at concurrency {concurrency} in {seconds:.1f} s "
        f"({requests / seconds:.0f}/s): {len(soak.latencies)} answered, {soak.hung_up} hung up on purpose, "
        f"{lost} lost {soak.lost or ''}"
    )
    print_table(
        "shoal serve before and after the soak",
        ["", "before", "after", "change"],
        [
            ["RSS (MB)", rss0, rss1, rss1 - rss0],
            ["open fds", fds0, fds1, fds1 - fds0],
            ["asyncio tasks", tasks0, health["tasks"], int(health["tasks"]) - int(tasks0)],  # type: ignore[call-overload]
            ["requests in flight", "-", health["in_flight"], "-"],
        ],
    )
    print_table(
        "latency of answered requests (ms)",
        ["p50", "p99", "max"],
        [[percentile(soak.latencies, 50), percentile(soak.latencies, 99), max(soak.latencies, default=0.0)]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    upstream, url = _start([sys.executable, "-m", "benchmarks.fake_upstream", "--chunks", "8"])
    workdir = Path(tempfile.mkdtemp(prefix="shoal-soak-"))
    config = workdir / "shoal.toml"
    config.write_text(CONFIG.format(upstream=url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")} | {"PYTHONUNBUFFERED": "1"}
    shoal = str(Path(sys.executable).parent / "shoal")
    server, banner = _start([shoal, "serve", "--config", str(config), "--port", "0"], env=env)
    try:
        port = int(banner.rsplit(":", 1)[1].split("/", 1)[0])
        time.sleep(0.5)
        asyncio.run(_soak(port, server.pid, args.requests, args.concurrency))
    finally:
        for process in (server, upstream):
            process.terminate()
            process.wait(15)


if __name__ == "__main__":
    main()
