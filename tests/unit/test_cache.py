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


def test_request_labels_reach_the_provider_but_not_the_cache_key() -> None:
    from orchestrator.types import Call, Member

    member = Member(name="a", provider="scripted", model="m")
    plain = Call(messages=[{"role": "user", "content": "q"}])
    labelled = plain.model_copy(update={"labels": {"gold": "42", "item": "q1"}})
    assert CallCache.key(member, plain) == CallCache.key(member, labelled)
    seen: list[dict[str, str]] = []

    class Spy:
        def __init__(self, member: Member, context: object) -> None:
            pass

        async def complete(self, call: Call):  # type: ignore[no-untyped-def]
            from orchestrator.types import Completion

            seen.append(call.labels)
            return Completion(text="ok")

        async def aclose(self) -> None:
            pass

    from orchestrator.config import parse_config
    from orchestrator.registry import Registry

    registry = Registry({"provider": {"spy": Spy}})
    config = parse_config('[members.a]\nprovider = "spy"\nmodel = "m"\n', source="t", registry=registry)
    Orchestrator(config, registry=registry).run_sync("q", strategy="single", tags={"labels": {"gold": "42"}})
    assert seen == [{"gold": "42"}]
