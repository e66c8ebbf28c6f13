"""The figures draw for any outcome, including all-wrong and all-right runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.bench.report import build_summary, render_markdown, write_outputs
from orchestrator.bench.runner import BenchOutcome


def outcome(statuses: dict[str, str]) -> BenchOutcome:
    rows = [
        {"item": f"q{i}", "strategy": name, "status": status, "calls": 1, "tokens": 5, "cost_usd": 0.0,
         "latency_s": 0.1, "extracted": "x"}
        for name, status in statuses.items()
        for i in range(10)
    ]  # fmt: skip
    return BenchOutcome(
        rows=rows,
        strategies=["single", "vote"],
        members=["a", "b"],
        baseline="single",
        new_calls=0,
        cached_calls=0,
        replay_misses=0,
        elapsed_s=0.0,
        complete=True,
        item_ids=[f"q{i}" for i in range(10)],
    )


@pytest.mark.parametrize("status", ["wrong", "correct", "error"])
def test_plots_and_report_for_extreme_outcomes(tmp_path: Path, status: str) -> None:
    summary = build_summary(
        outcome({"single": status, "vote": status, "member:a": status, "member:b": "wrong"}), {"name": "t"}
    )
    files = write_outputs(tmp_path, summary)
    assert [f.name for f in files] == [
        "summary.json",
        "report.md",
        "report.html",
        "accuracy_cost.png",
        "error_correlation.png",
        "reliability.png",
    ]
    assert all(f.stat().st_size > 0 for f in files)
    assert "n/a" in render_markdown(summary) or "-" in render_markdown(summary)
