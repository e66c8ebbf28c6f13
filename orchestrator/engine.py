"""The engine: route a request, admit the team, run the strategy over a panel, return a verdict.

>>> from orchestrator.config import parse_config
>>> config = parse_config('''
... [members.a]
... provider = "scripted"
... model = "scripted"
... answers = ["42"]
... [members.b]
... provider = "scripted"
... model = "scripted"
... answers = ["41"]
... [members.c]
... provider = "scripted"
... model = "scripted"
... answers = ["42"]
... ''', source="doc")
>>> verdict = Orchestrator(config).run_sync("What is six times seven?")
>>> verdict.answer, round(verdict.confidence, 2)
('42', 0.67)
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.config import ShoalConfig, load_config, strategy_options_error
from orchestrator.errors import EmptyRequestError, ShoalError, UnknownNameError, UsageError
from orchestrator.logs import bound, get_logger
from orchestrator.panel import Ledger, MemberGates, Panel, PanelSettings
from orchestrator.protocols import (
    Classifier,
    Provider,
    ProviderContext,
    Strategy,
    StrategyContext,
    StreamDelta,
)
from orchestrator.registry import Registry
from orchestrator.router import Router
from orchestrator.sovereignty.gatekeeper import Gatekeeper
from orchestrator.state import Account, SharedState, open_state
from orchestrator.telemetry import Tracer, tracer_for
from orchestrator.types import (
    Call,
    Candidate,
    Completion,
    Embeddings,
    Member,
    Message,
    Request,
    Route,
    Tags,
    Usage,
    Verdict,
    copied,
)

if TYPE_CHECKING:
    from orchestrator.cache import CallCache
    from orchestrator.response_cache import ResponseCache

__all__ = ["Orchestrator", "OrchestratorProvider"]

log = get_logger("shoal.engine")

CHOSEN = "chosen"  # the category of a request whose strategy the caller named (not classified)

Question = str | list[dict[str, Any]] | list[Message] | Request


class Orchestrator:
    """Shoal's engine, and a provider itself: an orchestrator can be a member of another."""

    def __init__(
        self,
        config: ShoalConfig,
        *,
        registry: Registry | None = None,
        classifier: Classifier | None = None,
        cache: CallCache | None = None,
        on_call: Callable[[Candidate], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        state: SharedState | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """``on_call`` sees every call's candidate as it is recorded (metrics, audit); ``state``
        holds what several workers share (default: the ``[state]`` section's backend);
        ``tracer`` makes the spans (default: from ``[telemetry]``, off unless configured);
        ``on_progress`` gets short lines for a person waiting (models loading, members asked)."""
        self.config = config
        self.tracer = tracer if tracer is not None else tracer_for(config.telemetry)
        self.state = state if state is not None else self.state_for(config)
        # Daily budgets of the request in progress beyond its team's (the proxy sets its key's).
        self.accounts: contextvars.ContextVar[tuple[Account, ...]] = contextvars.ContextVar(
            "shoal_accounts", default=()
        )
        self.on_call = on_call
        self.on_progress = on_progress
        self.cache = cache if cache is not None else self._configured_cache(config)
        # whole verdicts by exact request ([cache]), in the shared state's key-value store
        enabled = config.cache.enabled
        self.response_cache: ResponseCache | None = None
        if enabled:
            from orchestrator.response_cache import ResponseCache  # its hashing and JSON, when on

            self.response_cache = ResponseCache(config, config.cache, self.state)
        self.registry = registry or Registry()
        defaults = config.defaults
        self.settings = PanelSettings(
            timeout_s=defaults.timeout_s,
            max_retries=defaults.max_retries,
            max_concurrency=defaults.max_concurrency,
        )
        if classifier is None:
            classifier = self.classifier_for(config, self.registry)
        self.router = Router(classifier, config.routes, defaults.strategy, defaults.team)
        self._gates = MemberGates(self.settings, self.state)
        self.gatekeeper = Gatekeeper(config, self.registry, state=self.state)  # policy, breakers, audit
        self._providers: dict[str, Provider] = {}
        self._strategies: dict[str, Strategy] = {}
        self._context = self._new_context()

    @staticmethod
    def classifier_for(config: ShoalConfig, registry: Registry) -> Classifier:
        """The classifier ``[router]`` names (one that caches gets the cache directory)."""
        factory = registry.classifier(config.router.classifier)
        uses_cache = getattr(factory, "uses_cache_dir", False)
        return factory(cache_dir=config.cache_dir()) if uses_cache else factory()  # type: ignore[no-any-return]

    @classmethod
    def from_config(cls, path: str | Path | None = None, **kwargs: Any) -> Orchestrator:
        registry = kwargs.pop("registry", None) or Registry()
        return cls(load_config(path, registry=registry), registry=registry, **kwargs)

    async def __aenter__(self) -> Orchestrator:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    # -- the library API -------------------------------------------------------------

    async def run(
        self,
        question: Question,
        *,
        strategy: str | None = None,
        team: str | None = None,
        member: str | None = None,
        params: dict[str, Any] | None = None,
        tags: Tags | dict[str, Any] | None = None,
        on_delta: Callable[[StreamDelta], None] | None = None,
        cache: bool = True,
    ) -> Verdict:
        """Ask the panel; returns the verdict (answer, confidence, candidates, usage, cost).

        ``member`` asks that one member directly (strategy ``single``, no cross-check).
        ``on_delta`` receives the answer's text as it is generated when the strategy
        ends in a generation (a member asked directly, an aggregator, a chairman);
        otherwise nothing is streamed and the caller sends ``verdict.answer``.
        ``cache=False`` neither reads nor fills the response cache (``[cache]``) for this call.
        """
        started = time.perf_counter()
        request = self._request(question, params, tags)
        clearance = self.gatekeeper.clear(request)
        with (
            self.tracer.request(request, clearance) as span,
            self.gatekeeper.audited(request, clearance) as trail,
        ):
            if member is not None:
                route, chosen = self._direct(member)
                admission = self.gatekeeper.admit_direct(clearance, self.config.members[member])
            else:
                route = self.route(request, strategy=strategy, team=team)
                chosen = self.strategy(route.strategy, team=route.team)
                admission = self.gatekeeper.admit(clearance, route)
            trail.route = route
            span.routed(route, admission)
            responses = self.response_cache if cache else None
            cache_key = None
            if responses is not None:
                # The clearance and the admission above come first: the cache serves only what
                # the policy lets this request see (ResponseCache.lookup checks each member).
                cache_key = responses.key(request, route, clearance, member=member)
                hit = await responses.lookup(cache_key, clearance)
                if hit is not None:
                    verdict = responses.served(hit, request, route, time.perf_counter() - started)
                    verdict.sensitivity = clearance.sensitivity
                    span.done(verdict)
                    if on_delta is not None and verdict.answer:
                        on_delta(StreamDelta(text=verdict.answer))  # a streaming request streams it
                    log.info("request_cached", request_id=request.request_id, strategy=route.strategy)
                    return verdict
            deadline_s = request.tags.deadline_s or self.config.defaults.deadline_s
            loop = asyncio.get_running_loop()
            trail.ledger = ledger = Ledger(
                max_calls=request.tags.max_calls, max_cost_usd=request.tags.max_cost_usd
            )
            panel = Panel(
                self.provider_for,
                settings=self.settings,
                gates=self._gates,
                ledger=ledger,
                deadline=loop.time() + deadline_s if deadline_s else None,
                request_id=request.request_id,
                cache=self.cache,
                clearance=clearance,
                breakers=self.gatekeeper.breakers,
                failover=self.gatekeeper.failover(admission),
                labels=request.tags.labels,
                on_delta=on_delta,
                on_call=self.on_call,
                tracer=self.tracer,
                state=self.state,
                accounts=(*self.accounts.get(), *self._team_accounts(route.team)),
            )
            ctx = StrategyContext(
                panel=panel,
                members=admission.members,
                route=route,
                run_strategy=self._nested(panel, (route.strategy,), route.team),
                roster=dict(self.config.members),  # the panel refuses those the policy excludes
            )
            with bound(request_id=request.request_id):
                log.info("request_routed", category=route.category, strategy=route.strategy, team=route.team)
                if self.on_progress is not None:
                    n = len(admission.members)
                    who = f"{n} member{'s' if n != 1 else ''}"
                    self.on_progress(f"asking {who} ({route.strategy}, team {route.team or '-'})")
                try:
                    verdict = await chosen.run(request, ctx)
                except ShoalError:
                    if ledger.over_budget is not None:  # a daily budget refused a call: that is why
                        raise ledger.over_budget from None
                    raise
                ledger.settle()
                verdict = self._account(verdict, ledger, route, request, started, clearance.sensitivity)
                span.done(verdict)
                if responses is not None and cache_key is not None:
                    await responses.store(cache_key, verdict)
                log.info(
                    "request_done",
                    strategy=route.strategy,
                    confidence=round(verdict.confidence, 3),
                    abstained=verdict.abstained,
                    calls=verdict.calls,
                    latency_s=round(verdict.latency_s, 4),
                )
        return verdict

    async def embed(
        self,
        member: str,
        texts: list[str],
        *,
        params: dict[str, Any] | None = None,
        tags: Tags | dict[str, Any] | None = None,
    ) -> Embeddings:
        """One member's embeddings of ``texts``, after the policy has cleared them.

        The policy sees every input as a user message of an ordinary request, so a
        confidential text reaches only members allowed to see it (or nothing is sent).
        """
        if member not in self.config.members:
            raise UnknownNameError("member", member, list(self.config.members))
        tag_model = tags if isinstance(tags, Tags) else Tags.model_validate(tags or {})
        messages = [Message(role="user", content=text) for text in texts]
        request = Request(messages=messages, params=dict(params or {}), tags=tag_model)
        clearance = self.gatekeeper.clear(request)
        with self.gatekeeper.audited(request, clearance) as trail:
            chosen = self.gatekeeper.admit_direct(clearance, self.config.members[member]).members[0]
            trail.route = Route(category="embeddings", strategy="embed", reason=f"member {member} embeds")
            trail.ledger = ledger = Ledger(
                max_calls=request.tags.max_calls, max_cost_usd=request.tags.max_cost_usd
            )
            ledger.reserve(1)  # the request's (and the key's daily) max_calls, before anything is sent
            provider = self.provider_for(chosen)
            embedder = getattr(provider, "embed", None)
            if embedder is None:
                raise UsageError(
                    f"member {member!r} (provider {chosen.provider!r}) does not embed; ask a member whose "
                    "provider does (openai_compat, litellm, local_embedding)"
                )
            started = time.perf_counter()
            async with asyncio.timeout(chosen.timeout_s or self.settings.timeout_s):
                result: Embeddings = await embedder(texts, request.params)
            candidate = Candidate(
                member=chosen.name,
                model=result.model or chosen.model,
                role="embed",
                text="",
                usage=result.usage,
                cost_usd=chosen.cost_of(result.usage) or 0.0,
                latency_s=time.perf_counter() - started,
            )
            ledger.candidates.append(candidate)
            if self.on_call is not None:
                self.on_call(candidate)
        return result

    def run_sync(self, question: Question, **kwargs: Any) -> Verdict:
        """``run`` for synchronous callers: one event loop per call, closed with its clients."""

        async def once() -> Verdict:
            try:
                return await self.run(question, **kwargs)
            finally:
                await self.aclose()

        return asyncio.run(once())

    def route(self, request: Request, *, strategy: str | None = None, team: str | None = None) -> Route:
        if strategy is not None:
            # The caller chose: the classifier would only label the request, so it is not asked.
            section = self.config.strategy_config(strategy, self.registry)
            chosen_team = team or self.config.team_of(section)
            self.config.team_members(chosen_team)  # an unknown team fails here, before anything else
            category = request.tags.category or CHOSEN
            return Route(category=category, strategy=strategy, team=chosen_team, reason="chosen by caller")
        route = self.router.route(request)
        section = self.config.strategy_config(route.strategy, self.registry)
        chosen_team = team or route.team or self.config.team_of(section)
        self.config.team_members(chosen_team)
        return copied(route, team=chosen_team)

    def strategy(self, name: str, *, team: str | None = None) -> Strategy:
        """The strategy called ``name``; a kind used by name takes its defaults from ``team``."""
        implicit = name not in self.config.strategies
        key = f"{name}@{team}" if implicit and team else name
        if key not in self._strategies:
            section = self.config.strategy_config(name, self.registry, team=team)
            cls = self.registry.strategy(section.kind)
            try:
                self._strategies[key] = cls(name, section.options())
            except ValidationError as exc:
                raise strategy_options_error(name, section.kind, exc) from None
        return self._strategies[key]

    def _direct(self, member: str) -> tuple[Route, Strategy]:
        """The route and strategy of a question put to one member directly."""
        if member not in self.config.members:
            raise UnknownNameError("member", member, list(self.config.members))
        key = f"single:{member}"
        if key not in self._strategies:
            # one answer, nothing to compare it with: no embedding model for its equivalence key
            options = {"member": member, "text_match": "lexical"}
            self._strategies[key] = self.registry.strategy("single")("single", options)
        route = Route(category="direct", strategy="single", reason=f"member {member} asked directly")
        return route, self._strategies[key]

    def provider_for(self, member: Member) -> Provider:
        key = member.sample_of or member.name  # a member's sample seats share its provider
        provider = self._providers.get(key)
        if provider is None:
            factory = self.registry.provider(member.provider)
            provider = self._providers[key] = factory(member, self._context)
        return provider

    async def aclose(self) -> None:
        providers, self._providers = self._providers, {}
        for provider in providers.values():
            await provider.aclose()
        context, self._context = self._context, self._new_context()
        await context.exit_stack.aclose()
        self._gates = MemberGates(self.settings, self.state)
        await self.state.aclose()
        await self.tracer.aclose()  # what is buffered goes out

    # -- an orchestrator is a provider -----------------------------------------------

    async def complete(self, call: Call) -> Completion:
        params = dict(call.params)
        strategy = params.pop("shoal_strategy", None)
        tags = {"sensitivity": ",".join(call.sensitivity) or None}  # the outer request's, for our policy
        verdict = await self.run(call.messages, strategy=strategy, params=params, tags=tags)
        return Completion(
            text=verdict.answer,
            model=f"shoal/{verdict.strategy}",
            usage=verdict.usage,
            cost_usd=verdict.cost_usd,
            finish_reason="stop",
        )

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        completion = await self.complete(call)
        yield StreamDelta(text=completion.text)
        yield StreamDelta(finish_reason="stop", completion=completion)

    # -- internals -------------------------------------------------------------------

    @staticmethod
    def state_for(config: ShoalConfig) -> SharedState:
        budgets = config.server.key_budgets_path or config.cache_dir() / "key_budgets.sqlite"
        return open_state(config.state, budgets_path=budgets)

    def _team_accounts(self, team: str | None) -> tuple[Account, ...]:
        section = self.config.teams.get(team or "")
        if section is None or (section.daily_max_calls is None and section.daily_max_cost_usd is None):
            return ()
        return (
            Account(
                f"team:{team}",
                "team_daily",
                f"team {team!r}",
                section.daily_max_calls,
                section.daily_max_cost_usd,
            ),
        )

    @staticmethod
    def _configured_cache(config: ShoalConfig) -> CallCache | None:
        mode = config.defaults.call_cache
        if mode == "off":
            return None
        from orchestrator.cache import CallCache  # sqlite, only when record/replay is on

        path = config.defaults.call_cache_path or config.cache_dir() / "calls.sqlite"
        return CallCache(path, mode)

    def _new_context(self) -> ProviderContext:
        return ProviderContext(
            cache_dir=self.config.cache_dir(), offline=self.config.defaults.offline, progress=self.on_progress
        )

    @staticmethod
    def _request(
        question: Question, params: dict[str, Any] | None, tags: Tags | dict[str, Any] | None
    ) -> Request:
        if isinstance(question, Request):
            request = question
        else:
            try:
                tag_model = tags if isinstance(tags, Tags) else Tags.model_validate(tags or {})
                request = Request.of(question, params=dict(params or {}), tags=tag_model)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "question"
                raise UsageError(f"{where}: {first['msg']}") from None
        if not request.messages or not any(m.text().strip() for m in request.messages):
            raise EmptyRequestError("the question is empty; pass a non-empty question or messages")
        return request

    def _nested(self, panel: Panel, stack: tuple[str, ...], team: str | None) -> Any:
        """``run_strategy`` for a strategy that runs others (a cascade): same panel, same budget.

        A stage that is a kind used by name (``-s cascade``: vote, then judge) runs on the
        team of the strategy that runs it; a configured stage on its own section's team.
        """

        async def run_strategy(
            name: str, request: Request, members: list[Member] | None = None, seed: Verdict | None = None
        ) -> Verdict:
            if name in stack:
                raise UsageError(
                    f"strategy cycle: {' -> '.join((*stack, name))}; a strategy may not run itself"
                )
            implicit = name not in self.config.strategies
            stage_team = team if implicit else None
            section = self.config.strategy_config(name, self.registry, team=stage_team)
            runs_on = stage_team or self.config.team_of(section)
            team_members = members or self.gatekeeper.admit_team(panel.clearance, runs_on)
            route = Route(category="nested", strategy=name, team=section.team, reason="nested")
            ctx = StrategyContext(
                panel=panel.muted(),
                members=team_members,
                route=route,
                run_strategy=self._nested(panel, (*stack, name), runs_on),
                roster=dict(self.config.members),
                seed=seed,
            )
            start = len(panel.ledger.candidates)
            verdict = await self.strategy(name, team=stage_team).run(request, ctx)
            own = panel.ledger.candidates[start:]
            usage = Usage()
            for c in own:
                usage = usage + c.usage
            return verdict.model_copy(
                update={
                    "candidates": own,
                    "calls": len(own),
                    "usage": usage,
                    "cost_usd": sum(c.cost_usd for c in own),
                }
            )

        return run_strategy

    @staticmethod
    def _account(
        verdict: Verdict,
        ledger: Ledger,
        route: Route,
        request: Request,
        started: float,
        sensitivity: list[str],
    ) -> Verdict:
        return copied(  # model_copy(update=...), from the ledger's validated parts
            verdict,
            route=route,
            candidates=list(ledger.candidates),
            usage=ledger.usage,
            cost_usd=ledger.cost_usd,
            calls=sum(1 for c in ledger.candidates if c.attempts > 0 or c.cached),
            latency_s=time.perf_counter() - started,
            request_id=request.request_id,
            sensitivity=sensitivity,
        )


class OrchestratorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str | None = None


class OrchestratorProvider:
    """A member backed by a whole Shoal orchestrator (``provider = "shoal"``).

    ``model`` names the inner strategy, or ``auto`` to let the inner router decide;
    ``config`` points at the inner orchestrator's TOML file.
    """

    Options = OrchestratorOptions

    def __init__(self, member: Member, context: ProviderContext) -> None:
        options = OrchestratorOptions.model_validate(member.options)
        self._strategy = (
            None if member.model in ("auto", "shoal/auto") else member.model.removeprefix("shoal/")
        )
        self._inner = Orchestrator.from_config(options.config)

    async def complete(self, call: Call) -> Completion:
        params = {**call.params, "shoal_strategy": self._strategy} if self._strategy else call.params
        return await self._inner.complete(call.model_copy(update={"params": params}))

    async def stream(self, call: Call) -> AsyncIterator[StreamDelta]:
        completion = await self.complete(call)
        yield StreamDelta(text=completion.text)
        yield StreamDelta(finish_reason="stop", completion=completion)

    async def aclose(self) -> None:
        await self._inner.aclose()
