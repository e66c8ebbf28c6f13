r"""A deterministic provider for tests, demos and forecasts.

Configured from TOML like any member::

    [members.alice]
    provider = "scripted"
    model = "scripted"
    answers = ["42", "41"]          # used in turn, call after call (wraps around)
    latency_s = 0.05
    fail = ["rate_limit", "none"]   # or one of: none, timeout, rate_limit, server_error, hang
    usage = { prompt_tokens = 10, completion_tokens = 2 }

Answers may depend on the prompt: ``rules`` are tried first, in order, and the
first whose ``when`` (a regular expression, searched in the text of all the
call's messages) matches gives the answer; its ``answer`` may use the match's
groups (``\1``, ``\g<name>``). Use it to script a judge or a debater::

    rules = [
      { when = '<candidate id="(\d+)">\s*Paris', answer = 'BEST: \1' },
      { when = "Other panelists", answer = "42", tool_calls = [] },
    ]

An answer (in ``answers`` or a rule) can also be a table with tool calls:
``{ text = "", tool_calls = [{ name = "get_weather", arguments = { city = "Paris" } }] }``.
Every call received is kept in ``provider.received`` (the last 100), so a test
can check what a member was shown.

A *simulated* member answers from the gold answer instead of a script: right
with probability ``p``, its errors correlated with the other simulated members'
with pairwise correlation ``rho`` (see :mod:`providers.simulated`)::

    [members.sim1]
    provider = "scripted"
    model = "sim-0.7"
    simulate = { p = 0.7, rho = 0.2 }   # also: seed = 0, distractors = 3

It reads the gold answer from the request labels ``gold`` (with ``answer_type``,
``n_choices`` and ``item``), which ``shoal bench`` sets for every item; a call
without a ``gold`` label fails with a bad-request error.

>>> import asyncio
>>> from orchestrator.types import Member, Call
>>> from orchestrator.protocols import ProviderContext
>>> from pathlib import Path
>>> m = Member(name="a", provider="scripted", model="scripted", options={"answers": ["42", "41"]})
>>> p = ScriptedProvider(m, ProviderContext(cache_dir=Path(".")))
>>> [asyncio.run(p.complete(Call(messages=[]))).text for _ in range(3)]
['42', '41', '42']
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import BadRequestError, ProviderTimeout, RateLimited, ServerError
from orchestrator.protocols import ProviderContext, StreamDelta
from orchestrator.types import Call, Completion, Embeddings, Member, Usage
from providers.simulated import SimulateOptions, Simulation

__all__ = ["ScriptedOptions", "ScriptedProvider"]

Failure = Literal["none", "timeout", "rate_limit", "server_error", "hang"]


class ScriptedUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class ScriptedToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ScriptedAnswer(BaseModel):
    """An answer with tool calls (an answer that is a plain string has none)."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)


class ScriptedRule(BaseModel):
    """Answer ``answer`` when the prompt matches ``when``."""

    model_config = ConfigDict(extra="forbid")

    when: str
    answer: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)

    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.when, re.DOTALL)


def _default_answers() -> list[str | ScriptedAnswer]:
    return ["ok"]


class ScriptedOptions(BaseModel):
    """The member keys the scripted provider understands."""

    model_config = ConfigDict(extra="forbid")

    answers: list[str | ScriptedAnswer] = Field(
        default_factory=lambda: list[str | ScriptedAnswer](["ok"]), min_length=1
    )
    rules: list[ScriptedRule] = Field(default_factory=list)
    latency_s: float = Field(default=0.0, ge=0)
    fail: Failure | list[Failure] = "none"
    usage: ScriptedUsage | None = None
    retry_after_s: float | None = Field(default=None, ge=0)
    simulate: SimulateOptions | None = None


