"""The response cache ([cache]) on the memory backend: exact keys, what is stored, TTL, the policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.protocols import StreamDelta
from orchestrator.response_cache import KIND
from orchestrator.state import MemoryState
from tests.helpers import Counted, scripted_toml

MEMBERS: dict[str, dict[str, Any]] = {
    "gpt": {"answers": ["42"], "vendor": "openai", "jurisdiction": "US", "locality": "cloud"},
    "local-a": {"answers": ["42"], "locality": "local"},
    "local-b": {"answers": ["42"], "locality": "local"},
}

CACHED = """
[teams.main]
members = ["gpt", "local-a", "local-b"]

[defaults]
team = "main"

[strategies.early]
kind = "vote"
early_exit = true

[policy.confidential]
allow = ["locality:local"]

[cache]
enabled = true
ttl_s = 60
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def members(**changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {**keys, **changes.get(name, {})} for name, keys in MEMBERS.items()}


def build(counted: Counted, state: MemoryState, extra: str = CACHED, **changes: Any) -> Orchestrator:
    toml = scripted_toml(members(**changes), extra)
    config = parse_config(toml, source="test.toml", registry=counted.registry)
    return Orchestrator(config, registry=counted.registry, state=state)


async def test_the_same_question_is_answered_once_then_from_the_cache() -> None:
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    first = await orch.run("What is six times seven?")
    assert not first.cached and first.calls == 3
    second = await orch.run("What is six times seven?")
    assert counted.calls == {"gpt": 1, "local-a": 1, "local-b": 1}  # nothing more was sent
    assert second.cached and second.answer == "42" and second.calls == 0 and second.cost_usd == 0
    assert second.confidence == first.confidence and second.request_id != first.request_id
    assert all(c.cached for c in second.candidates)
    assert "served from the response cache" in second.notes
    cache = orch.response_cache
    assert cache is not None and (cache.hits, cache.misses, cache.stores) == (1, 1, 1)


async def test_the_key_is_exact_messages_params_strategy_member_and_panel() -> None:
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    await orch.run("What is six times seven?")
    await orch.run("What is six times seven? ")  # other messages
    await orch.run("What is six times seven?", params={"temperature": 0.2})  # other params
    await orch.run("What is six times seven?", tags={"labels": {"gold": "41"}})  # other labels
    await orch.run("What is six times seven?", strategy="early")  # other strategy
    await orch.run("What is six times seven?", member="local-a")  # a member directly
    assert orch.response_cache is not None and orch.response_cache.hits == 0
    # Another model behind a member is another panel: the same state holds no answer for it.
    changed = build(counted, state, **{"local-b": {"model": "scripted-bigger"}})
    assert not (await changed.run("What is six times seven?")).cached
    # The same configuration (a new orchestrator, the same state) finds its answer.
    again = build(counted, state)
    assert (await again.run("What is six times seven?")).cached


async def test_a_stored_answer_expires_after_its_ttl() -> None:
    clock = Clock()
    counted, state = Counted(), MemoryState(clock=clock)
    orch = build(counted, state)
    await orch.run("q")
    clock.now += 59
    assert (await orch.run("q")).cached
    clock.now += 2
    assert not (await orch.run("q")).cached
    assert counted.calls["gpt"] == 2


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"gpt": {"answers": ["41"]}, "local-b": {"answers": ["40"]}}, "abstaining"),
        ({"gpt": {"fail": ["server_error"]}}, "a failed member"),
    ],
)
async def test_abstaining_and_failed_verdicts_are_not_stored_unless_told(
    changes: dict[str, dict[str, Any]], why: str
) -> None:
    extra = CACHED.replace("[cache]", '[strategies.vote]\nkind = "vote"\nabstain_below = 0.5\n\n[cache]')
    counted, state = Counted(), MemoryState()
    orch = build(counted, state, extra, **changes)
    first = await orch.run("q", strategy="vote")
    assert first.abstained or first.failures, why
    assert not (await orch.run("q", strategy="vote")).cached
    assert orch.response_cache is not None and orch.response_cache.stores == 0

    lifted = extra.replace("ttl_s = 60", "ttl_s = 60\nstore_partial = true")
    told = build(Counted(), MemoryState(), lifted, **changes)
    await told.run("q", strategy="vote")
    assert (await told.run("q", strategy="vote")).cached


async def test_a_confidential_request_never_gets_an_answer_a_cloud_member_gave() -> None:
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    open_verdict = await orch.run("What is six times seven?")
    assert "gpt" in {c.member for c in open_verdict.candidates}
    confidential = await orch.run("What is six times seven?", tags={"sensitivity": "confidential"})
    assert not confidential.cached  # the stored answer came (also) from gpt: not for this request
    assert {c.member for c in confidential.candidates} == {"local-a", "local-b"}
    assert counted.calls == {"gpt": 1, "local-a": 2, "local-b": 2}
    # The confidential answer, stored on its own, is served to the next confidential request.
    again = await orch.run("What is six times seven?", tags={"sensitivity": "confidential"})
    assert again.cached and {c.member for c in again.candidates} == {"local-a", "local-b"}
    assert again.sensitivity == ["confidential"]


async def test_the_policy_checks_the_members_an_entry_records_before_serving_it() -> None:
    """An entry under this request's key that names a member the request may not reach (written
    by an instance that disagreed, or an older configuration) is refused, and the panel asked."""
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    question = "What is six times seven?"
    await orch.run(question, tags={"sensitivity": "confidential"})
    cache = orch.response_cache
    assert cache is not None
    (kind, key), (raw, _) = next(iter(state._kv.items()))
    assert kind == KIND
    entry = json.loads(raw)
    entry["members"].append("gpt")
    await state.put(KIND, key, json.dumps(entry).encode(), 60)

    verdict = await orch.run(question, tags={"sensitivity": "confidential"})
    assert not verdict.cached and cache.refused == 1
    assert counted.calls == {"local-a": 2, "local-b": 2}  # asked again; gpt never


async def test_a_streaming_request_streams_the_cached_answer() -> None:
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    await orch.run("q", member="local-a")
    deltas: list[StreamDelta] = []
    verdict = await orch.run("q", member="local-a", on_delta=deltas.append)
    assert verdict.cached and "".join(d.text for d in deltas) == "42"
    assert counted.calls == {"local-a": 1}


async def test_cache_false_and_no_cache_section_leave_the_cache_alone() -> None:
    counted, state = Counted(), MemoryState()
    orch = build(counted, state)
    await orch.run("q", cache=False)
    assert not (await orch.run("q")).cached  # cache=False stored nothing
    assert not (await orch.run("q", cache=False)).cached  # and reads nothing
    plain = build(Counted(), MemoryState(), CACHED.replace("enabled = true", ""))
    assert plain.response_cache is None
    await plain.run("q")
    assert not (await plain.run("q")).cached
