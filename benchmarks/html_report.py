"""How fast report.html opens for a large run, against the same results as one static HTML table.

    python -m benchmarks.html_report [--items 1000] [--strategies 5] [--members 3] [--runs 3]

Both pages are opened in headless Debian ``chromium`` (selenium + ``chromedriver``)
from a fresh profile; each row prints the median time from navigation to the page
being usable (``loadEventEnd``: our script has built the filters and drawn the
rows in view by then), the DOM nodes and the JS heap. The baseline renders every
result as a table row, which is what a report without a virtualised list does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from html import escape
from pathlib import Path
from typing import Any

from benchmarks._util import print_table
from orchestrator.bench.htmlreport import REPORT_HTML, render_html
from orchestrator.bench.report import build_summary
from orchestrator.bench.runner import MEMBER_PREFIX, BenchOutcome

__all__ = ["synthetic_report", "synthetic_rows"]


def synthetic_rows(
    items: int, strategies: int, members: int, seed: int = 0
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Result rows as ``shoal bench`` writes them, for ``items`` x (strategies + members)."""
    rng = random.Random(seed)
    names = [f"strategy{k}" for k in range(strategies)]
    crew = [f"m{k}" for k in range(members)]
    rows: list[dict[str, Any]] = []
    for i in range(items):
        gold = str(rng.randint(1, 999))
        answers = {m: gold if rng.random() < 0.7 else str(rng.randint(1, 999)) for m in crew}
        question = f"Item {i}: " + " ".join(
            rng.choice(["how", "many", "apples", "are", "left", "if"]) for _ in range(40)
        )
        for name in [*names, *(MEMBER_PREFIX + m for m in crew)]:
            voters = crew if not name.startswith(MEMBER_PREFIX) else [name.removeprefix(MEMBER_PREFIX)]
            clusters: dict[str, list[str]] = {}
            for m in voters:
                clusters.setdefault(answers[m], []).append(m)
            ranked = sorted(clusters.items(), key=lambda kv: -len(kv[1]))
            answer, agreeing = ranked[0]
            confidence = len(agreeing) / len(voters)
            abstained = not name.startswith(MEMBER_PREFIX) and confidence < 0.5 and rng.random() < 0.5
            status = "abstained" if abstained else "correct" if answer == gold else "wrong"
            rows.append(
                {
                    "item": f"item-{i:05d}",
                    "strategy": name,
                    "fp": "synthetic",
                    "answer_type": "number",
                    "gold": gold,
                    "status": status,
                    "answer": f"The answer is {answer}.",
                    "extracted": None if abstained else answer,
                    "confidence": confidence,
                    "calls": len(voters),
                    "cached_calls": 0,
                    "tokens": 40 * len(voters),
                    "cost_usd": 0.0001 * len(voters),
                    "latency_s": rng.random(),
                    "wall_s": rng.random(),
                    "error": None,
                    "note": None,
                    "notes": ["abstaining"] if abstained else [],
                    "candidates": [
                        {"member": m, "role": "answer", "text": f"I think it is {answers[m]}.", "error": None}
                        for m in voters
                    ],
                    "question": question,
                    "clusters": [
                        {"answer": a, "members": ms, "weight": float(len(ms)), "key": a} for a, ms in ranked
                    ],
                }
            )
    return rows, names, crew


def synthetic_report(out: Path, *, items: int, strategies: int, members: int) -> Path:
    rows, names, crew = synthetic_rows(items, strategies, members)
    outcome = BenchOutcome(
        rows=rows,
        strategies=names,
        members=crew,
        baseline=names[0],
        new_calls=0,
        cached_calls=0,
        replay_misses=0,
        elapsed_s=0.0,
        complete=True,
        item_ids=sorted({r["item"] for r in rows}),
    )
    summary = build_summary(outcome, {"name": "synthetic", "licence": "-"})
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = out / REPORT_HTML
    path.write_text(render_html(summary, rows), encoding="utf-8")
    return path


def static_table(rows: list[dict[str, Any]], out: Path) -> Path:
    """The baseline: every result drawn as a table row up front."""
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(r[k]))}</td>"
            for k in ("item", "strategy", "status", "answer", "confidence", "gold")
        )
        + f"<td>{escape(r['question'])}</td></tr>"
        for r in rows
    )
    path = out / "static.html"
    path.write_text(f"<!doctype html><meta charset=utf-8><table>{cells}</table>", encoding="utf-8")
    return path


def measure(driver: Any, path: Path) -> tuple[float, int, float]:
    driver.get(path.as_uri())
    return (
        driver.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd"),
        driver.execute_script("return document.getElementsByTagName('*').length"),
        driver.execute_script("return performance.memory ? performance.memory.usedJSHeapSize / 1048576 : 0"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--strategies", type=int, default=5)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/shoal-html-bench"))
    args = parser.parse_args()
    from tests.browser import chromium

    ours = synthetic_report(args.out, items=args.items, strategies=args.strategies, members=args.members)
    rows, _, _ = synthetic_rows(args.items, args.strategies, args.members)
    baseline = static_table(rows, args.out)
    results: dict[str, list[tuple[float, int, float]]] = {"report.html": [], "static table (baseline)": []}
    for _ in range(args.runs):
        for name, path in (("report.html", ours), ("static table (baseline)", baseline)):
            with chromium() as driver:
                results[name].append(measure(driver, path))
    table = []
    for name, path in (("report.html", ours), ("static table (baseline)", baseline)):
        got = results[name]
        table.append(
            [
                name,
                f"{path.stat().st_size / 1e6:.1f} MB",
                f"{statistics.median(g[0] for g in got):.0f} ms",
                statistics.median(g[1] for g in got),
                f"{statistics.median(g[2] for g in got):.1f} MB",
            ]
        )
    ratio = statistics.median(g[0] for g in results["report.html"]) / max(
        1.0, statistics.median(g[0] for g in results["static table (baseline)"])
    )
    print_table(
        f"Opening {len(rows):,} results ({args.items} items x {args.strategies + args.members})"
        f" in headless chromium, median of {args.runs}; load time ratio ours/baseline {ratio:.2f}",
        ["page", "size", "load", "DOM nodes", "JS heap"],
        table,
    )


if __name__ == "__main__":
    main()
