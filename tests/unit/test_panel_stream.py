"""Streaming a strategy's final generation through the panel: counted, timed, retried only before a token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.cache import CallCache
from orchestrator.engine import Orchestrator
from orchestrator.errors import ServerError, UnknownNameError
from orchestrator.panel import Ledger, MemberGates, Panel, PanelSettings
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Candidate, Completion, Member, Usage
from providers.scripted import ScriptedProvider
from tests.helpers import scripted_config

MESSAGES = [{"role": "user", "content": "q"}]


class Stutter:
    """Streams ``words``; the n-th call raises a retryable error after ``plan[n]`` words (None: never)."""

    def __init__(self, words: list[str], plan: list[int | None]) -> None:
        self.words = words
        self.plan = plan
        self.calls = 0

    async def complete(self, call: Call) -> Completion:
        raise AssertionError("a final call of a streaming request must go through stream()")

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        fail_after = self.plan[min(self.calls, len(self.plan) - 1)]
        self.calls += 1
        for i, word in enumerate(self.words):
            if fail_after is not None and i == fail_after:
                raise ServerError("upstream dropped the stream", status=502)
            await asyncio.sleep(0)
            yield StreamDelta(text=word)
        completion = Completion(text="".join(self.words), usage=Usage.of(3, len(self.words)))
        yield StreamDelta(finish_reason="stop", completion=completion)

    async def aclose(self) -> None:
        return None


def member(name: str, **options: object) -> Member:
    return Member(name=name, provider="scripted", model=f"scripted-{name}", options=dict(options))


def panel_of(provider: object, *, on_delta=None, on_call=None, cache=None, timeout_s: float = 5.0) -> Panel:  # type: ignore[no-untyped-def]
    settings = PanelSettings(timeout_s=timeout_s, max_retries=2, backoff_base_s=0.001, backoff_max_s=0.01)
    return Panel(
        lambda m: provider,  # type: ignore[arg-type,return-value]
        settings=settings,
        gates=MemberGates(settings),
        ledger=Ledger(),
        cache=cache,
        on_delta=on_delta,
        on_call=on_call,
    )


async def test_a_final_call_streams_its_text_and_is_counted() -> None:
    got: list[str] = []
    seen: list[Candidate] = []
    panel = panel_of(
        Stutter(["Forty", "-two"], [None]), on_delta=lambda d: got.append(d.text), on_call=seen.append
    )
    candidate = await panel.call(member("w"), MESSAGES, final=True)
    assert got == ["Forty", "-two"]
    assert candidate.text == "Forty-two" and candidate.usage.total_tokens == 5
    assert panel.ledger.candidates == [candidate] and seen == [candidate]


async def test_calls_not_marked_final_never_stream() -> None:
    got: list[str] = []
    scripted = ScriptedProvider(member("s", answers=["a b c"]), ProviderContext(cache_dir=Path(".")))
    panel = panel_of(scripted, on_delta=lambda d: got.append(d.text))
    candidate = await panel.call(member("s"), MESSAGES)
    assert candidate.text == "a b c" and got == []


async def test_a_failure_before_any_token_is_retried() -> None:
    got: list[str] = []
    stutter = Stutter(["x", "y"], [0, None])
    candidate = await panel_of(stutter, on_delta=lambda d: got.append(d.text)).call(
        member("w"), MESSAGES, final=True
    )
    assert candidate.ok and candidate.attempts == 2 and got == ["x", "y"]


async def test_a_failure_after_a_token_is_not_retried() -> None:
    got: list[str] = []
    stutter = Stutter(["x", "y", "z"], [2, None])
    candidate = await panel_of(stutter, on_delta=lambda d: got.append(d.text)).call(
        member("w"), MESSAGES, final=True
    )
    assert not candidate.ok and candidate.error is not None and candidate.error.type == "server_error"
    assert candidate.attempts == 1 and stutter.calls == 1
    assert got == ["x", "y"]  # what went out, once


async def test_the_call_timeout_covers_a_stream() -> None:
    class Hang(Stutter):
        async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
            yield StreamDelta(text="a")
            await asyncio.Event().wait()
            yield StreamDelta(text="never")

    panel = panel_of(Hang([], [None]), on_delta=lambda d: None, timeout_s=0.1)
    candidate = await panel.call(member("w"), MESSAGES, final=True)
    assert candidate.error is not None and candidate.error.type == "timeout"


async def test_a_cached_final_call_relays_its_whole_text(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite", "record")
    await panel_of(Stutter(["Forty", "-two"], [None]), cache=cache, on_delta=lambda d: None).call(
        member("w"), MESSAGES, final=True
    )
    got: list[str] = []
    replay = panel_of(Stutter([], [0]), cache=cache, on_delta=lambda d: got.append(d.text))
    candidate = await replay.call(member("w"), MESSAGES, final=True)
    assert candidate.cached and got == ["Forty-two"]


async def test_run_asks_one_member_directly_and_streams_it() -> None:
    config = scripted_config({"a": {"answers": ["six times seven"]}, "b": {"answers": ["no"]}})
    got: list[str] = []
    async with Orchestrator(config) as orch:
        verdict = await orch.run("q?", member="a", on_delta=lambda d: got.append(d.text))
        assert verdict.answer == "six times seven" and verdict.strategy == "single"
        assert [c.member for c in verdict.candidates] == ["a"]
        assert verdict.route is not None and verdict.route.category == "direct"
        assert got == ["six", " times", " seven"]
        with pytest.raises(UnknownNameError, match="unknown member 'zed'"):
            await orch.run("q?", member="zed")


async def test_on_call_sees_every_call_of_the_orchestrator() -> None:
    config = scripted_config(
        {"a": {"answers": ["1"]}, "b": {"answers": ["1"]}, "c": {"fail": "server_error"}}
    )
    seen: list[tuple[str, str]] = []
    config.defaults.max_retries = 0
    async with Orchestrator(
        config, on_call=lambda c: seen.append((c.member, c.error.type if c.error else "ok"))
    ) as orch:
        await orch.run("q?")
    assert sorted(seen) == [("a", "ok"), ("b", "ok"), ("c", "server_error")]
