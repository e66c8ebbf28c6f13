"""How much latency ``shoal serve`` adds to a request, against calling the member directly.

    python -m benchmarks.proxy_latency [--requests 2000] [--concurrency 1 64] [--stream]

Starts, on loopback, the fast fake OpenAI-compatible upstream
(:mod:`benchmarks.fake_upstream`, its own process) and ``shoal serve`` with
``openai_compat`` members pointing at it, then sends the same chat request at
each concurrency level and prints p50/p99 side by side:

- ``direct``: the upstream itself (what a client calling the member pays);
- ``proxy``: ``model=<member>`` through Shoal (single-member pass-through);
- ``vote x3``: ``shoal/vote`` through Shoal (three upstream calls per request).

``added`` is proxy minus direct at the same percentile; ``cpu`` is the
serving process's CPU time per request (the upstream's for ``direct``), a
figure that a busy machine disturbs less than wall-clock latency. The client
is the same bare keep-alive HTTP/1.1 client for every row (one connection per
concurrent request, opened and warmed up before timing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks._util import percentile
from benchmarks.per_call import start_upstream

SHOAL = Path(sys.executable).parent / "shoal"
QUESTION = [{"role": "user", "content": "What is six times seven?"}]

MEMBER = """
[members.{name}]
provider = "openai_compat"
model = "fake"
api_base = "{url}"
max_concurrency = 1024
max_retries = 0
"""
SETTINGS = """
[strategies.vote]
kind = "vote"

[defaults]
strategy = "vote"

[server]
max_concurrent_requests = 4096
"""


def config_text(url: str) -> str:
    return "".join(MEMBER.format(name=n, url=url) for n in ("fast", "fast2", "fast3")) + SETTINGS


class Connection:
    """A bare keep-alive HTTP/1.1 client connection: cheap enough not to be what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, parts.netloc)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        headers = head.lower()
        if b"transfer-encoding: chunked" in headers:
            data = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data += await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, bytes(data)
        length = int(headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def measure(
    url: str, model: str, total: int, concurrency: int, stream: bool, warmup: int
) -> tuple[list[float], float]:
    """Latencies (ms) of ``total`` requests at ``concurrency``, and the rate, after a warm-up."""
    body = json.dumps({"model": model, "messages": QUESTION, "stream": stream}).encode()
    path = urlsplit(url).path
    connections = [await Connection.open(url) for _ in range(concurrency)]
    latencies: list[float] = []

    async def worker(connection: Connection, n: int, record: bool) -> None:
        for _ in range(n):
            started = time.perf_counter()
            status, data = await connection.post(path, body)
            if status != 200:
                raise RuntimeError(f"{url} {model}: HTTP {status}: {data[:300]!r}")
            if record:
                latencies.append((time.perf_counter() - started) * 1000)

    async def run(n: int, record: bool) -> None:
        shares = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(worker(c, k, record) for c, k in zip(connections, shares, strict=True)))

    try:
        await run(max(warmup, concurrency), record=False)
        started = time.perf_counter()
        await run(total, record=True)
        rate = total / (time.perf_counter() - started)
    finally:
        for connection in connections:
            connection.close()
    return latencies, rate


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its children (Linux ``/proc``), or ``None``."""
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return None
    if pid not in stats:
        return None
    family, ticks = {pid}, 0
    for _ in range(3):  # the server, its workers, their children
        family |= {p for p, (parent, _) in stats.items() if parent in family}
    ticks = sum(stats[p][1] for p in family)
    return ticks / os.sysconf("SC_CLK_TCK")


def start_proxy(config: Path, log: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(SHOAL), "serve", "--config", str(config), "--port", "0", "--workers", str(workers)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if "http://" not in banner:
        raise RuntimeError(f"shoal serve did not start:\n{log.read_text()}")
    url = banner.split()[-1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # workers start after the banner
        try:
            if asyncio.run(_get_health(url)):
                return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"shoal serve never answered /health:\n{log.read_text()}")


async def _get_health(url: str) -> bool:
    connection = await Connection.open(url)
    try:
        connection.writer.write(f"GET /health HTTP/1.1\r\nhost: {connection.host}\r\n\r\n".encode())
        head = await connection.reader.readuntil(b"\r\n\r\n")
        return b" 200 " in head.split(b"\r\n", 1)[0] + b" "
    finally:
        connection.close()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def report(args: argparse.Namespace, rows: list[tuple[str, str, str, int]]) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    version = sys.version.split()[0]
    print(f"{args.requests} requests per row after {args.warmup} warm-up; python {version}; ", end="")
    print(f"{os.cpu_count()} cores, load average {load}; shoal serve --workers {args.workers}")
    head = (
        "mode",
        "conc",
        "row",
        "p50 ms",
        "p99 ms",
        "p50 x",
        "p99 x",
        "added p50",
        "added p99",
        "req/s",
        "cpu ms",
    )
    line = "{:<6} {:>4}  {:<8} {:>8} {:>8}  {:>6} {:>6}  {:>9} {:>9}  {:>6} {:>6}"
    print(line.format(*head))
    for stream in [False, True] if args.stream else [False]:
        for concurrency in args.concurrency:
            base: tuple[float, float] | None = None
            for name, url, model, pid in rows:
                before = cpu_seconds(pid)
                latencies, rate = asyncio.run(
                    measure(url, model, args.requests, concurrency, stream, args.warmup)
                )
                after = cpu_seconds(pid)
                sent = args.requests + max(args.warmup, concurrency)
                cpu = "-" if before is None or after is None else f"{(after - before) / sent * 1000:.3f}"
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                base = base or (p50, p99)
                print(
                    line.format(
                        "stream" if stream else "json",
                        concurrency,
                        name,
                        f"{p50:.3f}",
                        f"{p99:.3f}",
                        f"{p50 / base[0]:.2f}",
                        f"{p99 / base[1]:.2f}",
                        "-" if name == "direct" else f"{p50 - base[0]:.3f}",
                        "-" if name == "direct" else f"{p99 - base[1]:.3f}",
                        f"{rate:.0f}",
                        cpu,
                    )
                )
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per row (default 2000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--stream", action="store_true", help="also measure streamed requests")
    parser.add_argument("--no-vote", action="store_true", help="skip the three-member vote rows")
    parser.add_argument("--workers", type=int, default=1, help="shoal serve --workers (default 1)")
    args = parser.parse_args()

    upstream, upstream_url = start_upstream()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(config_text(upstream_url), encoding="utf-8")
        log = Path(tmp) / "serve.log"
        proxy, proxy_url = start_proxy(config, log, args.workers)
        rows = [
            ("direct", upstream_url + "/chat/completions", "fake", upstream.pid),
            ("proxy", proxy_url + "/chat/completions", "fast", proxy.pid),
        ]
        if not args.no_vote:
            rows.append(("vote x3", proxy_url + "/chat/completions", "shoal/vote", proxy.pid))
        try:
            report(args, rows)
        except Exception:
            print("shoal serve's log:\n" + log.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            stop(proxy)
            stop(upstream)


if __name__ == "__main__":
    main()
