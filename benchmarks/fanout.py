"""Fan-out: the engine's own overhead per request for a panel of 5.

    python -m benchmarks.fanout [--requests 300]

Same five ``openai_compat`` members against a zero-latency fake upstream
(separate process), asked two ways in one run: the bare calls
(``asyncio.gather`` of the five ``provider.complete``) and a full
``Orchestrator.run`` (route, panel, retries wrapper, vote, verdict). The
difference is the engine's overhead. Target: under 1 ms at p50.
"""

from __future__ import annotations

import argparse
import asyncio
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
        + '\n[strategies.vote]\nkind = "vote"\n[defaults]\nstrategy = "vote"\n'
    )


async def run(url: str, requests: int) -> dict[str, list[float]]:
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
    for _ in range(30):
        await bare()
        await engine()
    for _ in range(requests):  # interleaved, so load on the machine hits both alike
        for name, fn in (("bare calls (gather of 5)", bare), ("Orchestrator.run (vote of 5)", engine)):
            t0 = time.perf_counter()
            await fn()
            timings[name].append((time.perf_counter() - t0) * 1000)
    await orch.aclose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    proc, url = start_upstream()
    try:
        timings = asyncio.run(run(url, args.requests))
    finally:
        proc.terminate()
    base, ours = timings.values()
    rows = [(name, percentile(t, 50), percentile(t, 95), percentile(t, 99)) for name, t in timings.items()]
    rows.append(
        (
            "engine overhead (difference)",
            percentile(ours, 50) - percentile(base, 50),
            percentile(ours, 95) - percentile(base, 95),
            percentile(ours, 99) - percentile(base, 99),
        )
    )
    print_table(
        f"Panel of {MEMBERS}, zero-latency upstream ({args.requests} requests each, interleaved)",
        ["what", "p50 ms", "p95 ms", "p99 ms"],
        rows,
    )
    print(f"\nratio p50 engine / bare: {percentile(ours, 50) / percentile(base, 50):.2f}")


if __name__ == "__main__":
    main()
