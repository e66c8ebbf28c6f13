"""Several workers and machines as one Shoal: throughput, added latency, and limits that hold.

    python -m benchmarks.scaleout [--requests 1000] [--concurrency 32] [--burst 400]

Starts on loopback the fast fake upstream (:mod:`benchmarks.fake_upstream`, its own
process) and a redis-server on a free port (the ``redis-server`` binary; ``.ci/run``
installs it), then for each setup, side by side:

- ``1 worker, memory``: ``shoal serve`` as one process, the default state;
- ``4 workers, memory``: ``--workers 4`` on the default state (each worker its own
  limits; daily budgets in the sqlite file the workers of one machine share);
- ``4 machines, memory``: four ``shoal serve`` with their own budgets files (what four
  machines behind a load balancer are without shared state), the load spread over them;
- ``4 workers, redis``: ``--workers 4`` with ``[state] backend = "redis"``.

Each setup answers ``--requests`` requests at ``--concurrency`` (keep-alive connections,
spread over the instances) with a per-key rate limit and daily budget active but far
from binding: ``req/s`` and ``added p50/p99`` (ms over calling the upstream directly at
the same concurrency). Then a fresh server with binding limits takes two bursts of
``--burst`` requests at once, each on a new connection (so the kernel spreads them over
the workers): one against ``key_requests_per_minute = 100`` (``rate over`` is how many
more than 100 got through) and one against a team's ``daily_max_calls = 10`` (``budget
over``: calls beyond 10); a burst's requests start evenly within ``--window`` seconds
(connections opened all at once would mostly be accepted by one worker). For Redis, per
request of the throughput run: ``trips`` is what Shoal counted
(``shoal_state_round_trips_total`` from ``/metrics``, the whole server's), ``lua`` the
scripts Redis ran (``EVALSHA`` in its ``commandstats``) and ``cmds`` every command it
executed, those inside the scripts included (``total_commands_processed``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._util import percentile
from benchmarks.per_call import start_upstream
from benchmarks.proxy_latency import QUESTION, Connection, start_proxy, stop

KEYS = ("sk-bench-rate", "sk-bench-budget", "sk-bench-load")
RATE_LIMIT = 100
BUDGET_CALLS = 10

CONFIG = """
[members.fast]
provider = "openai_compat"
model = "fake"
api_base = "{url}"
max_concurrency = 1024
max_retries = 0

[teams.budgeted]
members = ["fast"]
daily_max_calls = {budget}

[strategies.budget]
kind = "vote"
team = "budgeted"

