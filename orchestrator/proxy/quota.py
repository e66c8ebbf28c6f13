"""What ``shoal serve`` adds to a request for sovereignty, budgets and limits.

- ``x-shoal-sensitivity: confidential`` (a header) joins the request's sensitivity, as
  ``"shoal": {"sensitivity": ...}`` in the body does; both apply.
- Daily budgets per API key (``[server] key_daily_max_cost_usd``, ``key_daily_max_calls``):
  a key whose day is spent gets 429 before anything is sent; a request's own budgets
  are capped by what the key has left, and every call reserves one call and its
  estimated cost against the key's day before it is sent (atomically, in the shared
  state: a burst of concurrent requests cannot overshoot), settled after it.
- ``[server] key_requests_per_minute``: a sliding window per key in the shared state,
  so the limit holds across every worker and machine (429 with ``Retry-After``).

The key's account travels in the orchestrator's context variable, so the panel
(which runs inside the request's tasks) knows whom to reserve against.
"""

from __future__ import annotations

import contextvars
import datetime as dt

from orchestrator.config import ServerConfig
from orchestrator.errors import BudgetExceeded, LimitExceeded
from orchestrator.key_budgets import Remaining, key_id
from orchestrator.sovereignty.policy import Policy
from orchestrator.state import Account, SharedState, today
from orchestrator.types import Tags

__all__ = ["SENSITIVITY_HEADER", "KeyQuota", "seconds_to_midnight_utc", "with_header_sensitivity"]

SENSITIVITY_HEADER = "x-shoal-sensitivity"


def with_header_sensitivity(tags: Tags, header: str | None, policy: Policy | None = None) -> Tags:
    """The request's tags with the header's sensitivity added to the body's.

    With ``policy``, both are normalised and checked first: a label the policy does not know
    raises :class:`~orchestrator.errors.UnknownSensitivityError` naming where it came from
    (the proxy answers 400 before anything is sent or streamed).
    """
    if policy is None:
        if not header or not header.strip():
            return tags
        levels = [s for s in (tags.sensitivity, header) if s and s.strip()]
        return tags.model_copy(update={"sensitivity": ",".join(levels)})
    if not header and tags.sensitivity is None:  # nothing to check or join
        return tags
    body = policy.labels(tags.sensitivity, where="shoal.sensitivity")
    extra = policy.labels(header, where=f"the {SENSITIVITY_HEADER} header") if header else []
    joined = ",".join(dict.fromkeys(body + extra)) or None
    return tags if joined == tags.sensitivity else tags.model_copy(update={"sensitivity": joined})


def seconds_to_midnight_utc() -> int:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


class KeyQuota:
    """Per-key daily budgets and request rate of one server (kept in the shared state)."""

    def __init__(
        self,
        settings: ServerConfig,
        state: SharedState,
        accounts: contextvars.ContextVar[tuple[Account, ...]],
    ) -> None:
        self.max_cost_usd = settings.key_daily_max_cost_usd
        self.max_calls = settings.key_daily_max_calls
        self.per_minute = settings.key_requests_per_minute
        self.enabled = self.max_cost_usd is not None or self.max_calls is not None
        self._state = state
        self._accounts = accounts
        self._left: contextvars.ContextVar[Remaining | None] = contextvars.ContextVar(
            "shoal_left", default=None
        )

    @property
    def active(self) -> bool:
        """Whether a key has a budget or a rate limit at all (else :meth:`begin` changes nothing)."""
        return self.enabled or self.per_minute is not None

    def account(self, key: str) -> Account:
        return Account(key, "key_daily", "this API key", self.max_calls, self.max_cost_usd)

    async def begin(self, authorization: str | None, tags: Tags) -> Tags:
        """Before a request: :class:`LimitExceeded` or :class:`BudgetExceeded` if the key may not
        send it now, else its tags capped by what the key has left today."""
        if not self.active:
            return tags
        scheme, _, token = (authorization or "").partition(" ")
        key = key_id(token.strip() if scheme.lower() == "bearer" else None)
        if self.per_minute is not None:
            wait = await self._state.admit(f"key:{key}:rpm", self.per_minute, 60.0)
            if wait > 0:
                raise LimitExceeded(
                    f"key_requests_per_minute={self.per_minute} of this API key reached; "
                    f"retry in {wait:.1f} s",
                    limit="key_requests_per_minute",
                    retry_after=wait,
                )
        if not self.enabled:
            return tags
        account = self.account(key)
        left = await self._remaining(account)
        self._accounts.set((account,))
        self._left.set(left)
        update: dict[str, float | int] = {}
        if left.calls is not None and (tags.max_calls is None or left.calls < tags.max_calls):
            update["max_calls"] = left.calls
        if left.cost_usd is not None and (tags.max_cost_usd is None or left.cost_usd < tags.max_cost_usd):
            update["max_cost_usd"] = left.cost_usd
        return tags.model_copy(update=update) if update else tags

    async def _remaining(self, account: Account) -> Remaining:
        cost, calls, held = await self._state.usage(account, today())
        if account.max_calls is not None and calls + held >= account.max_calls:
            raise account.refusal(calls, cost, held)
        if account.max_cost_usd is not None and cost >= account.max_cost_usd:
            raise account.refusal(calls, cost, held)
        return Remaining(
            cost_usd=None if account.max_cost_usd is None else account.max_cost_usd - cost,
            calls=None if account.max_calls is None else account.max_calls - calls - held,
        )

    def explain(self, exc: BudgetExceeded, caller: Tags | None) -> BudgetExceeded:
        """A refusal caused by the key's daily budget (not the caller's own) says so."""
        left = self._left.get()
        if not self.enabled or left is None or exc.budget not in ("max_calls", "max_cost_usd"):
            return exc
        daily = left.calls if exc.budget == "max_calls" else left.cost_usd
        own = getattr(caller, exc.budget, None) if caller is not None else None
        if daily is None or (own is not None and own <= daily):
            return exc
        limit = self.max_calls if exc.budget == "max_calls" else self.max_cost_usd
        shown = f"{daily}" if exc.budget == "max_calls" else f"{daily:.6f} USD"
        return BudgetExceeded(
            f"daily budget key_daily_{exc.budget}={limit} of this API key would be exceeded ({shown} left "
            f"today; it renews at 00:00 UTC): {exc}",
            budget=f"key_daily_{exc.budget}",
        )
