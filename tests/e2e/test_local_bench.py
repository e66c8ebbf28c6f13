"""``shoal bench`` with the real default panel: record a few items, then replay them with no model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOAL_OFFLINE": "1", "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_local_panel_bench_records_then_replays_exactly(tmp_cwd: Path) -> None:
    sample = str(REPO / "examples" / "data" / "sample.jsonl")
    common = ["-d", sample, "-n", "4", "-s", "single,vote", "-k", "2"]
    recorded = bench(*common, "-o", "rec")
    assert recorded.returncode == 0, recorded.stderr
    summary = json.loads(Path("rec/summary.json").read_text())
    assert summary["run"]["new_calls"] == 4 * 3  # three members, once per item
    assert set(summary["members"]) == {"smollm2", "gemma3", "smollm2-warm"}
    rows = [json.loads(line) for line in Path("rec/results.jsonl").read_text().splitlines()]
    assert all(r["status"] in ("correct", "wrong", "abstained") for r in rows), rows
    assert all(r["tokens"] > 0 for r in rows)
    assert Path("rec/accuracy_cost.png").is_file() and Path("rec/error_correlation.png").is_file()

    replayed = bench(*common, "-o", "rep", "--replay", "--cache", "rec/calls.sqlite")
    assert replayed.returncode == 0, replayed.stderr
    again = json.loads(Path("rep/summary.json").read_text())
    assert again["run"]["new_calls"] == 0 and again["run"]["replay_misses"] == 0
    for key in ("strategies", "members", "panel"):
        assert again[key] == summary[key], key
