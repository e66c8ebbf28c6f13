"""Panel: parallel calls to members, with timeouts, retries, rate limits and cancellation.

A failed call is data, not an exception: :meth:`Panel.call` always returns a
:class:`~orchestrator.types.Candidate` (with ``error`` set on failure) and only
lets ``CancelledError`` through. :meth:`Panel.ask` fans out with a
``TaskGroup`` and yields candidates as they complete; leaving the
``async with`` block cancels the calls no one waits for any more::

    async with panel.ask(members, messages) as answers:
        async for candidate in answers:
            if decided(candidate):
                break          # the slower calls are cancelled here

A strategy marks the call whose text *is* its answer with ``final=True``; when
the request streams (the panel has an ``on_delta``), that call goes through the
provider's ``stream`` and its text reaches ``on_delta`` as it is generated.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncio_throttle import Throttler  # type: ignore[import-untyped]

from orchestrator.errors import BudgetExceeded, ModelError, ProviderError, ProviderTimeout
from orchestrator.logs import get_logger
from orchestrator.protocols import Provider, StreamDelta
from orchestrator.sovereignty.detector import redact
from orchestrator.telemetry import NO_SPAN, NO_TRACER, Span, Tracer
from orchestrator.types import Call, Candidate, CandidateError, Completion, Member, Usage, assembled

if TYPE_CHECKING:
    from orchestrator.cache import CallCache
    from orchestrator.sovereignty.breaker import Breakers, Failover
    from orchestrator.sovereignty.policy import Clearance
    from orchestrator.state.base import Account, Reservation, SharedState
    from orchestrator.state.limits import MemberSlot

__all__ = ["Fanout", "Ledger", "MemberGates", "Panel", "PanelSettings"]

log = get_logger("shoal.panel")


@dataclass(frozen=True, slots=True)
class PanelSettings:
    timeout_s: float = 120.0
    max_retries: int = 2
    max_concurrency: int = 8
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0


class MemberGates:
    """Per-member concurrency and rate limits, shared by every request of one orchestrator.

    Created lazily inside the running loop (semaphores are loop-bound). Each process
    holds ``max_concurrency`` with a semaphore; :meth:`slot` adds the limits kept in the
    shared state (``requests_per_minute``, ``tokens_per_minute``, and with the Redis
    backend ``rate_limit_per_s`` and ``max_concurrency`` across every instance too).
    """

    def __init__(self, settings: PanelSettings, state: SharedState | None = None) -> None:
        self._settings = settings
        self._state = state
        self._shared = state is not None and state.backend != "memory"
        self._gates: dict[str, tuple[asyncio.Semaphore, Throttler | None]] = {}

    def get(self, member: Member) -> tuple[asyncio.Semaphore, Throttler | None]:
        gate = self._gates.get(member.name)
        if gate is None:
            limit = member.max_concurrency or self._settings.max_concurrency
            rate = None if self._shared else member.rate_limit_per_s  # shared: a window in slot()
            throttler = _throttler(rate) if rate else None
            gate = self._gates[member.name] = (asyncio.Semaphore(limit), throttler)
        return gate

    def slot(self, member: Member, call: Call, deadline: float | None) -> MemberSlot | None:
        """The member's limits kept in the shared state, or None when none applies to it."""
        if self._state is None or not (
            member.requests_per_minute
            or member.tokens_per_minute
            or (self._shared and (member.max_concurrency or member.rate_limit_per_s))
        ):
            return None  # the same cases in which MemberSlot would wait for nothing
        from orchestrator.state.limits import MemberSlot

        return MemberSlot(self._state, member, call, deadline, shared=self._shared)


def _throttler(per_second: float) -> Throttler:
    """``per_second`` calls a second, as a whole number of calls per period."""
    calls = max(1, int(per_second))
    return Throttler(rate_limit=calls, period=calls / per_second)


@dataclass(slots=True)
class _Tries:
    count: int = 0


