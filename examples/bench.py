"""A benchmark that runs anywhere: simulated members on the shipped sample (no model, no network).

    python examples/bench.py [OUT_DIR]

does what this command does, through the library::

    shoal bench -d examples/data/sample.jsonl -s single,vote -c examples/bench.toml -o OUT_DIR

and prints each strategy's accuracy with its 95% interval, the paired test of
vote against single, and what the panel could reach.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from orchestrator.bench.datasets import load_items
from orchestrator.bench.report import build_summary, write_outputs
from orchestrator.bench.runner import BenchRunner, BenchSettings
from orchestrator.config import load_config

HERE = Path(__file__).resolve().parent


def main(out: Path) -> None:
    items, dataset = load_items(str(HERE / "data" / "sample.jsonl"))
    config = load_config(HERE / "bench.toml")
    runner = BenchRunner(config, items, dataset, BenchSettings(strategies=["single", "vote"], out=out))
    runner.prepare()
    outcome = asyncio.run(runner.run())
    summary = build_summary(outcome, dataset)
    files = write_outputs(out, summary, plots=True)

    for name, stats in summary["strategies"].items():
        low, high = stats["accuracy_ci95"]
        print(f"{name}: accuracy {stats['accuracy']:.2f} [{low:.2f}, {high:.2f}] over {stats['n']} items")
    vs = summary["strategies"]["vote"]["vs_baseline"]
    print(f"vote - single: {vs['diff']:+.2f}, McNemar p = {vs['p_value']:.3f}")
    panel = summary["panel"]
    print(f"oracle: {panel['oracle']['accuracy']:.2f}; best single member: {panel['best_single']['member']}")
    print(
        f"model calls made: {summary['run']['new_calls']},"
        f" served from the cache: {summary['run']['cached_calls']}"
    )
    print("wrote " + ", ".join(p.name for p in files))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="shoal-bench-")))
