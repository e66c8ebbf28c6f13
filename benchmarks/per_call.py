"""CPU and latency of one call: our openai_compat and litellm providers against litellm.acompletion.

    python -m benchmarks.per_call [--calls 300] [--rounds 3]

All three call the same fake upstream (a separate process, zero latency), one
call at a time; CPU is this process's CPU time per call (the upstream's is not
counted). Target: ``openai_compat`` at most a fifth of litellm's CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks._util import percentile, print_table

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MESSAGES = [{"role": "user", "content": "What is six times seven?"}]


def start_upstream(*extra: str) -> tuple[subprocess.Popen[str], str]:
    """The fake upstream in its own process (``extra``: its options, e.g. ``--latency-ms 50``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fake_upstream", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def measure(call: Callable[[], Awaitable[object]], calls: int) -> tuple[float, float, float]:
    """CPU ms per call, wall p50 ms, wall p99 ms."""
    for _ in range(20):
        await call()
    walls = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        await call()
        walls.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) / calls * 1000
    return cpu, percentile(walls, 50), percentile(walls, 99)


async def run(url: str, calls: int) -> dict[str, tuple[float, float, float]]:
    import litellm

    from orchestrator.protocols import ProviderContext
    from orchestrator.types import Call, Member
    from providers.litellm import LiteLLMProvider
    from providers.openai_compat import OpenAICompatProvider

    os.environ["FAKE_KEY"] = "sk-fake"
    context = ProviderContext(cache_dir=Path("/tmp"))
    call = Call(messages=MESSAGES, params={"temperature": 0})
    ours = OpenAICompatProvider(
        Member(name="o", provider="openai_compat", model="fake", api_base=url), context
    )
    via_litellm = LiteLLMProvider(
        Member(name="l", provider="litellm", model="openai/fake", api_base=url, api_key_env="FAKE_KEY"),
        context,
    )

    async def direct() -> object:
        return await litellm.acompletion(
            model="openai/fake", messages=MESSAGES, api_base=url, api_key="sk-fake", temperature=0
        )

    results = {
        "shoal openai_compat": await measure(lambda: ours.complete(call), calls),
        "shoal litellm provider": await measure(lambda: via_litellm.complete(call), calls),
        "litellm.acompletion (baseline)": await measure(direct, calls),
    }
    await ours.aclose()
    await via_litellm.aclose()
    await context.exit_stack.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    proc, url = start_upstream()
    try:
        rounds = [asyncio.run(run(url, args.calls)) for _ in range(args.rounds)]
    finally:
        proc.terminate()
    names = list(rounds[0])
    med = {n: tuple(statistics.median(r[n][i] for r in rounds) for i in range(3)) for n in names}
    base_cpu = med["litellm.acompletion (baseline)"][0]
    rows = [(n, cpu, p50, p99, f"{cpu / base_cpu:.3f}") for n, (cpu, p50, p99) in med.items()]
    print_table(
        f"One call, zero-latency upstream ({args.calls} calls x {args.rounds} rounds, medians)",
        ["path", "CPU ms/call", "wall p50 ms", "wall p99 ms", "CPU / litellm"],
        rows,
    )


if __name__ == "__main__":
    main()