@dataclass
class Ledger:
    """Every call made for one request, in completion order, with its budget."""

    max_calls: int | None = None
    max_cost_usd: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    started: int = 0
    over_budget: BudgetExceeded | None = None  # the caller's budget refused a call

    def __post_init__(self) -> None:
        self._caller = (self.max_calls, self.max_cost_usd)  # before any strategy tightens them

    @property
    def usage(self) -> Usage:
        prompt = completion = total = 0
        for c in self.candidates:
            usage = c.usage
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
            total += usage.total_tokens
        return assembled(Usage, prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.candidates)

    def shortfall(self, n: int, estimate_usd: float = 0.0) -> BudgetExceeded | None:
        """Why ``n`` more calls would break a budget, or None.

        Cost is projected from the calls so far and from ``estimate_usd``, a floor on
        what the new calls cost (priced members, prompt and ``max_tokens``).
        """
        return _shortfall(self, n, estimate_usd, self.max_calls, self.max_cost_usd)

    def reserve(self, n: int, estimate_usd: float = 0.0) -> None:
        """Claim ``n`` calls, or raise :class:`BudgetExceeded` before anything is sent.

        A refusal because of the caller's own budget (not a strategy's tighter one) is
        remembered: :meth:`settle` raises it even if the strategy goes on to a partial verdict.
        """
        if (exceeded := self.shortfall(n, estimate_usd)) is not None:
            caller = _shortfall(self, n, estimate_usd, *self._caller)
            if caller is not None and self.over_budget is None:
                self.over_budget = caller
            raise exceeded
        self.started += n

    def tighten(self, max_calls: int | None = None, max_cost_usd: float | None = None) -> None:
        """Lower the budgets (a strategy's own limits); a looser limit leaves the stricter one."""
        if max_calls is not None:
            self.max_calls = max_calls if self.max_calls is None else min(self.max_calls, max_calls)
        if max_cost_usd is not None:
            self.max_cost_usd = (
                max_cost_usd if self.max_cost_usd is None else min(self.max_cost_usd, max_cost_usd)
            )

    def settle(self) -> None:
        """After the strategy: the caller's budget broken is an error, never a quietly cut answer."""
        if self.over_budget is not None:
            raise self.over_budget
        limit = self._caller[1]
        if limit is not None and self.cost_usd > limit:
            raise BudgetExceeded(
                f"max_cost_usd={limit} exceeded: the calls cost {self.cost_usd:.6f} USD",
                budget="max_cost_usd",
            )


def _shortfall(
    ledger: Ledger, n: int, estimate_usd: float, max_calls: int | None, max_cost_usd: float | None
) -> BudgetExceeded | None:
    if max_calls is not None and ledger.started + n > max_calls:
        return BudgetExceeded(
            f"max_calls={max_calls} would be exceeded: {ledger.started} made, {n} more needed",
            budget="max_calls",
        )
    if max_cost_usd is not None:
        spent = ledger.cost_usd
        done = [c for c in ledger.candidates if c.error is None]
        projected = max(spent + n * (spent / len(done)) if done else spent, spent + estimate_usd)
        if spent >= max_cost_usd or projected > max_cost_usd:
            return BudgetExceeded(
                f"max_cost_usd={max_cost_usd} would be exceeded: spent {spent:.6f} USD,"
                f" {n} more call{'s' if n != 1 else ''} projected to reach {projected:.6f} USD",
                budget="max_cost_usd",
            )
    return None


