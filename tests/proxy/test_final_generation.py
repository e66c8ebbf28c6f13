"""An ensemble that ends in a generation streams that generation live, after heartbeats.

``fusion`` (its aggregator) and ``council`` (its chairman) end with one member
writing the answer; that call streams to the client token by token. The
writer here is an ``openai_compat`` member whose fake upstream sends a token
every 0.25 s, behind an in-process proxy served on loopback; the panel's
scripted members take 0.5 s, so heartbeats come first.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from orchestrator.config import parse_config
from orchestrator.protocols import StrategyContext
from orchestrator.proxy.app import Proxy
from orchestrator.registry import Registry
from orchestrator.types import Request, Verdict
from strategies.base import StrategyOptions
from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, running

QUESTION = [{"role": "user", "content": "What is six times seven?"}]
TOKENS = ["Forty", "-two", ",", " surely."]


class Turncoat:
    """A strategy that streams its writer's generation, then answers something else (a broken one)."""

    Options = StrategyOptions

    def __init__(self, name: str = "turncoat", options: dict[str, Any] | None = None) -> None:
        self.name = name

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        await ctx.panel.call(ctx.member("writer"), request.wire_messages(), final=True)
        return Verdict(answer="something else", confidence=1.0, strategy=self.name)


EXTRA = """
[members.writer]
provider = "openai_compat"
model = "writer-model"
api_base = "{upstream}"

[teams.panel]
members = ["alice", "bob"]

[strategies.fuse]
kind = "fusion"
team = "panel"
aggregator = "writer"

[strategies.chair]
kind = "council"
team = "panel"
chairman = "writer"
rank = false

[strategies.careful]
kind = "fusion"
team = "panel"
aggregator = "writer"
abstain_below = 0.5

[strategies.staged]
kind = "cascade"
first = "fuse"
then = "fuse"
escalate_below = 0.0

[strategies.turncoat]
kind = "turncoat"

[defaults]
strategy = "fuse"
team = "panel"

[server]
heartbeat_s = 0.15
"""


@pytest.fixture
def base_url(fresh_upstream: FakeUpstream) -> Iterator[str]:
    registry = Registry({"strategy": {"turncoat": Turncoat}})
    members = {"alice": {"answers": ["42"], "latency_s": 0.5}, "bob": {"answers": ["42"], "latency_s": 0.5}}
    text = scripted_toml(members, EXTRA.format(upstream=fresh_upstream.base_url))
    config = parse_config(text, source="fuse.toml", registry=registry)
    with running(Proxy(config, registry=registry).app()) as port:
        yield f"http://127.0.0.1:{port}/v1"


def stream_lines(base_url: str, model: str) -> list[tuple[float, str]]:
    body = {"model": model, "messages": QUESTION, "stream": True}
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=20) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                lines.append((time.perf_counter() - started, line))
    return lines


def contents(lines: list[tuple[float, str]]) -> list[tuple[float, str]]:
    events = [(t, json.loads(line[6:])) for t, line in lines if line.startswith("data: {")]
    return [
        (t, e["choices"][0]["delta"]["content"])
        for t, e in events
        if e["choices"] and e["choices"][0]["delta"].get("content")
    ]


@pytest.mark.parametrize(("model", "role"), [("shoal/fuse", "aggregate"), ("shoal/chair", "chairman")])
def test_the_writers_tokens_stream_live_after_heartbeats(
    base_url: str, fresh_upstream: FakeUpstream, model: str, role: str
) -> None:
    fresh_upstream.reset(tokens=TOKENS, gap_s=0.25)
    lines = stream_lines(base_url, model)
    heartbeats = [t for t, line in lines if line.startswith(":")]
    content = contents(lines)
    assert [text for _, text in content] == TOKENS
    # heartbeats while the panel (0.5 s) works, before the first token
    assert heartbeats and heartbeats[0] < content[0][0]
    # live: the tokens arrive spread out like the upstream's 0.25 s gaps, not all at the end
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(content)]
    assert all(gap > 0.12 for gap in gaps), gaps
    meta = json.loads(next(line for _, line in reversed(lines) if line.startswith("data: {"))[6:])["shoal"]
    roles = sorted((c["member"], c["role"]) for c in meta["candidates"])
    assert roles == [("alice", "answer"), ("bob", "answer"), ("writer", role)]
    assert fresh_upstream.bodies[-1]["stream"] is True


def test_a_strategy_that_may_abstain_sends_its_answer_whole(
    base_url: str, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(tokens=TOKENS, gap_s=0.05)
    content = contents(stream_lines(base_url, "shoal/careful"))
    assert len(content) == 1  # after the verdict, in one piece: it could have been an abstention
    assert "stream" not in fresh_upstream.bodies[-1]


def test_a_nested_strategy_does_not_stream_its_generation(
    base_url: str, fresh_upstream: FakeUpstream
) -> None:
    """A cascade's stage may not have the last word, so its aggregator is not streamed."""
    fresh_upstream.reset(tokens=TOKENS, gap_s=0.05)
    content = contents(stream_lines(base_url, "shoal/staged"))
    assert "".join(text for _, text in content) == "".join(TOKENS)
    assert len(content) == 1
    assert all("stream" not in body for body in fresh_upstream.bodies)


def test_the_same_strategy_answers_whole_without_stream(base_url: str, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(tokens=["Forty", "-two"])
    with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        done = client.chat.completions.create(model="shoal/auto", messages=QUESTION)
    assert done.choices[0].message.content == "Forty-two"
    assert "stream" not in fresh_upstream.bodies[0]
    candidates = done.model_extra["shoal"]["candidates"]
    assert done.usage.total_tokens == sum(c["usage"]["total_tokens"] for c in candidates)


def test_an_answer_that_contradicts_the_stream_ends_it_with_an_error(
    base_url: str, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(tokens=["Forty", "-two"])
    with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        stream = client.chat.completions.create(model="shoal/turncoat", messages=QUESTION, stream=True)
        with pytest.raises(openai.APIError, match="differs from what was streamed"):
            for _ in stream:
                pass
