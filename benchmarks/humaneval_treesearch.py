"""HumanEval pass@1 of a single member, a vote over code by tests, and ``treesearch``, from a bench run.

Run the benchmark (offline; the two Qwen2.5-Coder models pulled first), then this script on its output::

    shoal bench -d humaneval -n 13 -k 1 --no-plots -c benchmarks/humaneval_treesearch/panel.toml \\
        -s single,vote4,treesearch4 -o benchmarks/humaneval_treesearch
    python benchmarks/humaneval_treesearch.py benchmarks/humaneval_treesearch

Adding ``--replay`` to the bench command regenerates every row from the recorded calls
(``benchmarks/humaneval_treesearch/calls.sqlite``) without a model. Prints a Markdown table: per
strategy the items, pass@1 with its 95% Wilson interval, calls per item and calls per solved item
(every call the strategy sent, cached or not: the cache only makes a re-run free), and for the
ensembles the items they solved that the best single member did not, and the reverse.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from orchestrator.bench.stats import wilson


def main(out: Path) -> None:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    by: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        by[row["strategy"]][row["item"]] = row
    complete = set.intersection(*(set(items) for items in by.values())) if by else set()
    items = sorted(complete, key=lambda i: int(i.split("/")[-1]) if i.split("/")[-1].isdigit() else i)
    solved = {s: {i for i in items if by[s][i]["status"] == "correct"} for s in by}
    members = [s for s in by if s.startswith("member:")]
    best = max(members, key=lambda s: len(solved[s]), default=None)
    print(f"{len(items)} HumanEval items: {items[0]} .. {items[-1]}\n" if items else "no complete item\n")
    print(
        "| strategy | pass@1 | 95% CI | calls / item | calls / solved item | solved, not by best | reverse |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in [*(s for s in by if not s.startswith("member:")), *members]:
        k, n = len(solved[name]), len(items)
        low, high = wilson(k, n)
        calls = sum(by[name][i]["calls"] for i in items)
        per_solved = f"{calls / k:.2f}" if k else "-"
        gain = len(solved[name] - solved[best]) if best and name != best else "-"
        loss = len(solved[best] - solved[name]) if best and name != best else "-"
        label = f"{name} (best member)" if name == best else name
        print(
            f"| {label} | {k}/{n} = {k / n:.0%} | {low:.0%}-{high:.0%} | {calls / n:.2f} | {per_solved} "
            f"| {gain} | {loss} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/humaneval_treesearch"))
