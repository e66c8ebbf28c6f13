"""Continuity: circuit breakers, fallbacks that keep a team's size, streaming failover, health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.errors import ServerError
from orchestrator.panel import Ledger, MemberGates, Panel, PanelSettings
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.sovereignty.breaker import BreakerConfig, Breakers, Failover
from orchestrator.sovereignty.health import HealthCollector, member_status
from orchestrator.types import Call, Candidate, CandidateError, Completion, Member
from providers.scripted import ScriptedProvider
from tests.helpers import Counted

MESSAGES = [{"role": "user", "content": "q"}]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def member(name: str, **options: Any) -> Member:
    return Member(name=name, provider="scripted", model=f"scripted-{name}", options=options)


def outcome(name: str, error: str | None) -> Candidate:
    return Candidate(
        member=name,
        model="m",
        text=None if error else "ok",
        error=CandidateError(type=error, message="x") if error else None,
    )


def test_breaker_opens_after_repeated_failures_and_probes_after_the_cooldown() -> None:
    clock = Clock()
    breakers = Breakers(BreakerConfig(failures=3, cooldown_s=30), clock=clock)
    m = member("cloud")
    for _ in range(2):
        assert breakers.acquire(m)
        breakers.record(m, outcome("cloud", "server_error"))
    assert breakers.health("cloud").state == "closed"
    assert breakers.acquire(m)
    breakers.record(m, outcome("cloud", "timeout"))
    assert breakers.health("cloud").state == "open"
    assert not breakers.acquire(m) and not breakers.available(m)
    clock.now += 29
    assert not breakers.acquire(m)
    clock.now += 1
    assert breakers.acquire(m)  # the one probe
    assert not breakers.acquire(m)  # nobody else while it is out
    breakers.record(m, outcome("cloud", "server_error"))
    assert breakers.health("cloud").state == "open"  # failed probe: open again, for a new cooldown
    clock.now += 30
    assert breakers.acquire(m)
    breakers.record(m, outcome("cloud", None))
    health = breakers.health("cloud")
    assert (health.state, health.consecutive_failures, health.opened, health.refused) == ("closed", 0, 2, 3)


def test_a_bad_request_or_a_cache_miss_says_nothing_about_health() -> None:
    breakers = Breakers(BreakerConfig(failures=1))
    m = member("a")
    for kind in ("bad_request", "cache_miss", "cancelled"):
        breakers.acquire(m)
        breakers.record(m, outcome("a", kind))
    assert breakers.health("a").state == "closed"


def test_failover_keeps_a_fallback_with_the_member_it_replaced() -> None:
    failover = Failover([member("x"), member("y")])
    assert failover.next_for(member("a"), {"a"}, {"a", "b"}).name == "x"
    assert failover.next_for(member("b"), {"b"}, {"a", "b"}).name == "y"
    assert failover.next_for(member("a"), {"a"}, set()).name == "x"  # a's seat again
    assert failover.next_for(member("c"), {"c"}, set()) is None  # both seats taken


TEAM = """
[teams.main]
members = ["cloud", "local-a", "local-b"]
fallbacks = ["spare"]

[strategies.vote]
kind = "vote"
team = "main"
min_answers = 3

[defaults]
team = "main"
max_retries = 0

