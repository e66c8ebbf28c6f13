"""Local models: tokens per second through Shoal against the same GGUF served by llama.cpp directly.

    python -m benchmarks.local_speed [--model PATH.gguf] [--requests 8] [--max-tokens 128]

Three rows, asked in turn (so load on the machine hits all alike), the same
question at temperature 0 (so every row generates the same tokens), one request at a
time:

- **llama.cpp directly**: an ``xllamacpp`` server on the GGUF, asked over HTTP;
- **Shoal library**: ``Orchestrator.run(..., member=...)`` with a ``local`` member on
  the same file (Shoal starts its own llama.cpp server, same settings);
- **Shoal proxy**: ``shoal serve`` with that member, asked over HTTP.

Tokens per second is the completion tokens over the wall time of the request
(prompt processing included, identical for all three). Then ``shoal ask`` on a warm
machine (the model file in the page cache): time from the command's start to its
answer, median of ``--ask-runs`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._util import print_table
from benchmarks.proxy_compare import SHOAL, free_port, stopped, wait_http

DEFAULT_MODEL = Path.home() / ".cache" / "shoal" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def member_toml(model: Path, threads: int) -> str:
    return (
        f'[members.local]\nprovider = "local"\nmodel = "{model}"\n'
        f"options = {{ n_parallel = 1, n_ctx = 2048, threads = {threads} }}\n"
        '[strategies.solo]\nkind = "single"\nmember = "local"\n'
        '[defaults]\nstrategy = "solo"\ntimeout_s = 600\n'
    )


async def http_row(client: httpx.AsyncClient, url: str, model: str, max_tokens: int) -> tuple[float, int]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 1,
    }
    started = time.perf_counter()
    response = await client.post(url + "/chat/completions", json=body)
    wall = time.perf_counter() - started
    response.raise_for_status()
    return wall, int(response.json()["usage"]["completion_tokens"])


async def rows(args: argparse.Namespace, proxy_url: str) -> dict[str, list[float]]:
    from orchestrator.config import parse_config
    from orchestrator.engine import Orchestrator
    from providers.local.server import LlamaServer, ServerSettings

    settings = ServerSettings(n_ctx=2048, n_parallel=1, threads=args.threads)
    orch = Orchestrator(parse_config(member_toml(args.model, args.threads), source="local_speed"))
    speeds: dict[str, list[float]] = {"llama.cpp directly": [], "Shoal library": [], "Shoal proxy": []}
    tokens: dict[str, set[int]] = {name: set() for name in speeds}
    params = {"max_tokens": args.max_tokens, "temperature": 0, "seed": 1}
    async with LlamaServer(args.model, settings) as server, httpx.AsyncClient(timeout=600) as client:
        assert server.url is not None
        direct = server.url + "/v1"

        async def library() -> tuple[float, int]:
            started = time.perf_counter()
            verdict = await orch.run(QUESTION, member="local", params=params)
            return time.perf_counter() - started, verdict.usage.completion_tokens

        ask = {
            "llama.cpp directly": lambda: http_row(client, direct, "local", args.max_tokens),
            "Shoal library": library,
            "Shoal proxy": lambda: http_row(client, proxy_url, "local", args.max_tokens),
        }
        for fn in ask.values():  # warm-up: the library's own server starts on its first call
            await fn()
        for i in range(args.requests):
            order = list(ask) if i % 2 == 0 else list(reversed(ask))
            for name in order:
                wall, n = await ask[name]()
                speeds[name].append(n / wall)
                tokens[name].add(n)
    await orch.aclose()
    for name, counts in tokens.items():
        print(f"{name}: completion tokens per request {sorted(counts)}")
    return speeds


def shoal_ask(config: Path, runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    walls = []
    for i in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [
                str(SHOAL),
                "ask",
                "What is the capital of France? Answer in one word.",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"shoal ask failed: {done.stderr[-500:]}")
        if i:  # the first run warms the page cache and the imports
            walls.append(wall)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ask-runs", type=int, default=3)
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(
            f"no model at {args.model}: pass --model PATH.gguf (or `shoal models pull smollm2-135m-instruct`)"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"model {args.model.name}; {args.threads} thread(s) per server; load average before {load}")
    with tempfile.TemporaryDirectory() as tmp_name:
        config = Path(tmp_name) / "local.toml"
        config.write_text(member_toml(args.model, args.threads), encoding="utf-8")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        proc = subprocess.Popen(
            [str(SHOAL), "serve", "--config", str(config), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
            speeds = asyncio.run(rows(args, f"http://127.0.0.1:{port}/v1"))
        finally:
            stopped(proc)
        walls = shoal_ask(config, args.ask_runs)
    direct = statistics.median(speeds["llama.cpp directly"])
    table: list[list[Any]] = []
    for name, values in speeds.items():
        median = statistics.median(values)
        table.append(
            [name, f"{median:.1f}", f"{min(values):.1f}", f"{max(values):.1f}", f"{median / direct:.3f}"]
        )
    print_table(
        f"Tokens per second, {args.max_tokens} tokens max, temperature 0 ({args.requests} requests per row, "
        "interleaved; median, min, max)",
        ["path", "tokens/s", "min", "max", "/ direct"],
        table,
    )
    print(
        f"\nshoal ask, warm (median of {len(walls)} after a warm-up): {statistics.median(walls):.2f} s "
        f"(runs: {', '.join(f'{w:.2f}' for w in walls)}; model load and llama.cpp start included)"
    )


if __name__ == "__main__":
    main()