[server]
api_keys = ["{keys[0]}", "{keys[1]}", "{keys[2]}"]
max_concurrent_requests = 4096
key_requests_per_minute = {rate}
key_daily_max_calls = {daily}
key_budgets_path = "{budgets}"
{state}
"""


@dataclass
class Setup:
    name: str
    workers: int
    instances: int
    redis: bool


SETUPS = (
    Setup("1 worker, memory", 1, 1, False),
    Setup("4 workers, memory", 4, 1, False),
    Setup("4 machines, memory", 1, 4, False),
    Setup("4 workers, redis", 4, 1, True),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if _redis(url).ping():
                return proc, url
        except OSError:
            pass
        except Exception:  # redis.ConnectionError while it starts
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def _redis(url: str):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(url, socket_timeout=1)


def redis_ops(url: str) -> tuple[int, int]:
    """Commands Redis has executed (those inside Lua scripts too), and the scripts among them."""
    client = _redis(url)
    stats = client.info("commandstats")
    scripts = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return int(client.info("stats")["total_commands_processed"]), scripts


def write_configs(tmp: Path, setup: Setup, upstream: str, redis_url: str, binding: bool) -> list[Path]:
    """One config per instance (each its own budgets file: machines do not share a disk)."""
    state = f'[state]\nbackend = "redis"\nurl = "{redis_url}"\n' if setup.redis else ""
    paths = []
    for i in range(setup.instances):
        where = tmp / f"{setup.name.replace(' ', '').replace(',', '-')}-{int(binding)}-{i}"
        where.mkdir()
        text = CONFIG.format(
            url=upstream,
            keys=KEYS,
            budget=BUDGET_CALLS if binding else 10**9,
            rate=RATE_LIMIT if binding else 10**9,
            daily=10**9,
            budgets=where / "budgets.sqlite",
            state=state,
        )
        (where / "shoal.toml").write_text(text, encoding="utf-8")
        paths.append(where / "shoal.toml")
    return paths


def start_all(paths: list[Path], workers: int) -> list[tuple[subprocess.Popen[str], str]]:
    return [start_proxy(path, path.parent / "serve.log", workers) for path in paths]


def show_logs(paths: list[Path]) -> None:
    for path in paths:
        print(
            f"{path.parent / 'serve.log'}:\n" + (path.parent / "serve.log").read_text()[-3000:],
            file=sys.stderr,
        )


def _body(model: str) -> bytes:
    return json.dumps({"model": model, "messages": QUESTION}).encode()


def _post(connection: Connection, path: str, body: bytes, key: str) -> asyncio.Future[tuple[int, bytes]]:
    connection.writer.write(
        f"POST {path} HTTP/1.1\r\nhost: {connection.host}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return asyncio.ensure_future(_read(connection))


async def _read(connection: Connection) -> tuple[int, bytes]:
    head = await connection.reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    return status, await connection.reader.readexactly(length)


async def load(
    urls: list[str], model: str, total: int, concurrency: int, key: str | None
) -> tuple[list[float], float]:
    """Latencies (ms) and rate of ``total`` requests over ``concurrency`` keep-alive connections
    spread over ``urls`` (after a warm-up of one round)."""
    body = _body(model)
    connections = [await Connection.open(urls[i % len(urls)]) for i in range(concurrency)]
    latencies: list[float] = []

    async def worker(connection: Connection, n: int, record: bool) -> None:
        path = connection_path(urls[0])
        for _ in range(n):
            started = time.perf_counter()
            if key is None:
                status, data = await connection.post(path, body)
            else:
                status, data = await _post(connection, path, body, key)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {data[:300]!r}")
            if record:
                latencies.append((time.perf_counter() - started) * 1000)

    async def run(n: int, record: bool) -> None:
        shares = [n // concurrency + (1 if i < n % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(worker(c, k, record) for c, k in zip(connections, shares, strict=True)))

    try:
        await run(concurrency * 4, record=False)
        started = time.perf_counter()
        await run(total, record=True)
        rate = total / (time.perf_counter() - started)
    finally:
        for connection in connections:
            connection.close()
    return latencies, rate


def connection_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


async def burst(urls: list[str], model: str, n: int, key: str, window_s: float) -> list[int]:
    """``n`` requests within ``window_s``, each on its own new connection, spread over ``urls``:
    their statuses. (Connections opened all at once would mostly be accepted by one worker.)"""
    body = _body(model)

    async def one(i: int) -> int:
        await asyncio.sleep(window_s * i / n)
        connection = await Connection.open(urls[i % len(urls)])
        try:
            status, _ = await _post(connection, connection_path(urls[0]), body, key)
            return status
        finally:
            connection.close()

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def metric_sum(url: str, name: str) -> float:
    """The sum of a metric's samples on one server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    root = url.removesuffix("/v1")

    async def get() -> bytes:
        connection = await Connection.open(root)
        try:
            auth = f"authorization: Bearer {KEYS[2]}\r\n"
            connection.writer.write(
                f"GET /metrics HTTP/1.1\r\nhost: {connection.host}\r\n{auth}\r\n".encode()
            )
            return (await _read(connection))[1]
        finally:
            connection.close()

    text = asyncio.run(get()).decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def measure_setup(
    setup: Setup,
    tmp: Path,
    upstream: str,
    redis_url: str,
    args: argparse.Namespace,
    base: tuple[float, float],
) -> dict[str, object]:
    if setup.redis:
        _redis(redis_url).flushall()
    paths = write_configs(tmp, setup, upstream, redis_url, binding=False)
    servers = start_all(paths, setup.workers)
    urls = [url for _, url in servers]
    try:
        ops_before = redis_ops(redis_url) if setup.redis else (0, 0)
        trips_before = sum(metric_sum(u, "shoal_state_round_trips_total") for u in urls)
        total = args.requests
        latencies, rate = asyncio.run(
            load([u + "/chat/completions" for u in urls], "fast", total, args.concurrency, KEYS[2])
        )
        sent = total + args.concurrency * 4
        ops_after = redis_ops(redis_url) if setup.redis else (0, 0)
        commands, scripts = (after - before for after, before in zip(ops_after, ops_before, strict=True))
        trips = sum(metric_sum(u, "shoal_state_round_trips_total") for u in urls) - trips_before
    except Exception:
        show_logs(paths)
        raise
    finally:
        for proc, _ in servers:
            stop(proc)
    if setup.redis:
        _redis(redis_url).flushall()
    paths = write_configs(tmp, setup, upstream, redis_url, binding=True)
    servers = start_all(paths, setup.workers)
    urls = [url + "/chat/completions" for _, url in servers]
    try:
        rate_codes = asyncio.run(burst(urls, "fast", args.burst, KEYS[0], args.window))
        budget_codes = asyncio.run(burst(urls, "shoal/budget", args.burst, KEYS[1], args.window))
        if set(rate_codes + budget_codes) - {200, 429}:
            show_logs(paths)
    finally:
        for proc, _ in servers:
            stop(proc)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "setup": setup.name,
        "req/s": rate,
        "p50 ms": p50,
        "p99 ms": p99,
        "added p50": p50 - base[0],
        "added p99": p99 - base[1],
        "rate passed": rate_codes.count(200),
        "rate over": rate_codes.count(200) - RATE_LIMIT,
        "budget passed": budget_codes.count(200),
        "budget over": budget_codes.count(200) - BUDGET_CALLS,
        "round trips/req": trips / sent if setup.redis else None,
        "scripts/req": scripts / sent if setup.redis else None,
        "redis cmds/req": commands / sent if setup.redis else None,
        "other statuses": sorted({c for c in rate_codes + budget_codes if c not in (200, 429)}),
    }