[breaker]
failures = 2
cooldown_s = 0.3
"""


def test_a_team_keeps_answering_through_its_fallback_while_a_vendor_is_down() -> None:
    counted = Counted()
    down = ["server_error", "server_error", "server_error", "none"]  # fails 3 times, then recovers
    orch = counted.orchestrator(
        {
            "cloud": {"answers": ["42"], "fail": down, "locality": "cloud"},
            "local-a": {"answers": ["42"]},
            "local-b": {"answers": ["42"]},
            "spare": {"answers": ["42"]},
        },
        TEAM,
    )

    async def scenario() -> None:
        async with orch:
            for i in range(4):
                verdict = await orch.run("What is six times seven?")
                assert verdict.answer == "42" and verdict.confidence == 1.0
                assert sorted(c.member for c in verdict.candidates if c.ok) == ["local-a", "local-b", "spare"]
                (stand_in,) = [c for c in verdict.candidates if c.member == "spare"]
                assert stand_in.replaces == "cloud"
                failed = [c.member for c in verdict.candidates if c.error]
                assert failed == (["cloud"] if i < 2 else []), i  # open after 2: no longer even tried
            assert counted.calls["cloud"] == 2
            assert orch.gatekeeper.breakers.health("cloud").state == "open"
            await asyncio.sleep(0.35)  # cooldown: the next request probes the cloud member
            probe = await orch.run("What is six times seven?")
            assert counted.calls["cloud"] == 3 and [c.error.type for c in probe.candidates if c.error] == [
                "server_error"
            ]
            await asyncio.sleep(0.35)
            recovered = await orch.run("What is six times seven?")
            assert sorted(c.member for c in recovered.candidates) == ["cloud", "local-a", "local-b"]
            assert orch.gatekeeper.breakers.health("cloud").state == "closed"

    asyncio.run(scenario())


def test_without_a_healthy_fallback_the_failure_is_reported() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {
            "cloud": {"answers": ["42"], "fail": "server_error"},
            "local-a": {"answers": ["42"]},
            "local-b": {"answers": ["42"]},
            "spare": {"answers": ["42"], "fail": "timeout"},
        },
        TEAM.replace("min_answers = 3", "min_answers = 2"),
    )
    verdict = orch.run_sync("What is six times seven?")
    assert verdict.answer == "42"
    assert {c.member: c.error.type for c in verdict.candidates if c.error} == {
        "cloud": "server_error",
        "spare": "timeout",
    }
    assert "failed (timeout)" in verdict.dissent


class Stutter:
    """Streams two words, failing before the first or after it."""

    def __init__(self, member: Member, fail: str) -> None:
        self.member, self.fail, self.calls = member, fail, 0

    async def complete(self, call: Call) -> Completion:
        raise AssertionError("a final call of a streaming request goes through stream()")

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        self.calls += 1
        if self.fail == "before":
            raise ServerError("down before the first byte", status=503)
        yield StreamDelta(text="half")
        if self.fail == "after":
            raise ServerError("down mid-stream", status=503)
        yield StreamDelta(text=" answer")
        yield StreamDelta(finish_reason="stop", completion=Completion(text="half answer"))

    async def aclose(self) -> None:
        return None


def stream_panel(providers: dict[str, Any], spares: list[Member], sent: list[str]) -> Panel:
    settings = PanelSettings(timeout_s=2, max_retries=1, backoff_base_s=0.001, backoff_max_s=0.01)
    breakers = Breakers()
    return Panel(
        lambda m: providers[m.name],
        settings=settings,
        gates=MemberGates(settings),
        ledger=Ledger(),
        breakers=breakers,
        failover=Failover(spares, breakers),
        on_delta=lambda delta: sent.append(delta.text),
    )


async def test_streaming_falls_back_before_the_first_byte() -> None:
    spare, sent = member("spare"), []
    providers = {"cloud": Stutter(member("cloud"), "before"), "spare": Stutter(spare, "none")}
    panel = stream_panel(providers, [spare], sent)
    candidate = await panel.call(member("cloud"), MESSAGES, final=True)
    assert (candidate.member, candidate.text, candidate.replaces) == ("spare", "half answer", "cloud")
    assert "".join(sent) == "half answer"
    assert providers["cloud"].calls == 2  # retried once (nothing had gone out), then the seat moved
    assert [(c.member, c.ok) for c in panel.ledger.candidates] == [("cloud", False), ("spare", True)]


async def test_streaming_does_not_switch_members_after_the_first_byte() -> None:
    spare, sent = member("spare"), []
    providers = {"cloud": Stutter(member("cloud"), "after"), "spare": Stutter(spare, "none")}
    panel = stream_panel(providers, [spare], sent)
    candidate = await panel.call(member("cloud"), MESSAGES, final=True)
    assert (
        candidate.member == "cloud"
        and candidate.error is not None
        and "mid-stream" in candidate.error.message
    )
    assert sent == ["half"]
    assert providers["cloud"].calls == 1 and providers["spare"].calls == 0


async def test_streaming_times_out_waiting_for_the_first_byte_and_falls_back() -> None:
    slow = member("slow", answers=["late"], fail="hang")
    spare = member("spare", answers=["on time"])
    context = ProviderContext(cache_dir=Path("."))
    providers = {"slow": ScriptedProvider(slow, context), "spare": ScriptedProvider(spare, context)}
    settings = PanelSettings(timeout_s=0.2, max_retries=0)
    sent: list[str] = []
    panel = Panel(
        lambda m: providers[m.name],
        settings=settings,
        gates=MemberGates(settings),
        failover=Failover([spare]),
        on_delta=lambda delta: sent.append(delta.text),
    )
    started = time.perf_counter()
    candidate = await panel.call(slow, MESSAGES, final=True)
    assert candidate.text == "on time" and "".join(sent) == "on time"
    assert time.perf_counter() - started < 2
    assert panel.ledger.candidates[0].error.type == "timeout"


def test_health_shows_in_members_status_and_prometheus_lines() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {
            "cloud": {"answers": ["42"], "fail": "server_error", "vendor": "openai", "jurisdiction": "US"},
            "local-a": {"answers": ["42"], "locality": "local"},
            "local-b": {"answers": ["42"], "locality": "local"},
            "spare": {"answers": ["42"], "locality": "local"},
        },
        TEAM + '\n[policy.confidential]\nallow = ["locality:local"]\n',
    )
    for _ in range(2):
        orch.run_sync("q")
    rows = {row["member"]: row for row in member_status(orch)}
    assert rows["cloud"]["state"] == "open" and rows["cloud"]["failures"] == 2
    assert rows["cloud"]["may_see"] == [] and rows["local-a"]["may_see"] == ["confidential"]
    assert rows["spare"]["state"] == "closed" and rows["spare"]["calls"] == 2
    registry = CollectorRegistry()
    registry.register(HealthCollector(orch))
    lines = generate_latest(registry).decode().splitlines()
    assert 'shoal_member_up{member="cloud"} 1.0' not in lines
    assert 'shoal_member_up{member="cloud"} 0.0' in lines
    assert 'shoal_member_up{member="local-a"} 1.0' in lines
    assert 'shoal_member_breaker_state{member="cloud"} 2.0' in lines
    assert 'shoal_member_failures_total{member="cloud"} 2.0' in lines
    assert 'shoal_member_breaker_opened_total{member="cloud"} 1.0' in lines


def test_a_failing_judge_is_not_replaced_by_a_team_fallback() -> None:
    """A judge has its own chain in its strategy; a spare might even share a candidate's model."""
    counted = Counted()
    orch = counted.orchestrator(
        {
            "a": {"answers": ["42"]},
            "b": {"answers": ["41"]},
            "spare": {"answers": ["42"]},
            "bad-judge": {"answers": ["x"], "fail": "server_error"},
        },
        '[teams.t]\nmembers = ["a", "b"]\nfallbacks = ["spare"]\n'
        '[strategies.j]\nkind = "judge"\nteam = "t"\njudges = ["bad-judge"]\n[defaults]\nmax_retries = 0\n',
    )
    verdict = orch.run_sync("q", strategy="j")
    assert counted.calls == {"a": 1, "b": 1, "bad-judge": 1}
    assert [(c.member, c.role, c.error.type) for c in verdict.candidates if c.error] == [
        ("bad-judge", "judge", "server_error")
    ]
    assert any("judge bad-judge failed" in n for n in verdict.notes)


def test_a_nested_strategys_own_team_does_not_take_this_teams_fallbacks() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {
            "a": {"answers": ["42"]},
            "b": {"answers": ["41"]},
            "spare": {"answers": ["42"]},
            "s1": {"answers": ["42"], "fail": "server_error"},
            "s2": {"answers": ["42"]},
        },
        '[teams.t]\nmembers = ["a", "b"]\nfallbacks = ["spare"]\n[teams.strong]\nmembers = ["s1", "s2"]\n'
        '[strategies.cheap]\nkind = "vote"\nteam = "t"\n[strategies.strong]\nkind = "vote"\nteam = "strong"\n'
        '[strategies.k]\nkind = "cascade"\nteam = "t"\nfirst = "cheap"\nthen = "strong"\n'
        "escalate_below = 0.9\n[defaults]\nmax_retries = 0\n",
    )
    verdict = orch.run_sync("q", strategy="k")
    assert counted.calls == {"a": 1, "b": 1, "s1": 1, "s2": 1}  # the spare is the cheap team's, not strong's
    assert not any(c.replaces for c in verdict.candidates)
