"""Every example script runs, so the examples never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_library_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "library.py")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "answer: 42" in result.stdout
    assert "confidence: 0.67" in result.stdout
    assert "single member says: 42" in result.stdout


def test_sample_configs_are_valid() -> None:
    for path in sorted((REPO / "examples").glob("*.toml")):
        result = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", "config", "check", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{path.name}: {result.stderr}"


def test_bench_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "bench.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "single: accuracy" in result.stdout and "vote: accuracy" in result.stdout
    assert "McNemar p" in result.stdout
    assert "model calls made: 45" in result.stdout  # 15 items x 3 members, every other call cached
    for name in ("results.jsonl", "summary.json", "report.md", "accuracy_cost.png", "error_correlation.png"):
        assert (tmp_path / name).is_file(), name
