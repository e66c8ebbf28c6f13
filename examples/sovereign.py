"""Sovereignty and continuity from the library: policy routing, detection, failover, budgets.

Run: python examples/sovereign.py [CONFIG]   (default: examples/sovereign.toml next to this file)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orchestrator import BudgetExceeded, Orchestrator, PolicyError, load_config


async def main(config_path: Path) -> None:
    async with Orchestrator.from_config(config_path) as orch:
        # 1. The caller says the request is confidential: only members the policy allows see it.
        verdict = await orch.run("What is six times seven?", tags={"sensitivity": "confidential"})
        print(f"confidential: {verdict.answer} from {sorted(c.member for c in verdict.candidates)}")

        # 2. Nobody says so, but the question holds an API key: the detector marks it confidential.
        leaked = "My key sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZ stopped working. What is 6 x 7?"
        verdict = await orch.run(leaked)
        print(f"detected {verdict.sensitivity}: answered by {sorted(c.member for c in verdict.candidates)}")

        # 3. A budget is a clear error, not a truncated answer.
        try:
            await orch.run("What is six times seven?", tags={"max_calls": 1})
        except BudgetExceeded as exc:
            print(f"budget {exc.budget}: {exc}")

        # 4. A strategy that names a member the policy excludes fails before anything is sent.
        try:
            await orch.run(
                "What is six times seven?", strategy="cloud-only", tags={"sensitivity": "confidential"}
            )
        except PolicyError as exc:
            print(f"policy: {exc}")

    # 5. The cloud vendor is down: its seat goes to the fallback, and its breaker opens.
    config = load_config(config_path)
    cloud = config.members["cloud-us"]
    cloud.options = {**cloud.options, "fail": "server_error"}
    async with Orchestrator(config) as orch:
        for _ in range(4):
            verdict = await orch.run("What is six times seven?")
        seats = {c.member: c.replaces for c in verdict.candidates if c.ok}
        print(f"cloud down: {verdict.answer} from {sorted(seats)}; stand-ins {seats}")
        print(f"cloud breaker: {orch.gatekeeper.breakers.health('cloud-us').state}")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else here / "sovereign.toml"))
