"""The whole path with the real default panel: llama.cpp models answering through router, panel and vote."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestrator.config import load_config
from orchestrator.engine import Orchestrator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models_present() -> None:
    config = load_config(None) if not os.path.exists("shoal.toml") else None
    from orchestrator.registry import Registry

    store = Registry().provider("local").model_store((config or load_config()).cache_dir())
    missing = [s.name for s in store.list() if not s.present and not store.model(s.name).opt_in]  # as pulled
    if missing:
        pytest.fail(f"local models missing: {missing}; run `shoal models pull` first")


def test_default_panel_answers_paris_offline(models_present: None, tmp_cwd, monkeypatch) -> None:
    monkeypatch.setenv("SHOAL_OFFLINE", "1")
    orch = Orchestrator.from_config()
    verdict = orch.run_sync("What is the capital of France?")
    assert "paris" in verdict.answer.lower()
    assert verdict.strategy == "vote"
    assert len(verdict.candidates) == 3
    assert all(c.ok for c in verdict.candidates), verdict.failures
    assert verdict.usage.total_tokens > 0
    assert verdict.confidence >= 2 / 3


def test_cli_ask_json_with_the_default_panel(models_present: None, tmp_cwd) -> None:
    env = {**os.environ, "SHOAL_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "ask", "What is the capital of Japan?", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "tokyo" in out["answer"].lower()
    assert {c["member"] for c in out["candidates"]} == {"smollm2", "gemma3", "smollm2-warm"}