def report(
    rows: list[dict[str, object]], args: argparse.Namespace, base: tuple[float, float], direct: float
) -> None:
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.requests} requests at concurrency {args.concurrency} per setup; bursts of {args.burst} "
        f"against key_requests_per_minute={RATE_LIMIT} and a team's daily_max_calls={BUDGET_CALLS}; "
        f"python {sys.version.split()[0]}; {os.cpu_count()} cores, load average {load_avg}"
    )
    print(f"upstream direct: p50 {base[0]:.3f} ms, p99 {base[1]:.3f} ms, {direct:.0f} req/s")
    head = list(rows[0])
    line = "{:<20} {:>7} {:>8} {:>8} {:>9} {:>9} {:>6} {:>5} {:>6} {:>6} {:>9} {:>8} {:>8} {}"
    short = [
        "setup",
        "req/s",
        "p50 ms",
        "p99 ms",
        "added50",
        "added99",
        "rate",
        "over",
        "budget",
        "over",
        "trips/req",
        "lua/req",
        "cmds/req",
        "other",
    ]
    assert len(short) == len(head)
    print(line.format(*short))
    for row in rows:
        cells = []
        for value in row.values():
            if isinstance(value, float):
                cells.append(f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}")
            elif value is None:
                cells.append("-")
            else:
                cells.append(str(value))
        print(line.format(*cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per setup (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--burst", type=int, default=400, help="requests against each limit")
    parser.add_argument("--window", type=float, default=2.0, help="seconds a burst is spread over")
    parser.add_argument("--only", nargs="+", default=None, help="run only these setups (by position, 1-4)")
    args = parser.parse_args()
    if args.burst < 4 * RATE_LIMIT:
        print(
            f"note: a burst under {4 * RATE_LIMIT} cannot show all of 4 workers' overshoot", file=sys.stderr
        )
    upstream, upstream_url = start_upstream()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        redis_proc, redis_url = start_redis(tmp)
        try:
            direct_latencies, direct_rate = asyncio.run(
                load([upstream_url + "/chat/completions"], "fake", args.requests, args.concurrency, None)
            )
            base = (percentile(direct_latencies, 50), percentile(direct_latencies, 99))
            chosen = [SETUPS[int(i) - 1] for i in args.only] if args.only else list(SETUPS)
            rows = [measure_setup(s, tmp, upstream_url, redis_url, args, base) for s in chosen]
            report(rows, args, base, direct_rate)
        finally:
            redis_proc.terminate()
            redis_proc.wait(10)
            stop(upstream)


if __name__ == "__main__":
    main()