class ScriptedProvider:
    """Answers from a script; one instance per member keeps the turn counters."""

    Options = ScriptedOptions

    def __init__(self, member: Member, context: ProviderContext) -> None:
        self.member = member
        self.options = ScriptedOptions.model_validate(member.options)
        failures = self.options.fail if isinstance(self.options.fail, list) else [self.options.fail]
        self._answers = itertools.cycle(self.options.answers)
        self._failures = itertools.cycle(failures)
        self._rules = [(rule, rule.pattern()) for rule in self.options.rules]
        self._simulation = Simulation(member.name, self.options.simulate) if self.options.simulate else None
        self.calls = 0
        self.received: deque[Call] = deque(maxlen=100)

    async def complete(self, call: Call) -> Completion:
        self.calls += 1
        self.received.append(call)
        failure = next(self._failures)
        if failure == "hang":
            await asyncio.Event().wait()
        if self.options.latency_s:
            await asyncio.sleep(self.options.latency_s)
        self._raise_for(failure)
        text, tool_calls = (self._simulated(call), []) if self._simulation is not None else self._answer(call)
        usage = self._usage(call, text)
        return Completion(
            text=text,
            model=self.member.model,
            usage=usage,
            cost_usd=self.member.cost_of(usage),
            finish_reason="tool_calls" if tool_calls else "stop",
            tool_calls=tool_calls or None,
        )

    def _answer(self, call: Call) -> tuple[str, list[dict[str, Any]]]:
        prompt = "\n".join(_text_of(m.get("content")) for m in call.messages)
        for rule, pattern in self._rules:
            match = pattern.search(prompt)
            if match:
                return match.expand(rule.answer), _wire(rule.tool_calls)
        answer = next(self._answers)
        if isinstance(answer, str):
            return answer, []
        return answer.text, _wire(answer.tool_calls)

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        completion = await self.complete(call)
        words = completion.text.split(" ") if completion.text else []
        for i, word in enumerate(words):
            yield StreamDelta(text=word if i == 0 else " " + word)
        for index, tool_call in enumerate(completion.tool_calls or []):
            # as OpenAI streams them: id and name first, then the arguments in two pieces
            arguments = tool_call["function"]["arguments"]
            half = len(arguments) // 2
            head = {**tool_call, "function": {"name": tool_call["function"]["name"], "arguments": ""}}
            yield StreamDelta(tool_calls=[{"index": index, **head}])
            for piece in (arguments[:half], arguments[half:]):
                yield StreamDelta(tool_calls=[{"index": index, "function": {"arguments": piece}}])
        yield StreamDelta(finish_reason=completion.finish_reason, completion=completion)

    async def embed(self, texts: list[str], params: dict[str, Any]) -> Embeddings:
        """Deterministic unit vectors made from each text's sha256 (``dimensions``, default 8): the
        same text always gets the same vector; they carry no meaning (for tests and demos)."""
        self.calls += 1
        dimensions = int(params.get("dimensions") or 8)
        vectors = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest() * (dimensions // 32 + 1)
            raw = [(b - 127.5) / 127.5 for b in digest[:dimensions]]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            vectors.append([x / norm for x in raw])
        usage = Usage.of(sum(len(t.split()) for t in texts), 0)
        return Embeddings(vectors=vectors, model=self.member.model, usage=usage)

    async def aclose(self) -> None:
        return None

    def _simulated(self, call: Call) -> str:
        assert self._simulation is not None
        if "gold" not in call.labels:
            raise BadRequestError(
                f"{self.member.name}: a simulated member needs the gold answer in the request label 'gold'"
                " (shoal bench sets it; in the library pass tags={'labels': {'gold': ...}})",
                provider="scripted",
                model=self.member.model,
            )
        return self._simulation.answer(call.messages, call.labels, call.sample_index)

    def _raise_for(self, failure: Failure) -> None:
        name, model = self.member.name, self.member.model
        if failure == "timeout":
            raise ProviderTimeout(f"{name}: scripted timeout", provider="scripted", model=model)
        if failure == "rate_limit":
            raise RateLimited(
                f"{name}: scripted rate limit",
                provider="scripted",
                model=model,
                status=429,
                retry_after=self.options.retry_after_s,
            )
        if failure == "server_error":
            raise ServerError(f"{name}: scripted server error", provider="scripted", model=model, status=500)

    def _usage(self, call: Call, text: str) -> Usage:
        if self.options.usage is not None:
            return Usage.of(self.options.usage.prompt_tokens, self.options.usage.completion_tokens)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in call.messages)
        return Usage.of(prompt_words, len(text.split()))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _wire(calls: list[ScriptedToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments, sort_keys=True)},
        }
        for i, c in enumerate(calls)
    ]
