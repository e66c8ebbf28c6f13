"""Panel fan-out: timeouts, partial failures, retries, limits and cancellation, with scripted members."""

import asyncio
import time

import pytest

from orchestrator.errors import BudgetExceeded
from orchestrator.panel import Ledger, MemberGates, Panel, PanelSettings
from orchestrator.protocols import ProviderContext
from orchestrator.types import Member
from providers.scripted import ScriptedProvider

MESSAGES = [{"role": "user", "content": "q"}]


def member(name: str, **options) -> Member:
    fields = {k: options.pop(k) for k in list(options) if k in Member.model_fields}
    return Member(name=name, provider="scripted", model=f"scripted-{name}", options=options, **fields)


def make_panel(*, timeout_s: float = 5.0, retries: int = 2, deadline_s: float | None = None, **ledger):
    providers: dict[str, ScriptedProvider] = {}
    context = ProviderContext(cache_dir=__import__("pathlib").Path("."))

    def provider_for(m: Member) -> ScriptedProvider:
        return providers.setdefault(m.name, ScriptedProvider(m, context))

    settings = PanelSettings(
        timeout_s=timeout_s, max_retries=retries, backoff_base_s=0.01, backoff_max_s=0.05
    )
    deadline = asyncio.get_running_loop().time() + deadline_s if deadline_s else None
    panel = Panel(
        provider_for,
        settings=settings,
        gates=MemberGates(settings),
        ledger=Ledger(**ledger),
        deadline=deadline,
    )
    return panel, providers


async def test_candidates_arrive_in_completion_order() -> None:
    panel, _ = make_panel()
    members = [member("slow", answers=["s"], latency_s=0.2), member("fast", answers=["f"], latency_s=0.01)]
    async with panel.ask(members, MESSAGES) as answers:
        order = [c.member async for c in answers]
    assert order == ["fast", "slow"]


async def test_a_failure_is_a_candidate_not_an_exception() -> None:
    panel, _ = make_panel(retries=0)
    got = await panel.gather(
        [member("ok", answers=["1"]), member("bad", fail="server_error"), member("auth", fail="timeout")],
        MESSAGES,
    )
    assert [c.ok for c in got] == [True, False, False]
    assert got[1].error.type == "server_error" and got[1].error.status == 500
    assert got[2].error.type == "timeout"


async def test_per_call_timeout_turns_a_hang_into_a_timeout_candidate() -> None:
    panel, _ = make_panel(timeout_s=0.1, retries=0)
    started = time.perf_counter()
    got = await panel.gather([member("hang", fail="hang"), member("ok", answers=["1"])], MESSAGES)
    assert time.perf_counter() - started < 2
    assert got[0].error.type == "timeout"
    assert got[1].text == "1"


async def test_retryable_failures_are_retried_and_honour_retry_after() -> None:
    panel, providers = make_panel(retries=2)
    flaky = member("flaky", answers=["ok"], fail=["rate_limit", "server_error", "none"], retry_after_s=0.2)
    started = time.perf_counter()
    candidate = await panel.call(flaky, MESSAGES)
    assert candidate.text == "ok"
    assert candidate.attempts == 3
    assert providers["flaky"].calls == 3
    assert time.perf_counter() - started >= 0.2  # waited what Retry-After said


async def test_retries_stop_after_the_limit() -> None:
    panel, providers = make_panel(retries=1)
    candidate = await panel.call(member("down", fail="server_error"), MESSAGES)
    assert candidate.error.type == "server_error"
    assert providers["down"].calls == 2


async def test_member_max_retries_overrides_the_default() -> None:
    panel, providers = make_panel(retries=3)
    await panel.call(member("down", fail="rate_limit", max_retries=0), MESSAGES)
    assert providers["down"].calls == 1


async def test_leaving_early_cancels_the_slow_calls() -> None:
    panel, _ = make_panel()
    members = [member("a", answers=["7"]), member("b", answers=["7"]), member("hang", fail="hang")]
    started = time.perf_counter()
    async with panel.ask(members, MESSAGES) as answers:
        seen = []
        async for candidate in answers:
            seen.append(candidate.text)
            if seen.count("7") == 2:
                break
    assert time.perf_counter() - started < 1
    cancelled = [c for c in panel.ledger.candidates if c.error and c.error.type == "cancelled"]
    assert [c.member for c in cancelled] == ["hang"]


async def test_the_request_deadline_bounds_every_call() -> None:
    panel, _ = make_panel(timeout_s=30, retries=0, deadline_s=0.2)
    started = time.perf_counter()
    got = await panel.gather([member("hang", fail="hang"), member("ok", answers=["1"])], MESSAGES)
    assert time.perf_counter() - started < 2
    assert got[0].error.type == "timeout"


async def test_member_concurrency_limit_serialises_calls() -> None:
    panel, _ = make_panel()
    solo = member("solo", answers=["x"], latency_s=0.1, max_concurrency=1)
    started = time.perf_counter()
    await asyncio.gather(*(panel.call(solo, MESSAGES) for _ in range(3)))
    assert time.perf_counter() - started >= 0.3


async def test_member_rate_limit_spaces_calls() -> None:
    panel, _ = make_panel()
    limited = member("limited", answers=["x"], rate_limit_per_s=2)
    started = time.perf_counter()
    await asyncio.gather(*(panel.call(limited, MESSAGES) for _ in range(3)))
    assert time.perf_counter() - started >= 0.9  # the third call waits for the next 1 s window


async def test_call_budget_is_enforced_before_sending() -> None:
    panel, providers = make_panel(max_calls=2)
    with pytest.raises(BudgetExceeded, match="max_calls=2"):
        panel.ask([member("a"), member("b"), member("c")], MESSAGES)
    assert providers == {}


async def test_ledger_sums_usage_and_cost() -> None:
    panel, _ = make_panel()
    priced = member(
        "p",
        answers=["x"],
        usage={"prompt_tokens": 10, "completion_tokens": 5},
        input_cost_per_token=0.001,
        output_cost_per_token=0.002,
    )
    await panel.gather([priced, priced.model_copy(update={"name": "q"})], MESSAGES)
    assert panel.ledger.usage.total_tokens == 30
    assert panel.ledger.cost_usd == pytest.approx(0.04)
