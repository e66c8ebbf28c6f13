"""report.html without a browser: self-contained, every result embedded, hostile text inert, plots."""

from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

import orchestrator.bench.svgplots as svgplots
import orchestrator.telemetry as telemetry
from benchmarks.html_report import synthetic_report, synthetic_rows
from orchestrator.bench.htmlreport import page_data
from orchestrator.bench.svgplots import reliability_bins, risk_coverage


def embedded(html: str) -> dict:
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert blob is not None
    return json.loads(blob.group(1))


def test_the_page_is_one_file_with_every_result_and_nothing_to_fetch(tmp_path: Path) -> None:
    path = synthetic_report(tmp_path, items=30, strategies=2, members=3)
    html = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    data = embedded(html)
    assert data["names"] == ["strategy0", "strategy1", "member:m0", "member:m1", "member:m2"]
    assert len(data["items"]) == 30 and len(data["results"]) == 30 * 5
    assert html.count("<svg") == 4  # accuracy vs cost, reliability, risk-coverage, error correlation
    assert "data-tip=" in html


def test_hostile_text_cannot_close_the_data_script(tmp_path: Path) -> None:
    rows, names, crew = synthetic_rows(2, 1, 2)
    rows[0]["question"] = "</script><script>alert(1)</script><!--"
    summary = {"strategies": {n: {} for n in names}, "members": {m: {} for m in crew}, "baseline": names[0]}
    data = page_data(summary, rows)
    assert data["items"][0]["q"] == "</script><script>alert(1)</script><!--"
    from orchestrator.bench.htmlreport import render_html
    from orchestrator.bench.report import build_summary
    from orchestrator.bench.runner import BenchOutcome

    outcome = BenchOutcome(rows, names, crew, names[0], 0, 0, 0, 0.0, True, sorted({r["item"] for r in rows}))
    html = render_html(build_summary(outcome, {"name": "<b>x</b>"}), rows)
    assert html.count("<script>alert(1)") == 0 and "<b>x</b>" not in html
    assert embedded(html)["items"][0]["q"] == rows[0]["question"]


def test_a_rerun_line_replaces_the_older_one_and_other_strategies_are_left_out() -> None:
    rows, names, crew = synthetic_rows(1, 1, 1)
    newer = {**rows[0], "status": "correct", "answer": "new"}
    stale = {**rows[0], "strategy": "gone"}
    summary = {"strategies": {names[0]: {}}, "members": {crew[0]: {}}, "baseline": names[0]}
    data = page_data(summary, [*rows, newer, stale])
    assert [(r["s"], r["a"]) for r in data["results"]] == [(0, "new"), (1, rows[1]["answer"])]


def test_reliability_and_risk_coverage_by_hand() -> None:
    rows = [
        {"status": "correct", "confidence": 1.0},
        {"status": "correct", "confidence": 0.9},
        {"status": "wrong", "confidence": 0.6},
        {"status": "wrong", "confidence": 0.3},
        {"status": "abstained", "confidence": 0.2},
    ]
    bins = {b["low"]: b for b in reliability_bins(rows) if b["n"]}
    assert bins[0.9] == {"low": 0.9, "high": 1.0, "n": 2, "confidence": 0.95, "accuracy": 1.0}
    assert bins[0.6]["accuracy"] == 0.0 and bins[0.3]["n"] == 1 and 0.2 not in bins  # abstained: not answered
    # most confident first, over all 5 items: 1 right, 2 right, then wrong, wrong
    assert risk_coverage(rows) == [(0.2, 0.0), (0.4, 0.0), (0.6, 1 / 3), (0.8, 0.5)]


def test_doctests() -> None:
    for module in (svgplots, telemetry):
        assert doctest.testmod(module).failed == 0
