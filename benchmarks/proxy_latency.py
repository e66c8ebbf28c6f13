"""How much latency ``shoal serve`` adds to a request, against calling the member directly.

Starts, on loopback, a tiny fast OpenAI-compatible upstream (its own process)
and ``shoal serve`` with one ``openai_compat`` member pointing at it (plus a
three-member vote over the same upstream), then sends the same chat request
to each at concurrency 1 and 64 and prints p50/p99 side by side:

    .venv/bin/python benchmarks/proxy_latency.py                 # defaults
    .venv/bin/python benchmarks/proxy_latency.py --requests 3000 --concurrency 1 64 --stream

``direct`` is the upstream itself; ``proxy`` is ``model=<member>`` through
Shoal (single-member pass-through); ``vote x3`` is ``shoal/vote`` (three
upstream calls per request). The client is httpx in this process for all rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve()
SHOAL = Path(sys.executable).parent / "shoal"
QUESTION = [{"role": "user", "content": "What is six times seven?"}]

_ANSWER = json.dumps(
    {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "42"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
).encode()
_CHUNKS = (
    b"".join(
        b"data: " + json.dumps(c).encode() + b"\n\n"
        for c in (
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "fake",
                "choices": [{"index": 0, "delta": {"content": "4"}}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "fake",
                "choices": [{"index": 0, "delta": {"content": "2"}}],
            },
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "fake",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
            },
        )
    )
    + b"data: [DONE]\n\n"
)


# -- the fake upstream: a minimal keep-alive HTTP/1.1 server on asyncio streams ---------------


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if b'"stream":true' in body.replace(b" ", b""):
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"content-length: " + str(len(_CHUNKS)).encode() + b"\r\n\r\n" + _CHUNKS
                )
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: " + str(len(_ANSWER)).encode() + b"\r\n\r\n" + _ANSWER
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_upstream() -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# -- the measurement ----------------------------------------------------------------------


async def _measure(
    url: str, model: str, total: int, concurrency: int, stream: bool, warmup: int = 0
) -> tuple[list[float], float]:
    """Latencies of ``total`` requests at ``concurrency`` (after ``warmup`` on the same connections)."""
    body = {"model": model, "messages": QUESTION, "stream": stream}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(
        limits=limits, timeout=60, headers={"Authorization": "Bearer bench"}
    ) as client:

        async def one(record: bool) -> None:
            started = time.perf_counter()
            if stream:
                async with client.stream("POST", url, json=body) as response:
                    async for _ in response.aiter_raw():
                        pass
            else:
                response = await client.post(url, json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{url} {model}: HTTP {response.status_code}: {response.text[:300]}")
            if record:
                latencies.append(time.perf_counter() - started)

        async def worker(n: int, record: bool) -> None:
            for _ in range(n):
                await one(record)

        async def run(n: int, record: bool) -> None:
            share = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
            await asyncio.gather(*(worker(k, record) for k in share))

        await run(max(warmup, concurrency), record=False)  # opens every connection first
        started = time.perf_counter()
        await run(total, record=True)
        elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed


def _cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process has used so far (Linux /proc), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


CONFIG = """
[members.fast]
provider = "openai_compat"
model = "fake"
api_base = "{upstream}"
max_concurrency = 1024
max_retries = 0

[members.fast2]
provider = "openai_compat"
model = "fake"
api_base = "{upstream}"
max_concurrency = 1024
max_retries = 0

[members.fast3]
provider = "openai_compat"
model = "fake"
api_base = "{upstream}"
max_concurrency = 1024
max_retries = 0

[strategies.vote]
kind = "vote"

[defaults]
strategy = "vote"
log_level = "warning"

[server]
max_concurrent_requests = 4096
"""


def _start(
    cmd: list[str], env: dict[str, str] | None = None, stderr: Path | None = None
) -> tuple[subprocess.Popen[str], str]:
    with stderr.open("w") if stderr else open(os.devnull, "w") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first:
        raise RuntimeError(f"{cmd[0]} did not start")
    return process, first


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row (default 2000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--stream", action="store_true", help="also measure streamed requests")
    parser.add_argument("--no-vote", action="store_true", help="skip the three-member vote rows")
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        asyncio.run(_serve_upstream())
        return

    upstream, port_line = _start([sys.executable, str(HERE), "--upstream"])
    upstream_base = f"http://127.0.0.1:{int(port_line)}/v1"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(CONFIG.format(upstream=upstream_base), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        log = Path(tmp) / "serve.log"
        proxy, banner = _start([str(SHOAL), "serve", "--config", str(config), "--port", "0"], env, log)
        proxy_base = banner.split()[-1]
        try:
            _report(args, upstream_base, proxy_base, {"direct": upstream.pid, "proxy": proxy.pid})
        except Exception:
            print("shoal serve's log:\n" + log.read_text()[-4000:], file=sys.stderr)
            raise
        finally:
            _stop(proxy)
            _stop(upstream)


def _report(args: argparse.Namespace, upstream_base: str, proxy_base: str, pids: dict[str, int]) -> None:
    rows = [("direct", upstream_base, "fake", pids["direct"]), ("proxy", proxy_base, "fast", pids["proxy"])]
    if not args.no_vote:
        rows.append(("vote x3", proxy_base, "shoal/vote", pids["proxy"]))
    modes = [False, True] if args.stream else [False]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.requests} requests per row after {args.warmup} warm-up; python {sys.version.split()[0]}; "
        f"{os.cpu_count()} cores, load average {load}"
    )
    print("latency in ms; 'cpu' is the server process's CPU ms per request (direct: the upstream's)")
    head = (
        "mode",
        "conc",
        "row",
        "p50",
        "p99",
        "p50 ratio",
        "p99 ratio",
        "added p50",
        "added p99",
        "req/s",
        "cpu",
    )
    print("{:<6} {:>4}  {:<8} {:>8} {:>8}  {:>9} {:>9}  {:>9} {:>9}  {:>6} {:>6}".format(*head))
    for stream in modes:
        for concurrency in args.concurrency:
            base: tuple[float, float] | None = None
            for name, url, model, pid in rows:
                endpoint = url + "/chat/completions"
                before = _cpu_s(pid)
                latencies, rate = asyncio.run(
                    _measure(endpoint, model, args.requests, concurrency, stream, args.warmup)
                )
                after = _cpu_s(pid)
                total = args.requests + max(args.warmup, concurrency)
                cpu = (
                    f"{(after - before) / total * 1000:6.3f}"
                    if before is not None and after is not None
                    else "-"
                )
                p50, p99 = _pct(latencies, 0.50), _pct(latencies, 0.99)
                if base is None:
                    base = (p50, p99)
                    extra = f"{'1.00x':>9} {'1.00x':>9}  {'-':>9} {'-':>9}"
                else:
                    extra = (
                        f"{p50 / base[0]:>8.2f}x {p99 / base[1]:>8.2f}x  "
                        f"{p50 - base[0]:>9.3f} {p99 - base[1]:>9.3f}"
                    )
                mode = "stream" if stream else "json"
                cells = f"{mode:<6} {concurrency:>4}  {name:<8} {p50:>8.3f} {p99:>8.3f}"
                print(f"{cells}  {extra}  {rate:>6.0f} {cpu}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"added = proxy minus direct at the same percentile (ms). Load average after: {load}")


if __name__ == "__main__":
    main()
