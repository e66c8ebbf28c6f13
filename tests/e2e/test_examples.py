"""Every example script runs, so the examples never rot."""

from __future__ import annotations

import subprocess
import sys

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