class Panel:
    """The calls of one request: every one goes through here, so every one is counted."""

    def __init__(
        self,
        providers: Callable[[Member], Provider],
        *,
        settings: PanelSettings,
        gates: MemberGates,
        ledger: Ledger | None = None,
        deadline: float | None = None,
        request_id: str | None = None,
        cache: CallCache | None = None,
        labels: dict[str, str] | None = None,
        on_delta: Callable[[StreamDelta], None] | None = None,
        on_call: Callable[[Candidate], None] | None = None,
        clearance: Clearance | None = None,
        breakers: Breakers | None = None,
        failover: Failover | None = None,
        state: SharedState | None = None,
        accounts: Sequence[Account] = (),
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._providers = providers
        self.tracer = tracer  # spans of rounds, calls and tries (orchestrator.telemetry)
        self.state = state  # daily budgets (``accounts``) are reserved there before each call
        self.accounts = tuple(accounts)
        self.clearance = clearance  # every call is checked against the request's policy
        self.breakers = breakers
        self.failover = failover
        self.cache = cache
        self.on_delta = on_delta
        self.on_call = on_call
        self.settings = settings
        self._gates = gates
        self.ledger = ledger or Ledger()
        self.deadline = deadline
        self.request_id = request_id
        self.labels = dict(labels or {})

    def muted(self) -> Panel:
        """This panel (same ledger, budget, gates) without streaming: for a nested strategy,
        whose final generation is not necessarily the request's answer."""
        quiet = copy.copy(self)
        quiet.on_delta = None
        return quiet

    def ask(
        self,
        members: Sequence[Member],
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        role: str = "answer",
        sample_index: int = 0,
    ) -> Fanout:
        """Fan out one call per member; use as ``async with ... as it: async for c in it``."""
        if self.clearance is not None:
            self.clearance.check(members)
        self.ledger.reserve(len(members), _estimate(members, messages, params))
        return Fanout(self, list(members), messages, params or {}, role, sample_index)

    async def gather(
        self,
        members: Sequence[Member],
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        role: str = "answer",
    ) -> list[Candidate]:
        """All members' candidates, in the order of ``members``."""
        async with self.ask(members, messages, params, role=role) as answers:
            got = {c.replaces or c.member: c async for c in answers}
        return [got[m.name] for m in members]

    async def call(
        self,
        member: Member,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        role: str = "answer",
        sample_index: int = 0,
        reserved: bool = False,
        final: bool = False,
        busy: frozenset[str] = frozenset(),
    ) -> Candidate:
        """One call with retries, and failover to a fallback; never raises except ``CancelledError``.

        Before anything is sent, a member the request's policy excludes raises
        :class:`~orchestrator.errors.PolicyError` and an exhausted budget
        :class:`~orchestrator.errors.BudgetExceeded`. ``final=True``: this call's text
        is the strategy's answer, so a streaming request streams it; once a token has
        gone out, a failure is neither retried nor handed to a fallback (either would
        repeat it).
        """
        with self.tracer.round(role, [member]):  # a lone call is a round; in a fan-out, the fan-out's
            return await self._call(member, messages, params, role, sample_index, reserved, final, busy)

    async def _call(
        self,
        member: Member,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None,
        role: str,
        sample_index: int,
        reserved: bool,
        final: bool,
        busy: frozenset[str],
    ) -> Candidate:
        if self.clearance is not None:
            self.clearance.check([member])
        if not reserved:
            self.ledger.reserve(1, _estimate([member], messages, params))
        relay = _Relay(self.on_delta) if final and self.on_delta is not None else None
        candidate = await self._once(member, messages, params, role, sample_index, relay=relay)
        tried = {member.name}
        failover = self.failover if self.failover is not None and self.failover.covers(member, role) else None
        while failover is not None and candidate.error is not None and candidate.error.type not in _FINAL:
            if relay is not None and relay.sent:
                break  # text has gone out: a stand-in would start the answer over
            backup = failover.next_for(member, tried, set(busy))
            if backup is None:
                break
            try:
                if candidate.error.type != "circuit_open":
                    self.ledger.reserve(1, _estimate([backup], messages, params))
            except BudgetExceeded:
                break
            tried.add(backup.name)
            log.info("member_failover", member=member.name, fallback=backup.name, reason=candidate.error.type)
            candidate = await self._once(
                backup, messages, params, role, sample_index, replaces=member.name, relay=relay
            )
        if candidate.error is not None and candidate.error.type == "circuit_open":
            self.ledger.candidates.append(candidate)
        return candidate

    def batches(self, members: Sequence[Member]) -> list[list[Member]]:
        """``members`` as units of one request: the sample seats of one member together (up to its
        provider's ``max_n``) unless a failover could swap a seat; every other member alone."""
        if all(member.sample_of is None for member in members):
            return [[member] for member in members]  # no sample seats: every member alone
        units: list[list[Member]] = []
        groups: dict[str, list[Member]] = {}
        for member in members:
            base = member.sample_of
            failover = self.failover
            swappable = failover is not None and bool(failover.spares) and failover.covers(member, "answer")
            if base is None or swappable:
                units.append([member])
            elif base in groups:
                groups[base].append(member)
            else:
                groups[base] = [member]
                units.append(groups[base])
        split: list[list[Member]] = []
        for unit in units:
            most = int(getattr(self._providers(unit[0]), "max_n", 1)) if len(unit) > 1 else 1
            split.extend(unit[i : i + max(1, most)] for i in range(0, len(unit), max(1, most)))
        return split

    async def samples(
        self, seats: Sequence[Member], messages: list[dict[str, Any]], params: dict[str, Any], role: str
    ) -> list[Candidate]:
        """The seats of one member, asked in one request with ``n = len(seats)``; their calls were
        reserved by :meth:`ask`. Seats the reply has no choice for are asked one by one."""
        first, rest = seats[0], list(seats[1:])
        more: list[Completion] = []
        lead = await self._once(first, messages, {**params, "n": len(seats)}, role, 0, more=more)
        out = [lead]
        if lead.error is not None:
            for seat in rest:  # one failure for the whole request: each seat carries it
                out.append(self._record(seat, role, time.perf_counter(), 0, error=lead.error))
            return out
        for seat, completion in zip(rest, more, strict=False):
            recorded = lead.latency_s if lead.cached else None
            started = time.perf_counter() - lead.latency_s
            out.append(self._record(seat, role, started, 1, completion=completion, recorded=recorded))
        for seat in rest[len(more) :]:
            out.append(await self._once(seat, messages, params, role, 0))
        return out

    async def _once(
        self,
        member: Member,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None,
        role: str,
        sample_index: int,
        replaces: str | None = None,
        **options: Any,
    ) -> Candidate:
        """One call to one member, a span of its own (its tries are the span's children)."""
        with self.tracer.call(member, role, sample_index, messages, params or {}, replaces) as span:
            candidate = await self._sent(member, messages, params, role, sample_index, replaces, **options)
            span.finished(candidate)
        return candidate

    async def _sent(
        self,
        member: Member,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None,
        role: str,
        sample_index: int,
        replaces: str | None = None,
        relay: _Relay | None = None,
        more: list[Completion] | None = None,
    ) -> Candidate:
        # Built from validated parts (the request's messages, the member's and the strategy's params),
        # so not validated again: for a panel of N that would copy every message N times.
        call = assembled(
            Call,
            messages=messages,
            params={**member.params, **(params or {})},
            sample_index=sample_index,
            request_id=self.request_id,
            labels=self.labels,
            sensitivity=list(self.clearance.sensitivity) if self.clearance is not None else [],
        )
        started = time.perf_counter()
        tries = _Tries()
        acquired = False
        reservation: Reservation | None = None
        try:
            if self.cache is not None and (hit := self.cache.get(member, call)) is not None:
                completion, recorded_latency = hit
                if more is not None:
                    more.extend(completion.more)
                if relay is not None:
                    pieces = [{"index": i, **c} for i, c in enumerate(completion.tool_calls or [])]
                    relay(
                        StreamDelta(
                            text=completion.text, tool_calls=pieces or None, logprobs=completion.logprobs
                        )
                    )
                return self._record(
                    member,
                    role,
                    started,
                    0,
                    completion=completion,
                    recorded=recorded_latency,
                    replaces=replaces,
                )
            if self.breakers is not None:
                if not await self.breakers.claim(member):
                    return _refused(member, role, self.breakers.config.cooldown_s)
                acquired = True
            if self.accounts and self.state is not None:
                held = await self._reserve(member, call)
                if isinstance(held, BudgetExceeded):
                    if acquired and self.breakers is not None:
                        self.breakers.drop(member)
                    return self._over_budget(member, role, held)
                reservation = held
            provider = self._providers(member)
            completion = await self._with_retries(provider, member, call, tries, relay)
        except asyncio.CancelledError:
            if acquired and self.breakers is not None:
                self.breakers.drop(member)
            self._release(reservation)
            cancelled = CandidateError(type="cancelled", message="cancelled")
            self._record(member, role, started, tries.count, error=cancelled, replaces=replaces)
            raise
        except Exception as exc:
            candidate = self._record(
                member, role, started, tries.count, error=_as_error(exc), replaces=replaces
            )
        else:
            if more is not None:
                more.extend(completion.more)
            candidate = self._record(
                member, role, started, tries.count, completion=completion, replaces=replaces
            )
            if self.cache is not None:
                self.cache.put(member, call, completion, candidate.latency_s)
        if reservation is not None and self.state is not None:
            # a failed call is released, a made one charged what it cost
            await self.state.settle(reservation, candidate.cost_usd if candidate.error is None else None)
        if acquired and self.breakers is not None:
            await self.breakers.report(member, candidate)
        return candidate

    async def _reserve(self, member: Member, call: Call) -> Reservation | BudgetExceeded:
        """One call and its estimated cost held against the daily budgets, or the refusal
        (remembered in the ledger, so the request ends as 429 rather than a partial answer)."""
        from orchestrator.state.base import today

        assert self.state is not None
        try:
            return await self.state.reserve(
                self.accounts, 1, _estimate([member], call.messages, call.params), today()
            )
        except BudgetExceeded as exc:
            if self.ledger.over_budget is None:
                self.ledger.over_budget = exc
            return exc

    def _over_budget(self, member: Member, role: str, exc: BudgetExceeded) -> Candidate:
        candidate = Candidate(
            member=member.name,
            model=member.model,
            role=role,
            attempts=0,
            error=CandidateError(type="budget", message=str(exc)),
        )
        self.ledger.candidates.append(candidate)
        return candidate

    def _release(self, reservation: Reservation | None) -> None:
        """Give a cancelled call's reservation back, even though our task is being cancelled."""
        if reservation is not None and self.state is not None:
            self.state.spawn(self.state.settle(reservation, None))

    async def _with_retries(
        self, provider: Provider, member: Member, call: Call, tries: _Tries, relay: _Relay | None
    ) -> Completion:
        """The call, retried while its error is retryable, no text has gone out, and the pause
        before the next try (Retry-After, else jittered backoff) ends before the request's
        deadline; otherwise the last error stands (a 429 stays a 429, not a timeout)."""
        retries = self._max_retries(member)
        retry = 0
        while True:
            try:
                tries.count += 1
                with self.tracer.attempt(tries.count):
                    return await self._gated(provider, member, call, relay)
            except ProviderError as exc:
                retry += 1
                if not exc.retryable or retry > retries or (relay is not None and relay.sent):
                    raise
                delay = self._delay(exc, retry)
                if not self._before_deadline(delay):
                    raise
            await asyncio.sleep(delay)

    def _before_deadline(self, seconds: float) -> bool:
        """Whether a pause of ``seconds`` still leaves time for a call before the deadline."""
        if self.deadline is None:
            return True
        return asyncio.get_running_loop().time() + seconds < self.deadline

    async def _gated(
        self, provider: Provider, member: Member, call: Call, relay: _Relay | None = None
    ) -> Completion:
        semaphore, throttler = self._gates.get(member)
        # Waiting for the member's concurrency or rate limit counts against the deadline too
        # (a free slot is taken at once: no wait, so no timer to arm).
        if semaphore.locked():
            try:
                async with asyncio.timeout_at(self.deadline):
                    await semaphore.acquire()
            except TimeoutError:
                raise self._late(member) from None
        else:
            await semaphore.acquire()
        try:
            if throttler is not None:
                try:
                    async with asyncio.timeout_at(self.deadline), throttler:
                        pass
                except TimeoutError:
                    raise self._late(member) from None
            slot = self._gates.slot(member, call, self.deadline)  # the shared limits
            if slot is None:
                return await self._attempt(provider, member, call, relay)
            async with slot:
                return slot.used(await self._attempt(provider, member, call, relay))
        finally:
            semaphore.release()

    @staticmethod
    def _late(member: Member) -> ProviderTimeout:
        return ProviderTimeout(
            "request deadline passed while waiting for the member's limits",
            provider=member.provider,
            model=member.model,
        )

    def _max_retries(self, member: Member) -> int:
        return member.max_retries if member.max_retries is not None else self.settings.max_retries

    async def _attempt(
        self, provider: Provider, member: Member, call: Call, relay: _Relay | None = None
    ) -> Completion:
        timeout = member.timeout_s or self.settings.timeout_s
        if self.deadline is not None:
            remaining = self.deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise ProviderTimeout("request deadline passed before the call", provider=member.provider)
            timeout = min(timeout, remaining)
        try:
            async with asyncio.timeout(timeout):
                if relay is None:
                    return await provider.complete(call)
                return await _streamed(provider, member, call, relay)
        except TimeoutError:
            raise ProviderTimeout(
                f"no answer within {timeout:.3g} s", provider=member.provider, model=member.model
            ) from None

    def _delay(self, exc: BaseException | None, retry_number: int) -> float:
        """Seconds before retry ``retry_number``: what Retry-After said, else jittered exponential backoff."""
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.backoff_max_s * 4)
        backoff = self.settings.backoff_base_s * 2 ** (retry_number - 1)
        return min(backoff, self.settings.backoff_max_s) * (0.5 + random.random() / 2)

    def _record(
        self,
        member: Member,
        role: str,
        started: float,
        attempts: int,
        *,
        completion: Completion | None = None,
        error: CandidateError | None = None,
        recorded: float | None = None,
        replaces: str | None = None,
    ) -> Candidate:
        latency = recorded if recorded is not None else time.perf_counter() - started
        usage = completion.usage if completion else Usage()
        cost = (
            completion.cost_usd if completion and completion.cost_usd is not None else member.cost_of(usage)
        )
        candidate = assembled(  # from validated parts: a member, a completion, an error
            Candidate,
            member=member.name,
            model=(completion.model if completion and completion.model else member.model),
            role=role,
            text=completion.text if completion else None,
            usage=usage,
            cost_usd=cost or 0.0,
            latency_s=latency,
            attempts=attempts if recorded is not None else max(attempts, 1),
            cached=recorded is not None,
            error=error,
            finish_reason=completion.finish_reason if completion else None,
            tool_calls=completion.tool_calls if completion else None,
            logprobs=completion.logprobs if completion else None,
            replaces=replaces,
        )
        self.ledger.candidates.append(candidate)
        if self.on_call is not None:
            self.on_call(candidate)
        if log.enabled("info"):
            log.info(
                "member_call",
                request_id=self.request_id,
                member=member.name,
                role=role,
                latency_s=round(latency, 4),
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                attempts=candidate.attempts,
                outcome=error.type if error else "ok",
            )
        return candidate


