"""Shoal as a library: ask a panel, read the verdict.

Run: python examples/library.py [CONFIG]   (default: examples/scripted.toml next to this file)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orchestrator import Orchestrator


async def main(config: Path) -> None:
    async with Orchestrator.from_config(config) as orch:
        verdict = await orch.run("What is six times seven?", strategy="vote")
        print(f"answer: {verdict.answer}")
        print(f"confidence: {verdict.confidence:.2f}")
        for cluster in verdict.clusters:
            print(f"  {cluster.answer!r}: {', '.join(cluster.members)}")
        print(f"calls: {verdict.calls}, tokens: {verdict.usage.total_tokens}, cost: ${verdict.cost_usd:.6f}")


def main_sync(config: Path) -> None:
    # The synchronous form, for scripts without an event loop of their own.
    single = Orchestrator.from_config(config).run_sync("What is six times seven?", strategy="single")
    print(f"single member says: {single.answer} (confidence {single.confidence:.2f})")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "scripted.toml"
    asyncio.run(main(path))
    main_sync(path)
