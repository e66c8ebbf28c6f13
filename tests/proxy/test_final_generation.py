"""An ensemble that ends in a generation streams that generation live, after heartbeats.

Fusion and council strategies end with one member writing the answer (the
aggregator, the chairman) and mark that call ``final=True``. ``Fuse`` below is
the smallest such strategy, registered as a plugin of an in-process proxy
served on loopback; its aggregator is an ``openai_compat`` member whose fake
upstream sends a token every 0.25 s.
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
from strategies.base import StrategyOptions, clusters_of, require_answers, verdict_of
from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, running

QUESTION = [{"role": "user", "content": "What is six times seven?"}]


class FuseOptions(StrategyOptions):
    aggregator: str
    answer_instead: str | None = None  # a misbehaving strategy: answers other than it streamed


class Fuse:
    """Every panel member answers, then the aggregator writes the final answer from theirs."""

    Options = FuseOptions

    def __init__(self, name: str = "fuse", options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.options = FuseOptions.model_validate(options or {})

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict:
        panel = [m for m in ctx.members if m.name != self.options.aggregator]
        answers = require_answers(await ctx.panel.gather(panel, request.wire_messages()), 1)
        clusters = clusters_of(answers, panel, self.options.answer_type)
        summary = "\n".join(f"- {c.text}" for c in answers)
        prompt = [
            *request.wire_messages(),
            {"role": "user", "content": f"Answers:\n{summary}\nCombine them."},
        ]
        final = await ctx.panel.call(
            ctx.member(self.options.aggregator), prompt, role="aggregate", final=True
        )
        verdict = verdict_of(self.name, clusters, answers, self.options)
        return verdict.model_copy(update={"answer": self.options.answer_instead or final.text or ""})


EXTRA = """
[members.writer]
provider = "openai_compat"
model = "writer-model"
api_base = "{upstream}"

[strategies.fuse]
kind = "fuse"
aggregator = "writer"

[strategies.liar]
kind = "fuse"
aggregator = "writer"
answer_instead = "something else"

[server]
heartbeat_s = 0.15
"""


@pytest.fixture
def base_url(fresh_upstream: FakeUpstream) -> Iterator[str]:
    registry = Registry({"strategy": {"fuse": Fuse}})
    members = {"alice": {"answers": ["42"], "latency_s": 0.5}, "bob": {"answers": ["42"], "latency_s": 0.5}}
    text = scripted_toml(members, EXTRA.format(upstream=fresh_upstream.base_url))
    config = parse_config(text, source="fuse.toml", registry=registry)
    with running(Proxy(config, registry=registry).app()) as port:
        yield f"http://127.0.0.1:{port}/v1"


def test_the_aggregators_tokens_stream_live_after_heartbeats(
    base_url: str, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(tokens=["Forty", "-two", ",", " surely."], gap_s=0.25)
    body = {"model": "shoal/fuse", "messages": QUESTION, "stream": True}
    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=20) as response:
        for line in response.iter_lines():
            if line:
                lines.append((time.perf_counter() - started, line))
    heartbeats = [t for t, line in lines if line.startswith(":")]
    content = [
        (t, json.loads(line[6:])["choices"][0]["delta"]["content"])
        for t, line in lines
        if line.startswith("data: {") and '"content":"' in line and '"content":""' not in line
    ]
    assert [text for _, text in content] == ["Forty", "-two", ",", " surely."]
    # heartbeats while the panel (0.5 s) works, before the first token
    assert heartbeats and heartbeats[0] < content[0][0]
    # live: the tokens arrive spread out like the upstream's 0.25 s gaps, not all at the end
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(content)]
    assert all(gap > 0.12 for gap in gaps), gaps
    last = json.loads(next(line for _, line in reversed(lines) if line.startswith("data: {"))[6:])
    meta = last["shoal"]
    assert meta["strategy"] == "fuse"
    roles = sorted((c["member"], c["role"]) for c in meta["candidates"])
    assert roles == [("alice", "answer"), ("bob", "answer"), ("writer", "aggregate")]
    assert fresh_upstream.bodies[0]["stream"] is True


def test_the_same_strategy_answers_whole_without_stream(base_url: str, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.reset(tokens=["Forty", "-two"])
    with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        done = client.chat.completions.create(model="shoal/fuse", messages=QUESTION)
    assert done.choices[0].message.content == "Forty-two"
    assert "stream" not in fresh_upstream.bodies[0]
    assert done.usage.total_tokens == sum(
        c["usage"]["total_tokens"] for c in done.model_extra["shoal"]["candidates"]
    )


def test_an_answer_that_contradicts_the_stream_ends_it_with_an_error(
    base_url: str, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.reset(tokens=["Forty", "-two"])
    with openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
        stream = client.chat.completions.create(model="shoal/liar", messages=QUESTION, stream=True)
        with pytest.raises(openai.APIError, match="differs from the text streamed"):
            for _ in stream:
                pass