class _Relay:
    """Passes a final call's text and tool-call pieces on to the request's ``on_delta``, as the
    member sent them; remembers whether any went out."""

    def __init__(self, on_delta: Callable[[StreamDelta], None]) -> None:
        self._on_delta = on_delta
        self.sent = False

    def __call__(self, delta: StreamDelta) -> None:
        if delta.text or delta.tool_calls:
            self.sent = True
            self._on_delta(StreamDelta(text=delta.text, tool_calls=delta.tool_calls, logprobs=delta.logprobs))


async def _streamed(provider: Provider, member: Member, call: Call, relay: _Relay) -> Completion:
    """One call through ``provider.stream``: text to ``relay`` as it comes, the whole completion back."""
    completion: Completion | None = None
    async with contextlib.aclosing(provider.stream(call)) as deltas:  # type: ignore[type-var]
        async for delta in deltas:
            relay(delta)
            if delta.completion is not None:
                completion = delta.completion
    if completion is None:
        raise ProviderError(
            f"{member.provider} {member.model}: stream ended without its final completion",
            provider=member.provider,
            model=member.model,
        )
    return completion


def _estimate(
    members: Sequence[Member], messages: list[dict[str, Any]], params: dict[str, Any] | None
) -> float:
    """A floor on what the calls cost: about four characters a prompt token, ``max_tokens`` out."""
    priced = [m for m in members if m.input_cost_per_token is not None or m.output_cost_per_token is not None]
    if not priced:
        return 0.0  # what cost_of says of an unpriced member, without reading the prompt
    prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4
    total = 0.0
    for member in priced:
        max_tokens = {**member.params, **(params or {})}.get("max_tokens")
        out = max_tokens if isinstance(max_tokens, int) else 0
        total += member.cost_of(Usage.of(prompt, out)) or 0.0
    return total


