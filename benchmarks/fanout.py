"""Fan-out: the engine's own overhead per request for a panel of 5, and what early exit buys.

    python -m benchmarks.fanout [--requests 300] [--slow-requests 150]

Same five ``openai_compat`` members against a zero-latency fake upstream
(separate process), asked two ways in one run: the bare calls
(``asyncio.gather`` of the five ``provider.complete``) and a full
``Orchestrator.run`` (route, panel, retries wrapper, vote, verdict). The
difference is the engine's overhead (wall p50, and CPU of this process per request, which
load on the machine does not inflate). Target: under 0.5 ms at p50.

Then, against an upstream whose latency is lognormal (median ``--median-ms``,
sigma ``--sigma``, drawn per call), a vote of 5 that waits for all against one
with ``early_exit`` (every member agrees, so the third answer decides it), each
beside the order statistic it should approach: the expected 3rd and 5th of 5
draws, computed by simulation. Target: early exit within 15% of the 3rd.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from benchmarks._util import percentile, print_table
from benchmarks.per_call import start_upstream

MEMBERS = 5


def config_text(url: str) -> str:
    return (
        "\n".join(
            f'[members.m{i}]\nprovider = "openai_compat"\nmodel = "fake"\napi_base = "{url}"\n'
            for i in range(MEMBERS)
        )
        + '\n[strategies.vote]\nkind = "vote"\n[strategies.early]\nkind = "vote"\nearly_exit = true\n'
        + '[defaults]\nstrategy = "vote"\n'
    )


def order_statistic(k: int, n: int, median_ms: float, sigma: float, draws: int = 200_000) -> float:
    """Expected k-th smallest of n lognormal latencies (median ``median_ms``), by simulation."""
    rng = random.Random(7)
    total = 0.0
    for _ in range(draws // n):
        total += sorted(median_ms * rng.lognormvariate(0, sigma) for _ in range(n))[k - 1]
    return total / (draws // n)


async def run_slow(url: str, requests: int) -> dict[str, list[float]]:
    from orchestrator.config import parse_config
    from orchestrator.engine import Orchestrator

    orch = Orchestrator(parse_config(config_text(url), source="bench"))
    messages = [{"role": "user", "content": "What is six times seven?"}]
    timings: dict[str, list[float]] = {"vote, waits for all": [], "vote, early_exit": []}
    for _ in range(5):
        await orch.run(messages, strategy="vote")
        await orch.run(messages, strategy="early")
    for _ in range(requests):
        for name, strategy in (("vote, waits for all", "vote"), ("vote, early_exit", "early")):
            t0 = time.perf_counter()
            verdict = await orch.run(messages, strategy=strategy)
            timings[name].append((time.perf_counter() - t0) * 1000)
            assert verdict.answer == "42", verdict
    await orch.aclose()
    return timings


def report_slow(timings: dict[str, list[float]], args: argparse.Namespace) -> None:
    expected = {
        "vote, waits for all": order_statistic(MEMBERS, MEMBERS, args.median_ms, args.sigma),
        "vote, early_exit": order_statistic(MEMBERS // 2 + 1, MEMBERS, args.median_ms, args.sigma),
    }
    rows = []
    for name, walls in timings.items():
        mean = statistics.fmean(walls)
        rows.append(
            (
                name,
                mean,
                percentile(walls, 50),
                percentile(walls, 99),
                expected[name],
                f"{mean / expected[name]:.3f}",
            )
        )
    print_table(
        f"Panel of {MEMBERS}, lognormal upstream (median {args.median_ms:.0f} ms, sigma {args.sigma}; "
        f"{args.slow_requests} requests each, interleaved)",
        ["what", "mean ms", "p50 ms", "p99 ms", "expected order statistic ms", "mean / expected"],
        rows,
    )
    saved = 1 - statistics.fmean(timings["vote, early_exit"]) / statistics.fmean(
        timings["vote, waits for all"]
    )
    print(f"\nearly exit saves {saved:.0%} of the wall time of waiting for all")


async def run(url: str, requests: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall ms and CPU ms (this process: the engine and the HTTP client; the upstream runs in its
    own) of each request, by what was run."""
    from orchestrator.config import parse_config
    from orchestrator.engine import Orchestrator
    from orchestrator.types import Call

    orch = Orchestrator(parse_config(config_text(url), source="bench"))
    members = list(orch.config.members.values())
    providers = [orch.provider_for(m) for m in members]
    messages = [{"role": "user", "content": "What is six times seven?"}]
    call = Call(messages=messages)

    async def bare() -> None:
        await asyncio.gather(*(p.complete(call) for p in providers))

    async def engine() -> None:
        await orch.run(messages, strategy="vote")

    timings: dict[str, list[float]] = {"bare calls (gather of 5)": [], "Orchestrator.run (vote of 5)": []}
    cpu: dict[str, list[float]] = {name: [] for name in timings}
    for _ in range(30):
        await bare()
        await engine()
    for _ in range(requests):  # interleaved, so load on the machine hits both alike
        for name, fn in (("bare calls (gather of 5)", bare), ("Orchestrator.run (vote of 5)", engine)):
            c0, t0 = time.process_time(), time.perf_counter()
            await fn()
            timings[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
    await orch.aclose()
    return timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--slow-requests", type=int, default=150)
    parser.add_argument("--median-ms", type=float, default=100.0)
    parser.add_argument("--sigma", type=float, default=0.6)
    args = parser.parse_args()
    proc, url = start_upstream()
    try:
        timings, cpu = asyncio.run(run(url, args.requests))
    finally:
        proc.terminate()
    base, ours = timings.values()
    base_cpu, our_cpu = (statistics.fmean(c) for c in cpu.values())
    rows = [
        (name, percentile(t, 50), percentile(t, 95), percentile(t, 99), statistics.fmean(cpu[name]))
        for name, t in timings.items()
    ]
    rows.append(
        (
            "engine overhead (difference)",
            percentile(ours, 50) - percentile(base, 50),
            percentile(ours, 95) - percentile(base, 95),
            percentile(ours, 99) - percentile(base, 99),
            our_cpu - base_cpu,
        )
    )
    print_table(
        f"Panel of {MEMBERS}, zero-latency upstream ({args.requests} requests each, interleaved)",
        ["what", "p50 ms", "p95 ms", "p99 ms", "CPU ms/req (mean)"],
        rows,
    )
    print(f"\nratio p50 engine / bare: {percentile(ours, 50) / percentile(base, 50):.2f}")
    print(
        f"engine CPU overhead per request: {our_cpu - base_cpu:.3f} ms (the wall difference under load"
        " mixes in waiting for the shared cores; this is the engine's own work)"
    )
    if args.slow_requests:
        extra = ("--latency-ms", str(args.median_ms), "--lognormal-sigma", str(args.sigma))
        proc, url = start_upstream(*extra)
        try:
            slow = asyncio.run(run_slow(url, args.slow_requests))
        finally:
            proc.terminate()
        report_slow(slow, args)


if __name__ == "__main__":
    main()
