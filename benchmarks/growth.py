"""How Shoal's own cost grows with the panel, the prompt and the number of workers.

    python -m benchmarks.growth [--panels 3 10 30 100] [--prompts 1024 102400 1048576] [--workers 1 2 4]

Two parts, each printing CPU per request and CPU per member (or per KB), so that a
curve that is not linear shows as a per-unit figure that grows:

- **Engine** (in this process): ``Orchestrator.run`` routed automatically (the
  classifier, the detector and the policy scan of the whole prompt included) to a vote
  over N members whose provider answers at once without any I/O (a provider registered
  for this benchmark), so all the CPU measured is the engine's: request validation,
  sensitivity clearance, routing, admission, the panel's per-call wrapper, tallying,
  the verdict. Every panel size with every prompt size.
- **Proxy** (``shoal serve`` in its own process, in front of the zero-latency fake
  upstream, loaded by :mod:`benchmarks.loadgen` in closed loop): CPU of the server's
  processes per request for a vote over N ``openai_compat`` members, for prompt sizes
  (a pass-through and a vote of 3), and for 1, 2 and 4 worker processes (pass-through).

Prompts are context text followed by a question (see :func:`benchmarks.loadgen.prompt_of`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._util import print_table
from benchmarks.loadgen import prompt_of
from benchmarks.proxy_compare import ROOT, SHOAL, free_port, start_upstream, stopped, wait_http
from benchmarks.proxy_latency import cpu_seconds


class Instant:
    """A provider that answers "42" at once: no I/O, no work (the engine is all that is measured)."""

    def __init__(self, member: Any, context: Any) -> None:
        from orchestrator.types import Completion, Usage

        self._completion = Completion(text="42", model="instant", usage=Usage.of(10, 1), finish_reason="stop")

    async def complete(self, call: Any) -> Any:
        return self._completion

    async def stream(self, call: Any) -> Any:
        from orchestrator.protocols import StreamDelta

        yield StreamDelta(text="42")
        yield StreamDelta(finish_reason="stop", completion=self._completion)

    async def aclose(self) -> None:
        return None


def panel_toml(members: int, provider: str, api_base: str | None = None) -> str:
    lines = []
    for i in range(members):
        lines += [f"[members.m{i}]", f'provider = "{provider}"', 'model = "fake"', "max_retries = 0"]
        if api_base:
            lines.append(f'api_base = "{api_base}"')
        lines.append("")
    names = ", ".join(f'"m{i}"' for i in range(members))
    lines += [
        "[teams.panel]",
        f"members = [{names}]",
        "[strategies.vote]",
        'kind = "vote"',
        'team = "panel"',
        "[defaults]",
        'strategy = "vote"',
        'team = "panel"',
        f"max_concurrency = {max(8, members)}",
        "[server]",
        "max_concurrent_requests = 4096",
    ]
    return "\n".join(lines) + "\n"


async def engine_cell(members: int, prompt_bytes: int, budget_s: float) -> tuple[float, float, int]:
    """CPU ms per request, wall p50 ms, requests: an automatically routed vote over ``members``."""
    from orchestrator.config import parse_config
    from orchestrator.engine import Orchestrator
    from orchestrator.registry import Registry

    registry = Registry()
    registry.register("provider", "instant", Instant)
    config = parse_config(panel_toml(members, "instant"), source="growth", registry=registry)
    orch = Orchestrator(config, registry=registry)
    messages = [{"role": "user", "content": prompt_of(prompt_bytes)}]
    for _ in range(3):  # warm-up: strategy objects, matchers, regex compilation
        verdict = await orch.run(messages)
    assert verdict.answer == "42" and verdict.calls == members, verdict
    walls: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    while len(walls) < 5 or time.perf_counter() - started < budget_s:
        t0 = time.perf_counter()
        await orch.run(messages)
        walls.append((time.perf_counter() - t0) * 1000)
        if len(walls) >= 2000:
            break
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(walls)
    await orch.aclose()
    return cpu_ms, statistics.median(walls), len(walls)


def engine_part(args: argparse.Namespace) -> None:
    rows = []
    for prompt in args.prompts:
        for members in args.panels:
            cpu_ms, wall, n = asyncio.run(engine_cell(members, prompt, args.budget_s))
            rows.append(
                [members, _size(prompt), f"{cpu_ms:.3f}", f"{cpu_ms / members:.4f}", f"{wall:.3f}", n]
            )
    print_table(
        "Engine: CPU per request, vote over N instant members, routed automatically (this process)",
        ["members", "prompt", "cpu ms/req", "cpu ms/member", "wall p50 ms", "requests"],
        rows,
    )


def serve(tmp: Path, toml: str, workers: int) -> tuple[subprocess.Popen[str], str]:
    config = tmp / f"growth-{time.monotonic_ns()}.toml"
    config.write_text(toml, encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    proc = subprocess.Popen(
        [str(SHOAL), "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("a"),
        text=True,
        env=env,
    )
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


def closed(url: str, model: str, requests: int, clients: int, prompt_bytes: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.loadgen", "--url", url, "--model", model),
            *("--closed", str(clients), "--requests", str(requests), "--prompt-bytes", str(prompt_bytes)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout))


def proxy_cell(
    tmp: Path, upstream: str, members: int, model: str, prompt_bytes: int, workers: int, requests: int
) -> tuple[float | None, float, float | None, int]:
    """Server CPU ms per request, req/s, p50 ms and errors, closed loop of 4 clients."""
    proc, url = serve(tmp, panel_toml(members, "openai_compat", upstream), workers)
    try:
        closed(url, model, max(20, requests // 5), 4, prompt_bytes)  # warm-up (every worker)
        before = cpu_seconds(proc.pid)
        out = closed(url, model, requests, 4, prompt_bytes)
        after = cpu_seconds(proc.pid)
    finally:
        stopped(proc)
    cpu = (after - before) * 1000 / out["sent"] if before is not None and after is not None else None
    errors = out["sent"] - out["ok"]
    return cpu, float(out["achieved_rate"]), out["latency_ms"]["p50"], errors


def proxy_part(args: argparse.Namespace) -> None:
    upstream_proc, upstream = start_upstream(8, 0.0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        try:
            rows = []
            for members in [1, *args.panels]:
                model = "m0" if members == 1 else "shoal/vote"
                requests = max(40, args.proxy_requests // max(1, members // 3))
                cpu, rate, p50, errors = proxy_cell(tmp, upstream, members, model, 1024, 1, requests)
                per = cpu / members if cpu is not None else None
                rows.append([members, "1 KB", model, _f(cpu), _f(per, 4), f"{rate:.0f}", _f(p50, 2), errors])
            print_table(
                "Proxy: server CPU per request by panel size (1 KB prompt, 1 worker, closed loop of 4)",
                ["members", "prompt", "model", "cpu ms/req", "cpu ms/member", "req/s", "p50 ms", "errors"],
                rows,
            )
            rows = []
            for members, model in ((1, "m0"), (3, "shoal/vote")):
                for prompt in args.prompts:
                    requests = max(30, int(args.proxy_requests * 1024 / max(1024, prompt)) * 4)
                    requests = min(requests, args.proxy_requests)
                    cpu, rate, p50, errors = proxy_cell(tmp, upstream, members, model, prompt, 1, requests)
                    per_kb = cpu / (prompt / 1024) if cpu is not None else None
                    rows.append(
                        [model, _size(prompt), _f(cpu), _f(per_kb, 4), f"{rate:.0f}", _f(p50, 2), errors]
                    )
            print_table(
                "Proxy: server CPU per request by prompt size (1 worker, closed loop of 4)",
                ["model", "prompt", "cpu ms/req", "cpu ms/KB", "req/s", "p50 ms", "errors"],
                rows,
            )
            rows = []
            for workers in args.workers:
                cpu, rate, p50, errors = proxy_cell(
                    tmp, upstream, 1, "m0", 1024, workers, args.proxy_requests * 2
                )
                rows.append([workers, _f(cpu), f"{rate:.0f}", _f(p50, 2), errors])
            print_table(
                f"Proxy: workers (pass-through, 1 KB prompt, closed loop of 4; {os.cpu_count()} cores)",
                ["workers", "cpu ms/req (all workers)", "req/s", "p50 ms", "errors"],
                rows,
            )
        finally:
            stopped(upstream_proc)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB" if n >= 1024 else f"{n} B"


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--panels", type=int, nargs="+", default=[3, 10, 30, 100])
    parser.add_argument("--prompts", type=int, nargs="+", default=[1024, 100 * 1024, 1024 * 1024])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--budget-s", type=float, default=1.5, help="seconds of requests per engine cell")
    parser.add_argument("--proxy-requests", type=int, default=1500, help="requests per proxy row (scaled)")
    parser.add_argument("--skip-proxy", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; load average before {load}")
    engine_part(args)
    if not args.skip_proxy:
        proxy_part(args)
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
