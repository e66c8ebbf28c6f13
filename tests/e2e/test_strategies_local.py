"""Every strategy kind end to end with the real local models (SmolLM2 135M, Gemma 3 270M base), offline.

These tiny models are not good judges or writers; the tests check that each
strategy's calls really happen against llama.cpp (roles, counts, tokens) and
that the verdict is well-formed and honest about what happened, not that the
models are right. Outputs are kept short (small ``max_tokens``).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.types import Verdict

pytestmark = pytest.mark.slow

CONFIG = """
[members.smollm2]
provider = "local"
model = "smollm2-135m-instruct"
params = { temperature = 0.0, max_tokens = 24, seed = 1 }

[members.gemma3]
provider = "local"
model = "gemma3-270m"
params = { temperature = 0.0, max_tokens = 16, seed = 1 }

[members.smollm2-warm]
provider = "local"
model = "smollm2-135m-instruct"
params = { temperature = 0.7, max_tokens = 24, seed = 7 }

[teams.local]
members = ["smollm2", "gemma3", "smollm2-warm"]

[teams.smol]
members = ["smollm2", "smollm2-warm"]

[strategies.vote]
kind = "vote"
team = "local"
early_exit = true

[strategies.judge]
kind = "judge"
team = "smol"
judges = ["gemma3"]
answer_type = "number"

[strategies.fusion]
kind = "fusion"
team = "local"
aggregator = ["smollm2", "gemma3"]

[strategies.debate]
kind = "debate"
team = "local"
rounds = 1
stop_when_unanimous = false

[strategies.one]
kind = "single"
member = "smollm2"

[strategies.cascade]
kind = "cascade"
first = "one"        # a single answer is capped at 0.5 confidence: always escalates
then = "judge"
escalate_below = 0.7

[strategies.council]
kind = "council"
team = "local"
chairman = ["smollm2", "gemma3"]

[defaults]
offline = true
timeout_s = 120
"""

QUESTION = "What is the capital of France? Answer in one word."
# The two SmolLM2 samplings disagree on this one, so the judge has a choice to make.
SPLIT_QUESTION = "How many legs do 3 spiders have?"


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Verdict]:
    config = parse_config(CONFIG, source="e2e-strategies.toml")

    async def run_all() -> dict[str, Verdict]:
        async with Orchestrator(config) as orch:
            return {
                name: await orch.run(
                    SPLIT_QUESTION if name in ("judge", "cascade") else QUESTION, strategy=name
                )
                for name in config.strategies
            }

    return asyncio.run(run_all())


def roles(verdict: Verdict) -> Counter[str]:
    return Counter(c.role for c in verdict.candidates if c.error is None or c.error.type != "cancelled")


def _one_of_the_type(verdict: Verdict) -> bool:
    return "at most one answer of the type: no judge needed" in verdict.notes


def check(verdict: Verdict) -> None:
    assert verdict.answer.strip()
    assert 0.0 <= verdict.confidence <= 1.0
    assert verdict.calls == len(verdict.candidates)
    done = [c for c in verdict.candidates if c.error is None]
    assert done and all(c.usage.completion_tokens > 0 for c in done), verdict.failures
    assert verdict.usage.total_tokens == sum(c.usage.total_tokens for c in verdict.candidates)
    assert verdict.clusters and all(c.members for c in verdict.clusters)


def test_vote(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["vote"]
    check(v)
    assert "paris" in v.answer.lower()
    assert roles(v)["answer"] >= 2


def test_judge(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["judge"]
    check(v)
    if _one_of_the_type(v):  # "three" is no number: one answer can win, there is nothing to judge
        assert roles(v) == Counter({"answer": 2})
        return
    assert roles(v) == Counter({"answer": 2, "judge": 1})
    assert any(n.startswith(("judge gemma3 picked", "judge gemma3 failed")) for n in v.notes), v.notes
    judged = next(c for c in v.candidates if c.role == "judge")
    assert judged.model != v.candidates[0].model  # the judge is another model than the candidates'
    if any(n.startswith("judge gemma3 failed") for n in v.notes):
        assert "no judge could decide: the verdict is the plain vote" in v.notes


def test_fusion(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["fusion"]
    check(v)
    assert roles(v) == Counter({"answer": 3, "aggregate": 1})


def test_debate(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["debate"]
    check(v)
    assert roles(v) == Counter({"answer": 3, "debate": 3})


def test_cascade(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["cascade"]
    check(v)
    assert v.strategy == "cascade"
    assert v.notes[0] == "escalated to judge (one: confidence 0.50 < 0.70)"
    judged = 0 if _one_of_the_type(v) else 1  # an answer that is no number is not judged
    assert roles(v) == Counter({"answer": 2, "judge": judged})  # smollm2's first answer is reused


def test_council(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["council"]
    check(v)
    # the two SmolLM2 members share a model, so each sees only gemma3's answer and has nothing to rank
    assert roles(v)["answer"] == 3 and roles(v)["rank"] == 1
    assert roles(v)["chairman"] >= 1 or any("no chairman" in n for n in v.notes)