# Outcomes no fallback can change: the request was cancelled, or its daily budget is spent.
_FINAL = frozenset({"cancelled", "budget"})


def _refused(member: Member, role: str, cooldown_s: float) -> Candidate:
    message = (
        f"{member.name}: circuit open after repeated failures; not sent (next probe within {cooldown_s:g} s)"
    )
    return Candidate(
        member=member.name,
        model=member.model,
        role=role,
        attempts=0,
        error=CandidateError(type="circuit_open", message=message),
    )


def _as_error(exc: Exception) -> CandidateError:
    """A failed call as data. Its message goes to the client, the logs and the audit trail, so
    anything the detector finds in it (a key an upstream echoed back) is redacted here."""
    if isinstance(exc, ProviderError):
        return CandidateError(
            type=exc.kind, message=redact(str(exc)), status=exc.status, retry_after=exc.retry_after
        )
    if isinstance(exc, ModelError):
        return CandidateError(type="model_error", message=redact(str(exc)))
    # Raised on our side before or while sending (e.g. a body that cannot be encoded): not the
    # member's fault, so the breaker does not count it (see breaker.UPSTREAM_FAULTS).
    log.warning("member_call_error", error_type=type(exc).__name__)
    return CandidateError(type="internal_error", message=f"{type(exc).__name__} while preparing the call")


