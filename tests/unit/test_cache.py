"""Record/replay: a second run makes no model call and gives the same verdict."""

import pytest

from orchestrator.cache import CallCache
from orchestrator.engine import Orchestrator
from tests.helpers import scripted_config

MEMBERS = {"a": {"answers": ["1", "2"]}, "b": {"answers": ["1"]}, "c": {"answers": ["3"], "latency_s": 0.05}}


async def run(cache: CallCache, question: str = "q?"):
    async with Orchestrator(scripted_config({k: dict(v) for k, v in MEMBERS.items()}), cache=cache) as orch:
        verdict = await orch.run(question, strategy="vote")
        calls = sum(p.calls for p in orch._providers.values())
    return verdict, calls


async def test_record_then_replay_makes_no_calls_and_reproduces(tmp_path) -> None:
    first, calls = await run(CallCache(tmp_path / "c.sqlite", "record"))
    assert calls == 3
    replay_cache = CallCache(tmp_path / "c.sqlite", "replay")
    again, calls_again = await run(replay_cache)
    assert calls_again == 0
    assert replay_cache.hits == 3
    assert again.answer == first.answer
    assert again.confidence == first.confidence
    recorded = {c.member: c.latency_s for c in first.candidates}
    assert [c.latency_s for c in again.candidates] == pytest.approx(
        [recorded[c.member] for c in again.candidates]
    )
    assert all(c.cached for c in again.candidates)


async def test_replay_miss_is_a_failure_not_a_call(tmp_path) -> None:
    await run(CallCache(tmp_path / "c.sqlite", "record"), "first question")
    verdict_cache = CallCache(tmp_path / "c.sqlite", "replay")
    with pytest.raises(Exception, match="cache_miss"):
        await run(verdict_cache, "another question")


async def test_record_mode_reuses_recorded_answers(tmp_path) -> None:
    cache = CallCache(tmp_path / "c.sqlite", "record")
    await run(cache)
    _, calls = await run(cache)
    assert calls == 0
    assert len(cache) == 3
