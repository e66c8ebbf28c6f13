"""A member's limits kept in the shared state: waited for before a call, given back after.

``requests_per_minute`` is a sliding window (never more than that many calls in any
60 s), ``tokens_per_minute`` a token bucket (a call takes its estimate, prompt plus
``max_tokens``, and the difference to what it really used is settled afterwards). With
the Redis backend, ``rate_limit_per_s`` and ``max_concurrency`` are held across every
instance too (a window, and leases with a TTL so a crashed worker's slots come back).
A call waits for its limits until the request's deadline, then fails as a timeout.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ProviderTimeout
from orchestrator.types import Call, Completion, Member

if TYPE_CHECKING:
    from orchestrator.state.base import SharedState

__all__ = ["MemberSlot", "estimated_tokens"]

_LEASE_TTL_S = 600.0
_POLL_S = 0.02


def estimated_tokens(call: Call) -> int:
    """About four characters a prompt token, plus ``max_tokens`` (or 256) out."""
    prompt = sum(len(str(m.get("content") or "")) for m in call.messages) // 4
    out = call.params.get("max_tokens")
    return prompt + (out if isinstance(out, int) else 256)


class MemberSlot:
    def __init__(
        self,
        state: SharedState | None,
        member: Member,
        call: Call,
        deadline: float | None,
        *,
        shared: bool,
    ) -> None:
        self._state = state
        self._member = member
        self._call = call
        self._deadline = deadline
        self._shared = shared
        self._lease: str | None = None
        self._taken = 0
        self._used: int | None = None

    def _key(self, what: str) -> str:
        return f"member:{self._member.name}:{what}"

    async def __aenter__(self) -> MemberSlot:
        state, member = self._state, self._member
        if state is None:
            return self
        if self._shared and member.max_concurrency:
            limit = member.max_concurrency
            self._lease = await self._until(lambda: _lease_wait(state, self._key("slots"), limit))
        try:
            if self._shared and member.rate_limit_per_s:
                calls = max(1, int(member.rate_limit_per_s))
                period = calls / member.rate_limit_per_s
                await self._until(lambda: state.admit(self._key("rate"), calls, period))
            if member.requests_per_minute:
                rpm = member.requests_per_minute
                await self._until(lambda: state.admit(self._key("rpm"), rpm, 60.0))
            if member.tokens_per_minute:
                tpm = float(member.tokens_per_minute)
                amount = estimated_tokens(self._call)
                await self._until(lambda: state.take(self._key("tpm"), tpm, tpm / 60, amount))
                self._taken = amount
        except BaseException:
            await self._give_back()
            raise
        return self

    def used(self, completion: Completion) -> Completion:
        """Note what the call really used (its tokens settle the bucket); returns ``completion``."""
        self._used = completion.usage.total_tokens
        return completion

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._give_back()

    async def _give_back(self) -> None:
        state = self._state
        if state is None:
            return
        if self._lease is not None:
            lease, self._lease = self._lease, None
            state.spawn(state.unlease(self._key("slots"), lease))
        if self._taken and self._member.tokens_per_minute:
            tpm = float(self._member.tokens_per_minute)
            correction = (self._used if self._used is not None else 0) - self._taken
            self._taken = 0
            if correction:
                state.spawn(_settle_tokens(state, self._key("tpm"), tpm, correction))

    async def _until(self, attempt: Any) -> Any:
        """Repeat ``attempt`` (which returns 0 or a wait, or a lease or None) until it passes."""
        loop = asyncio.get_running_loop()
        while True:
            got = await attempt()
            wait = got if isinstance(got, float) else (0.0 if got is not None else _POLL_S)
            if isinstance(got, str) or (isinstance(got, float) and got == 0.0):
                return got
            if self._deadline is not None and loop.time() + wait >= self._deadline:
                raise ProviderTimeout(
                    "request deadline passed while waiting for the member's limits",
                    provider=self._member.provider,
                    model=self._member.model,
                )
            await asyncio.sleep(min(max(wait, 0.001), 1.0))


async def _lease_wait(state: SharedState, key: str, limit: int) -> str | None:
    return await state.lease(key, limit, _LEASE_TTL_S)


async def _settle_tokens(state: SharedState, key: str, tpm: float, correction: int) -> None:
    await state.take(key, tpm, tpm / 60, float(correction), force=True)