class Fanout:
    """Candidates of a parallel call, as they complete; exiting cancels what is still running."""

    def __init__(
        self,
        panel: Panel,
        members: list[Member],
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        role: str,
        sample_index: int,
    ) -> None:
        self._panel = panel
        self._members = members
        self._names = frozenset(m.name for m in members)
        self._messages = messages
        self._params = params
        self._role = role
        self._sample_index = sample_index
        self._queue: asyncio.Queue[Candidate] = asyncio.Queue()
        self._group = asyncio.TaskGroup()
        self._tasks: list[asyncio.Task[None]] = []
        self._received = 0
        self._expected = len(members)
        self._span: Span = NO_SPAN

    async def __aenter__(self) -> Fanout:
        await self._group.__aenter__()
        self._span, context = self._panel.tracer.fanout(self._role, self._members)  # the tasks' parent
        self._expected = len(self._members)
        for unit in self._panel.batches(self._members):
            if len(unit) == 1:
                task = self._group.create_task(
                    self._one(unit[0]), name=f"call:{unit[0].name}", context=context
                )
            else:
                name = f"samples:{unit[0].sample_of}"
                task = self._group.create_task(self._samples(unit), name=name, context=context)
            self._tasks.append(task)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        pending = [task for task in self._tasks if not task.done()]
        for task in pending:
            task.cancel()
        try:
            await self._group.__aexit__(*exc_info)
        finally:
            self._span.end(len(pending))
        return None

    def __aiter__(self) -> Fanout:
        return self

    async def __anext__(self) -> Candidate:
        if self._received >= self._expected:
            raise StopAsyncIteration
        candidate = await self._queue.get()
        self._received += 1
        return candidate

    @property
    def pending(self) -> int:
        return self._expected - self._received

    async def _samples(self, seats: list[Member]) -> None:
        for candidate in await self._panel.samples(seats, self._messages, self._params, self._role):
            self._queue.put_nowait(candidate)

    async def _one(self, member: Member) -> None:
        candidate = await self._panel.call(
            member,
            self._messages,
            self._params,
            role=self._role,
            sample_index=self._sample_index,
            reserved=True,
            busy=self._names,
        )
        self._queue.put_nowait(candidate)
