"""Start-up cost: ``import orchestrator`` and ``shoal --help`` against ``import litellm``.

    python -m benchmarks.startup [--runs 5]

Targets: ``import orchestrator`` under 0.3 s, ``shoal --help`` under 0.5 s.
"""

from __future__ import annotations

import argparse
import os

from benchmarks._util import print_table, timed_subprocess

CASES = {
    "python (empty)": "pass",
    "import orchestrator": "import orchestrator",
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


if __name__ == "__main__":
    main()
