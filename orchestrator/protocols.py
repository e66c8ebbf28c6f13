"""The contracts between the engine and its plugins (providers, strategies, classifiers).

Providers and strategies import only this module, :mod:`orchestrator.types` and
:mod:`orchestrator.errors`; the engine finds them through entry points
(``shoal.providers``, ``shoal.strategies``, ``shoal.classifiers``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from orchestrator.types import Call, Completion, Embeddings, Member, Request, Route, Verdict

if TYPE_CHECKING:
    from orchestrator.panel import Panel

__all__ = [
    "Classification",
    "Classifier",
    "Embedder",
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "Strategy",
    "StrategyContext",
    "StreamDelta",
]


@dataclass(slots=True)
class StreamDelta:
    """A piece of a streamed completion: text, tool-call pieces, and on the last piece usage/finish.

    ``tool_calls`` are pieces in OpenAI's streaming shape, as the member sent them
    (``{"index", "id"?, "type"?, "function": {"name"?, "arguments"?}}``); the
    last piece's ``completion`` carries them merged.
    """

    text: str = ""
    finish_reason: str | None = None
    completion: Completion | None = None
    tool_calls: list[dict[str, Any]] | None = None
    # this piece's token log-probabilities in OpenAI's shape (``{"content": [...]}``), when the
    # request asked for them and the backend streams them
    logprobs: dict[str, Any] | None = None


@runtime_checkable
class Provider(Protocol):
    """One backend bound to one member. ``complete`` raises :class:`ProviderError` subclasses."""

    async def complete(self, call: Call) -> Completion: ...

    def stream(self, call: Call) -> AsyncIterator[StreamDelta]: ...

    async def aclose(self) -> None: ...


class Embedder(Protocol):
    """A provider that also embeds texts (``POST /v1/embeddings`` on a member); optional."""

    async def embed(self, texts: list[str], params: dict[str, Any]) -> Embeddings: ...


@dataclass
class ProviderContext:
    """What the engine lends providers: a cache dir and resources shared by its members.

    ``shared`` is owned by one orchestrator (never module-global): a provider puts
    a pooled client or a model server there so members of the same backend
    share it; ``exit_stack`` closes them when the orchestrator closes.
    ``progress`` takes a short line for a person waiting ("loading model X"); never a prompt.
    """

    cache_dir: Path
    shared: dict[str, Any] = field(default_factory=dict)
    exit_stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    offline: bool = False
    progress: Callable[[str], None] | None = None


class ProviderFactory(Protocol):
    def __call__(self, member: Member, context: ProviderContext) -> Provider: ...


@dataclass
class StrategyContext:
    """What a strategy may use: the panel, the team's members, other members by name, nesting.

    ``members`` is the team the strategy runs over; ``roster`` every member it
    may call by name (judges, aggregators, a chairman outside the team).
    ``run_strategy(name, request, members=None, seed=None)`` runs another
    configured strategy on the same panel, so its calls count against the same
    budget; ``seed`` is the verdict of an earlier stage (set for a strategy
    run by a cascade), whose answers the strategy may build on.
    """

    panel: Panel
    members: list[Member]
    route: Route
    run_strategy: Any = None  # async (name, request, members=None, seed=None) -> Verdict
    roster: dict[str, Member] = field(default_factory=dict)
    seed: Verdict | None = None

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        if name in self.roster:
            return self.roster[name]
        from orchestrator.errors import UnknownNameError

        raise UnknownNameError("member", name, [*{m.name for m in self.members}, *self.roster])


@runtime_checkable
class Strategy(Protocol):
    """Turns a request and a panel into a verdict.

    Strategies are built from their config section (``options``), then ``run``
    once per request. All calls go through ``ctx.panel`` so they are counted.
    """

    name: str

    async def run(self, request: Request, ctx: StrategyContext) -> Verdict: ...


@dataclass(slots=True)
class Classification:
    category: str
    scores: dict[str, float]
    reason: str = ""


@runtime_checkable
class Classifier(Protocol):
    def classify(self, text: str) -> Classification: ...
