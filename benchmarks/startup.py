"""Start-up cost: ``import orchestrator`` and ``shoal --help`` against ``import litellm``;
``shoal serve`` until it answers, against LiteLLM's proxy (``litellm --config``) until it does.

    python -m benchmarks.startup [--runs 5] [--serve-runs 3]

Targets: ``import orchestrator`` under 0.2 s, ``shoal --help`` under 0.5 s. ``import orchestrator``
imports each public name on first use; ``from orchestrator import Orchestrator`` is what the
library's first use costs (the engine, its models and the configuration). The proxy rows
need the baseline venv (``sh benchmarks/setup_baseline.sh``); without it they are skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks._util import print_table, timed_subprocess

CASES = {
    "python (empty)": "pass",
    "import pydantic, asyncio (floor)": "import asyncio\nfrom pydantic import BaseModel",
    "import orchestrator": "import orchestrator",
    "from orchestrator import Orchestrator": "from orchestrator import Orchestrator",
    "shoal --help": (
        "import sys, runpy; sys.argv = ['shoal', '--help']\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        runpy.run_module('orchestrator.cli', run_name='__main__')\n"
        "    except SystemExit:\n        pass"
    ),
    "import litellm (baseline)": "import litellm",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--serve-runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    results = {name: timed_subprocess(code, args.runs) for name, code in CASES.items()}
    base_wall, base_rss = results["import litellm (baseline)"]
    rows = [
        (name, wall, rss, f"{wall / base_wall:.3f}", f"{rss / base_rss:.2f}")
        for name, (wall, rss) in results.items()
    ]
    print_table(
        f"Start-up (median of {args.runs} runs)",
        ["what", "wall s", "peak RSS MB", "wall / litellm", "RSS / litellm"],
        rows,
    )
    if args.serve_runs:
        serve_ready(args.serve_runs)


def serve_ready(runs: int) -> None:
    """Seconds from launch until the proxy answers its health check, and its resident memory then."""
    from benchmarks.proxy_compare import BASELINE, rss_mb, start_litellm, start_shoal, start_upstream, stopped

    if not (BASELINE / "litellm").exists():
        print("\n(proxy start-up skipped: run `sh benchmarks/setup_baseline.sh` for the baseline)")
        return
    upstream, url = start_upstream(8, 0)
    results: dict[str, list[tuple[float, float]]] = {"shoal serve": [], "litellm --config (baseline)": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(runs):  # alternating, so load on the machine hits both alike
                for name, start in (
                    ("shoal serve", start_shoal),
                    ("litellm --config (baseline)", start_litellm),
                ):
                    proc, _, ready = start(Path(tmp), url, 1)
                    results[name].append((ready, rss_mb(proc.pid)))
                    stopped(proc)
    finally:
        stopped(upstream)
    med = {
        n: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
        for n, v in results.items()
    }
    base_wall, base_rss = med["litellm --config (baseline)"]
    rows = [(n, w, m, f"{w / base_wall:.3f}", f"{m / base_rss:.2f}") for n, (w, m) in med.items()]
    print_table(
        f"Proxy ready (GET health answers 200; median of {runs} runs, one worker)",
        ["what", "ready s", "RSS MB when ready", "ready / litellm", "RSS / litellm"],
        rows,
    )


if __name__ == "__main__":
    main()
